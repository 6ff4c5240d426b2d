"""The machine a run trains on: the facts that decide whether the same command gives the same model.

Training here reproduces bit for bit for one config and seed on one machine (``train.deterministic``); across
machines it may not: the CPU's instruction set picks oneDNN's kernels, and one command gave another model on an
AVX-512 AMD EPYC than on an AVX2 one (docs/RESULTS.md section 32) while another reproduced to the last digit
(section 33). Accelerators and library versions can matter the same way. ``hecl train`` keeps these facts in the
run folder's ``machine.json``, one entry per session, and says so when a run resumes on a machine that differs,
so a figure can be traced to the hardware that made it.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
from pathlib import Path

from hecl_keras.config import dict_differences

# Instruction-set extensions that change which kernels run (x86: oneDNN's avx2 / avx512_core / amx paths; Arm:
# NEON and SVE). Only these are kept: the full flag list differs between hypervisors for no numerical reason.
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "asimd", "sve")

# Environment variables that change TensorFlow's kernels or their order.
KERNEL_ENVIRONMENT = ("TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "XLA_FLAGS", "OMP_NUM_THREADS")


def cpu_facts(cpuinfo: str | None = None) -> dict:
    """The CPU: ``{"model": str or None, "architecture": str, "features": [names of CPU_FEATURES present],
    "logical_cores": int or None}``.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo``; None reads it where it exists (Linux). Elsewhere the model is
            ``platform.processor()`` and ``features`` is empty.
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    model, flags = None, set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and model is None:
            model = value.strip() or None
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return {"model": model or platform.processor() or None, "architecture": platform.machine(),
            "features": [f for f in CPU_FEATURES if f in flags], "logical_cores": os.cpu_count()}


def accelerators() -> list:
    """Names of the accelerators the Keras backend sees (e.g. ``["NVIDIA H200"]``); ``[]`` on a CPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [tf.config.experimental.get_device_details(d).get("device_name", d.name)
                    for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as error:  # a broken driver must not stop training; the record says what happened
        return [f"unknown ({type(error).__name__}: {error})"]
    return []


def software() -> dict:
    """Versions of what computes: Python, NumPy, Keras, its backend, OpenCV (the working images)."""
    import keras
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__,
                "backend": keras.backend.backend()}
    if versions["backend"] in ("tensorflow", "jax", "torch"):  # the backend's module has its name
        versions[versions["backend"]] = getattr(importlib.import_module(versions["backend"]), "__version__", None)
    try:
        import cv2

        versions["opencv"] = cv2.__version__
    except ImportError:
        versions["opencv"] = None
    return versions


def machine_facts() -> dict:
    """``{"cpu": cpu_facts(), "accelerators": [...], "software": {...}, "environment": {...}}``."""
    return {"cpu": cpu_facts(), "accelerators": accelerators(), "software": software(),
            "environment": {name: os.environ.get(name) for name in KERNEL_ENVIRONMENT}}


def record_machine(run_dir, facts: dict | None = None, new_run=False) -> list:
    """Appends this session's machine to ``run_dir/machine.json`` (``{"sessions": [facts, ...]}``).

    Args:
        run_dir: the run folder.
        facts: :func:`machine_facts` (None: measured now).
        new_run: start the list again (a run that starts from epoch 0).

    Returns:
        where the run's first session and this one differ (``["cpu.features: [...] -> [...]", ...]``; ``[]`` for
        a new run or the same kind of machine).
    """
    facts = machine_facts() if facts is None else facts
    path = Path(run_dir) / "machine.json"
    sessions = json.loads(path.read_text())["sessions"] if path.is_file() and not new_run else []
    sessions.append(facts)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"sessions": sessions}, indent=2))
    tmp.replace(path)
    return dict_differences(sessions[0], facts)
