"""A minimal progress line on stderr for long loops (no extra dependency)."""

import sys
import time


class Progress:
    """Prints ``label [done/total] eta`` on one refreshed stderr line.

    Args:
        total: int. Number of steps.
        label: str.
        stream: file. Defaults to ``sys.stderr``.
    """

    def __init__(self, total, label="", stream=None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()

    def __call__(self, done, total=None, item=""):
        total = total or self.total
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{done}/{total}] {item} {elapsed:.0f}s elapsed, ~{eta:.0f}s left   {end}")
        self.stream.flush()
