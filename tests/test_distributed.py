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
    # One SGD step: 2 replicas x 3 (gathered sets, synchronized BatchNorm) == 1 replica x 6, i.e. every
    # term is scaled like Keras' own losses (per-replica loss / replicas, gradients summed).
    diff, moved = [float(v) for v in next(line for line in proc.stdout.splitlines()
                                          if line.startswith("STEP_MAX_DIFF")).split()[1:]]
    assert moved > 0.01 and diff < 1e-5
    logs = next(line for line in proc.stdout.splitlines() if line.startswith("STEP_LOGS")).split()[1:]
    for item in logs:
        two, one = (float(v) for v in item.split("=")[1].split("/"))
        assert two == pytest.approx(one, rel=1e-5), item


def test_two_multi_worker_processes_end_with_identical_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
               "HECL_CACHE_DIR": str(tmp_path / "cache")}
        procs.append(subprocess.Popen(
            [sys.executable, "tests/scripts/multi_worker.py", str(tmp_path / "run"), str(tmp_path / f"w{index}.npz")],
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
    # One shared --run-dir: the chief (worker 0) owns it, worker 1 writes beside it.
    assert f"RUN_DIR {tmp_path / 'run'}\n" in outputs[0][1]
    assert f"RUN_DIR {tmp_path / 'run' / 'worker1'}\n" in outputs[1][1]
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(w0.files) == len(w1.files) > 10
    for key in w0.files:  # trainable weights, optimizer-free; BatchNorm moving statistics included
        np.testing.assert_array_equal(w0[key], w1[key])
    moving = [w0[k] for k in w0.files if w0[k].ndim == 1]
    assert any(np.abs(m).max() > 0 for m in moving[2::4])  # moving means left their zero init: it trained
