"""Errors from workers and user input become one-line notifications, never tracebacks."""
from __future__ import annotations

from textual.dom import DOMNode


def error_line(error: BaseException) -> str:
    """The message of an RnnplayError (it says what to do); the type and message of anything else."""
    from engine.errors import RnnplayError

    if isinstance(error, RnnplayError):
        return str(error)
    return f"{error.__class__.__name__}: {error}"


def notify_error(node: DOMNode, error: BaseException, title: str = "") -> str:
    line = error_line(error)
    node.app.notify(line, title=title, severity="error", timeout=8)
    return line
