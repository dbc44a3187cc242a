"""Where the app saves: the checks ``rnnplay train --save`` makes before training
(engine.checkpoint_file.check_save_target), for the Save dialog's answer and for Save and quit.

The engine module loads torch, so it is imported when a save is asked for, not with the app.
"""
from __future__ import annotations

from engine.errors import CheckpointError
from tui.notify import error_line, notify_error
from tui.screens.dialogs import replace_dialog


def save_after_checks(pane, path: str) -> None:
    """Save the Training ``pane``'s run to ``path``: a target that must not be written is an error
    notice, and replacing a checkpoint is asked first."""
    from engine.checkpoint_file import check_save_target

    try:
        replacing = check_save_target(path, corpus=pane.info.corpus_name)
    except CheckpointError as exc:
        notify_error(pane, exc, "save")
        return
    if replacing:
        pane.app.push_screen(replace_dialog(replacing), lambda choice: choice and pane.save(path))
    else:
        pane.save(path)


def save_note(corpus_name: str, path: str) -> str:
    """What saving the run on ``corpus_name`` to ``path`` will do, for the quit question."""
    from engine.checkpoint_file import check_save_target

    try:
        return check_save_target(path, corpus=corpus_name) or f"Saving writes {path}."
    except CheckpointError as exc:
        return f"Saving there fails: {error_line(exc)}"
