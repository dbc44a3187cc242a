"""Files written atomically: a temporary file in the same folder, fsync, rename.

A crash mid-write leaves the previous file intact; the temporary file it leaves behind (named
with the writer's process id) is removed by the next write of that path once that process is
gone.  Checkpoints, token files and the cached *The Time Machine* are written this way.
"""
from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

_TEMP_RANDOM = 8  # characters tempfile adds to a temporary name


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def temporary_name_bytes(path) -> int:
    """How long, in bytes, the name of the temporary file a write of ``path`` uses is."""
    return len(os.fsencode(_temporary_prefix(Path(path)))) + _TEMP_RANDOM + len(".tmp")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive, and not ours to judge
        return True
    return True


def remove_stale_temporaries(path) -> list[Path]:
    """Delete the temporary files that writes of ``path`` left behind when their process died
    (SIGKILL, power loss).  Files of live processes, and anything not named like ours, stay."""
    path = Path(path)
    ours = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[a-z0-9_]{8}\.tmp")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = ours.fullmatch(entry.name)
        if match and not _process_alive(int(match.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass  # cleaning up is a courtesy; the write itself decides success
    return removed


@contextmanager
def atomic_write(path):
    """A binary file to write ``path`` through: it replaces ``path`` only when the block ends
    without an error, and is then on disk (the file and the rename fsynced).  OSError passes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
