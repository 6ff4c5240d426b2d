"""tf.distribute: gathered contrastive sets across replicas, and two multi-worker processes on 127.0.0.1."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
REPO = Path(__file__).resolve().parents[1]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_gathered_two_replicas_of_3_equal_one_of_6():
    proc = subprocess.run([sys.executable, "tests/scripts/gather_check.py"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in proc.stdout.splitlines()
             if line[:3] in ("PD ", "DE ")}
    for name in ("PD", "DE"):
        replica0, replica1, single = lines[name]
        assert single > 0
        assert replica0 == pytest.approx(single, rel=1e-5) and replica1 == pytest.approx(single, rel=1e-5)
    fits = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("FIT ")]
    assert len(fits) == 2  # model.fit under MirroredStrategy, without and with gathering
    for values in fits:
        assert all(np.isfinite(float(v)) for v in values[1:]) and float(values[1]) > 0


def test_multi_worker_is_refused_with_the_reason():
    from hecl_keras.training.trainer import make_strategy

    with pytest.raises(ValueError, match="keras-team/keras#20585"):
        make_strategy("multi_worker")


@pytest.mark.skipif(os.environ.get("HECL_TRY_MULTI_WORKER") != "1",
                    reason="Keras 3 fit under MultiWorkerMirroredStrategy is broken upstream (keras-team/keras#20585); "
                           "set HECL_TRY_MULTI_WORKER=1 to run")
def test_two_multi_worker_processes_end_with_identical_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "HECL_TRY_MULTI_WORKER": "1", "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "HECL_CACHE_DIR": str(tmp_path / "cache")}
        procs.append(subprocess.Popen(
            [sys.executable, "tests/scripts/multi_worker.py", str(tmp_path / f"run{index}"), str(tmp_path / f"w{index}.npz")],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outputs.append((p.returncode, out, err))
    for code, out, err in outputs:
        assert code == 0, err[-3000:]
        assert "STEPS 1" in out
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 10
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
