"""The machine record of a run folder (hecl_keras.machine): what decides bit-for-bit reproducibility."""

import json

from hecl_keras.config import dict_differences
from hecl_keras.machine import CPU_FEATURES, cpu_facts, machine_facts, record_machine

AVX2_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2 sha_ni
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx avx2 bmi2 sha_ni
"""
AVX512_EPYC = AVX2_EPYC.replace("avx2 bmi2", "avx2 bmi2 avx512f avx512dq avx512_vnni avx512_bf16")
GRAVITON = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid sve
CPU implementer\t: 0x41
"""


def test_cpu_facts_keep_the_instruction_sets_that_pick_kernels():
    assert cpu_facts(AVX2_EPYC)["model"] == "AMD EPYC 7B13"
    assert cpu_facts(AVX2_EPYC)["features"] == ["avx2", "fma"]
    assert cpu_facts(AVX512_EPYC)["features"] == ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"]
    assert cpu_facts(GRAVITON)["features"] == ["asimd", "sve"]
    assert dict_differences(cpu_facts(AVX2_EPYC), cpu_facts(AVX512_EPYC)) == [
        "features: ['avx2', 'fma'] -> ['avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16']"]
    unknown = cpu_facts("")
    assert unknown["features"] == [] and unknown["logical_cores"] >= 1
    assert set(cpu_facts()["features"]) <= set(CPU_FEATURES)


def test_machine_facts_name_the_backend_and_its_version():
    import keras

    facts = machine_facts()
    assert facts["software"]["keras"] == keras.__version__
    backend = facts["software"]["backend"]
    assert backend == keras.backend.backend() and facts["software"][backend]
    assert isinstance(facts["accelerators"], list)
    json.dumps(facts)  # the record is plain JSON


def test_record_machine_keeps_every_session_and_names_what_changed(tmp_path):
    first = {"cpu": cpu_facts(AVX2_EPYC), "accelerators": [], "software": {"keras": "3.15.1"}}
    other = {**first, "cpu": cpu_facts(AVX512_EPYC)}
    assert record_machine(tmp_path, first, new_run=True) == []
    assert record_machine(tmp_path, first) == []
    changed = record_machine(tmp_path, other)
    assert len(changed) == 1 and changed[0].startswith("cpu.features: ['avx2', 'fma'] -> ")
    assert json.loads((tmp_path / "machine.json").read_text())["sessions"] == [first, first, other]
    assert record_machine(tmp_path, other, new_run=True) == []  # a run started again: a new list
    assert len(json.loads((tmp_path / "machine.json").read_text())["sessions"]) == 1
