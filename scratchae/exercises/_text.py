"""Text that came from a submission, made safe to show: to a terminal, a CSV, results.json.

Everything a submission can put in front of a teacher or a learner (what it printed, an
exception's message, a class's repr) passes through `clean` first: ANSI escape sequences and
other control characters are removed (a printed `\\x1b[2J` must not clear the teacher's
terminal, nor a `\\r` hide a line of the table), and the text is cut to a length.
"""
from __future__ import annotations

import re

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), and any other two-byte ESC sequence
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]")
# every other C0 and C1 control character but tab and newline (CR included: it overwrites lines)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object, limit: int | None = None) -> str:
    """`text` as a str with ANSI escapes and control characters (but tab and newline) removed,
    cut to `limit` characters (with '...' at the end when cut)."""
    s = text if isinstance(text, str) else str(text)
    s = _CONTROL.sub("", _ANSI.sub("", s))
    if limit is not None and len(s) > limit:
        s = s[:max(0, limit - 3)] + "..."
    return s
