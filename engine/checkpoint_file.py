"""The checkpoint file itself: safetensors bytes, written atomically, read back only from a regular
file under a size cap, and the checks on where a save may go.

The safetensors format (https://github.com/huggingface/safetensors) is an 8-byte little-endian
header length, a JSON header naming each tensor's dtype, shape and byte range (plus string
metadata, here the run's JSON), then the tensors' bytes.  It is written here rather than with
``safetensors.torch.save``, which goes through numpy: rnnplay needs only torch.  Reading goes
through safetensors' own parser, which checks every offset.

Writes are atomic (engine/atomic.py): a temporary file in the same folder, fsync, rename; a crash
mid-save leaves the previous checkpoint intact, and the temporary file it leaves behind is removed by
the next save once its process is gone.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import safetensors
import safetensors.torch
import torch

from .atomic import atomic_write, temporary_name_bytes
from .errors import CheckpointError
from .tensor_bytes import tensor_bytes

FORMAT = "rnnplay-checkpoint"
VERSION = 1
META_KEY = "rnnplay"
# No model rnnplay agrees to train has a checkpoint this large (engine.memory refuses it), so a
# larger file is not one of ours; reading it whole could exhaust the memory.
MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3
# An rnnplay header holds at most a 30,000-entry vocabulary (about a megabyte of JSON): checking
# whether a file is a checkpoint reads no more than this of it.
MAX_HEADER_BYTES = 16 * 1024 ** 2
DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}
_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


# ---------------------------------------------------------------- format ----

def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """``tensors`` (of the dtypes in DTYPES) and string ``metadata`` as a safetensors file."""
    header: dict = {"__metadata__": metadata} if metadata else {}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        data = tensor_bytes(tensor, little_endian=True)  # the format is little-endian
        header[name] = {"dtype": DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the tensors start 8-byte aligned, as safetensors writes them
    return b"".join([len(text).to_bytes(8, "little"), text, *chunks])


def _our_meta(header: bytes) -> dict | None:
    """The run's JSON from a safetensors header, of any version; None when the file is not ours."""
    try:
        meta = json.loads(json.loads(header)["__metadata__"][META_KEY])
    except (ValueError, KeyError, TypeError):  # bad JSON or UTF-8, missing keys, wrong types
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def _meta(header: bytes, path) -> dict:
    """The run's JSON, of this version; a CheckpointError otherwise."""
    meta = _our_meta(header)
    if meta is None:
        raise CheckpointError(f"{path}: not an rnnplay checkpoint, or corrupt or truncated")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta.get('version')!r}, "
                              f"this rnnplay reads version {VERSION}; retrain or use a matching rnnplay")
    return meta


def _header(data: bytes, path) -> bytes:
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 or size > len(data) - 8:
        raise CheckpointError(f"{path}: not an rnnplay checkpoint, or corrupt or truncated")
    return data[8:8 + size]


# ------------------------------------------------------------------ read ----

def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def _regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path}: a {_kind(mode)}, not a checkpoint file; give a .safetensors file")


def _open_regular(path: Path, limit: int):
    """An open binary file for ``path`` when it is a regular file of at most ``limit`` bytes.
    FIFOs, devices, sockets and folders are refused without reading (a FIFO is opened
    non-blocking, so that it cannot hang the caller; the kind is checked again on the open file)."""
    try:
        _regular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        _regular(path, info.st_mode)
        if info.st_size > limit:
            raise CheckpointError(f"{path}: {info.st_size:,} bytes is over the {limit:,}-byte cap for "
                                  f"checkpoints; it is not a checkpoint rnnplay wrote")
    except CheckpointError:
        os.close(fd)
        raise
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_checkpoint(path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)`` of a checkpoint; anything else is a one-line CheckpointError."""
    path = Path(path)
    try:
        with _open_regular(path, MAX_CHECKPOINT_BYTES) as fh:
            data = fh.read(MAX_CHECKPOINT_BYTES + 1)  # the file may have grown since it was checked
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror or exc})") from None
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: over the {MAX_CHECKPOINT_BYTES:,}-byte cap for checkpoints; "
                              f"it is not a checkpoint rnnplay wrote")
    meta = _meta(_header(data, path), path)
    try:
        tensors = safetensors.torch.load(data)
    except (safetensors.SafetensorError, ValueError, KeyError, TypeError, RuntimeError):
        # bad offsets or dtypes (the parser), shapes that do not fit their bytes (torch)
        raise CheckpointError(f"{path}: not an rnnplay checkpoint, or corrupt or truncated") from None
    return tensors, meta


def is_checkpoint(path) -> bool:
    """Whether ``path`` holds an rnnplay checkpoint (of any version): only its header is read."""
    try:
        with _open_regular(Path(path), MAX_CHECKPOINT_BYTES) as fh:
            size = int.from_bytes(fh.read(8), "little")
            if size > MAX_HEADER_BYTES:
                return False
            header = fh.read(size)
    except (CheckpointError, OSError):
        return False
    return _our_meta(header) is not None


def newest_checkpoint(folder: Path) -> Path | None:
    """The most recently written ``*.safetensors`` regular file in ``folder`` (dangling symlinks
    and anything not a regular file are passed over), or None."""
    found = []
    for path in folder.glob("*.safetensors"):
        try:
            info = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((info.st_mtime, path))
    return max(found)[1] if found else None


# ----------------------------------------------------------------- write ----

def write_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Atomically write ``tensors`` and the JSON-able ``meta`` to ``path``."""
    path = Path(path)
    header = {META_KEY: json.dumps({"format": FORMAT, "version": VERSION, **meta})}
    try:
        data = safetensors_bytes(tensors, header)
        with atomic_write(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc.strerror or exc}); free some space "
                              f"or save elsewhere (--save)") from None
    return path


def check_save_target(path, *, corpus: str = "", resumed=None) -> str:
    """Refuse, before any training, a save path that cannot or must not be written: a folder,
    FIFO, device or other special file; the training text (``corpus``); an existing file that is
    not an rnnplay checkpoint; a folder that cannot be written; a name too long for the temporary
    file next to it.  Returns a notice when an existing checkpoint (other than the ``resumed``
    one) will be replaced, else ``""``."""
    path = Path(os.path.abspath(path))
    try:
        info = os.stat(path)
    except FileNotFoundError:  # a new name (or a dangling symlink, which the save replaces)
        info = None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot save there ({exc.strerror or exc}); choose another --save path") \
            from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise CheckpointError(f"{path}: a folder; give a file name in it, e.g. {path / 'run.safetensors'}")
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: a {_kind(info.st_mode)}, not a file; save the checkpoint to a "
                                  f"regular file (--save)")
        if corpus and os.path.exists(corpus) and os.path.samefile(path, corpus):
            raise CheckpointError(f"{path}: this is the training text; save the checkpoint under another name")
        if not is_checkpoint(path):
            raise CheckpointError(f"{path}: exists and is not an rnnplay checkpoint; save under another name "
                                  f"(the file is left alone)")
    folder = path.parent  # (a file on the way there failed os.stat above: "Not a directory")
    while not folder.exists() and folder != folder.parent:  # write_checkpoint creates the missing ones
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CheckpointError(f"{folder}: cannot write in this folder; choose another --save path")
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    temporary = temporary_name_bytes(path)
    if temporary > name_max:
        raise CheckpointError(f"{path.name[:40]}...: the file name is too long ({len(os.fsencode(path.name))} bytes; "
                              f"the save needs {temporary - len(os.fsencode(path.name))} more for its temporary "
                              f"file and this folder allows {name_max}); choose a shorter name")
    if info is not None and not (resumed and os.path.samefile(path, resumed)):
        return f"{path} exists: this run's checkpoint will replace it"
    return ""
