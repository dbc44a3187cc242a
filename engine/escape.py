"""Text from files (a corpus, a checkpoint's vocabulary, a path) made safe to show on a terminal,
and JSON that any parser reads.

A raw-mode corpus or a hostile checkpoint can hold control characters and escape sequences
(ESC [ 2 J clears the screen; C1's CSI does the same in some terminals; bidirectional overrides
reorder what is shown).  :func:`printable` shows them instead of sending them: C0 controls and
DEL as Unicode's control pictures (␛ for ESC, ␉ for a tab), C1 controls and the bidirectional
controls as ``\\x9b`` / ``\\u202e`` escapes.
"""
from __future__ import annotations

import json
import math

_C0 = {code: chr(0x2400 + code) for code in range(0x20)} | {0x7F: "\u2421"}  # ␀ .. ␟, ␡
_C1 = range(0x80, 0xA0)
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_DISPLAY = str.maketrans(_C0 | {code: f"\\x{code:02x}" for code in _C1} | {code: f"\\u{code:04x}" for code in _BIDI})
# json.dumps escapes C0 itself; these it would write as they are
_JSON = str.maketrans({code: f"\\u{code:04x}" for code in (0x7F, *_C1, *_BIDI)})


def printable(text: str) -> str:
    """``text`` with every control character shown rather than sent to the terminal."""
    return text.translate(_DISPLAY)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_line(value) -> str:
    """One line of strict JSON: a NaN or infinite float becomes null (bare NaN is not JSON), and
    characters a terminal would act on are written as ``\\u`` escapes (the data is unchanged)."""
    return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False).translate(_JSON)
