"""Measurements in a new Python process: the one runner behind the benchmarks that need one.

A fresh process has no state from earlier measurements (allocators, compiled functions,
environment variables read once at start-up) and can run under another Keras backend.
Each value travels back as a ``RESULT`` line of JSON on standard output.
"""

import json
import os
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the working directory: ``benchmarks`` importable


def run_in_fresh_process(setup, expressions, env=None, timeout=3600.0, on_result=None):
    """Evaluates ``expressions`` one after another in a new Python process.

    Args:
        setup: Python source run first (imports), e.g. ``"from benchmarks.x import measure"``.
        expressions: Python expressions whose values are JSON-serialisable.
        env: variables added to this process's environment.
        timeout: seconds after which the process is killed (values that arrived are kept).
        on_result: optional ``(index, value)`` callback, called as each value arrives.

    Returns:
        ``(values, output)``: the values that arrived, in order, and the last 40 lines of the
        process's other output (standard output and error together), for error messages.
    """
    code = f"import json\n{setup}\n" + "".join(f"print('RESULT' + json.dumps({e}), flush=True)\n" for e in expressions)
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=REPO)
    timer = threading.Timer(max(timeout, 0.0), proc.kill)
    timer.start()
    values, tail = [], deque(maxlen=40)
    try:
        for line in proc.stdout:
            if line.startswith("RESULT"):
                values.append(json.loads(line[6:]))
                if on_result is not None:
                    on_result(len(values) - 1, values[-1])
            else:
                tail.append(line)
        proc.wait()
    finally:
        timer.cancel()
    return values, "".join(tail)
