"""Errors from workers and user input become one-line notifications, never tracebacks."""
from __future__ import annotations

from textual.dom import DOMNode

MAX_LINE = 200  # characters: a 100 kB path or a many-line torch message must not flood the pane


def error_line(error: BaseException) -> str:
    """The message of an RnnplayError (it says what to do); the type and message of anything else.

    Only its first line, cut to MAX_LINE.  It may hold brackets (a path, a torch message): show it
    with markup off, or a stray ``[/x]`` crashes the renderer."""
    from engine.errors import RnnplayError
    from engine.escape import printable

    message = printable(str(error).strip().split("\n", 1)[0])
    name = error.__class__.__name__
    line = message if isinstance(error, RnnplayError) else f"{name}: {message}" if message else name
    return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


def notify_error(node: DOMNode, error: BaseException, title: str = "") -> str:
    line = error_line(error)
    node.app.notify(line, title=title, severity="error", timeout=8, markup=False)
    return line
