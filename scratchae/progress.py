"""The training progress display, in Keras's style.

On a terminal (verbose=1) one line is redrawn in place, at most ten times a second:

    Epoch 1/3
    19200/60000 [=========>....................] - elapsed 1s - ETA 2s - loss: 0.1802

and finished as

    60000/60000 [==============================] - 3s 52us/sample - loss: 0.1416

When the output is not a terminal (a log file, a notebook capture, CI), or with verbose=2,
only the finished line of each epoch is written. verbose=0 writes nothing.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30


def _format_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f}s"
    m, s = divmod(int(s), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


class ProgressBar:
    """One epoch's progress line. `update(done, loss)` after each batch, `finish(...)` at the end."""

    def __init__(self, total: int, verbose: int = 1, stream: TextIO | None = None,
                 interval: float = 0.1) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.live = verbose == 1 and bool(isatty())
        self.enabled = verbose in (1, 2)
        self.interval = interval
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._width = 0

    def _bar(self, done: int) -> str:
        digits = len(str(self.total))
        filled = int(BAR_WIDTH * done / self.total) if self.total else BAR_WIDTH
        if done < self.total:
            bar = "=" * max(filled - 1, 0) + ">" + "." * (BAR_WIDTH - filled)
        else:
            bar = "=" * BAR_WIDTH
        return f"{done:>{digits}}/{self.total} [{bar}]"

    def update(self, done: int, loss: float) -> None:
        """Redraw the live line (terminal only, throttled)."""
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval and done < self.total:
            return
        self._last_draw = now
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else 0.0
        self._write(f"{self._bar(done)} - elapsed {_format_seconds(elapsed)} - "
                    f"ETA {_format_seconds(eta)} - loss: {loss:.4f}")

    def finish(self, done: int, logs: dict[str, float]) -> str:
        """Write the epoch's final line (and return it)."""
        elapsed = time.perf_counter() - self.start
        per = elapsed / max(done, 1)
        per_text = f"{per * 1e6:.0f}us/sample" if per < 1e-3 else f"{per * 1e3:.0f}ms/sample"
        metrics = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        line = f"{self._bar(done)} - {_format_seconds(elapsed)} {per_text} - {metrics}"
        if self.enabled:
            self._write(line, end="\n")
        return line

    def _write(self, text: str, end: str = "") -> None:
        if self.live:
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad + end)
            self._width = 0 if end else len(text)
        else:
            self.stream.write(text + end)
        self.stream.flush()
