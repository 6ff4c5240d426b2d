"""A minimal progress indicator on stderr for long loops (no extra dependency)."""

import sys
import time


class Progress:
    """``label [done/total] item  Ns elapsed, ~Ns left``.

    On a terminal the line refreshes in place; otherwise (logs, CI) a line is
    printed every 10 % so log files stay readable.

    Args:
        total: int. Number of steps (may be given per call instead).
        label: str.
        stream: file. Defaults to ``sys.stderr``.
    """

    def __init__(self, total=0, label="", stream=None):
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_decile = -1

    def __call__(self, done, total=None, item=""):
        total = total or self.total or done
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done) if done else 0.0
        text = f"{self.label} [{done}/{total}] {item} {elapsed:.0f}s elapsed, ~{eta:.0f}s left"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else "   "))
        else:
            decile = int(10 * done / total)
            if decile == self.last_decile and done < total:
                return
            self.last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()
