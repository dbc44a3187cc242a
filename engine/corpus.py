"""Corpus sources: the built-in texts and the user's own files, read safely.

A *source* is a built-in name (``timemachine``, ``python-docs``) or a path to
a text file.  :func:`read_source` returns the raw text; :func:`preprocess`
turns it into lines the way the book does (``book`` mode) or keeps it as it is
(``raw`` mode).
"""
from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import CorpusError
from .paths import data_dir

TIMEMACHINE = "timemachine"
PYTHON_DOCS = "python-docs"
BUILTINS = (TIMEMACHINE, PYTHON_DOCS)

# The book's data hub (d2l.DATA_URL + 'timemachine.txt') and its checksum.
TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MODES = ("book", "raw")
_NON_LETTERS = re.compile("[^A-Za-z]+")


@dataclass(frozen=True)
class CorpusText:
    """A source's name, its text, and a notice for the user (or ``""``)."""

    name: str
    text: str
    notice: str = ""


# ---------------------------------------------------------------- sources ----

def timemachine_path() -> Path:
    return data_dir() / "timemachine.txt"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def timemachine_cached() -> bool:
    """True when a verified copy of *The Time Machine* is in the data directory."""
    path = timemachine_path()
    try:
        return path.is_file() and _sha1(path.read_bytes()) == TIMEMACHINE_SHA1
    except OSError:
        return False


def download_timemachine(url: str = TIMEMACHINE_URL, timeout: float = 10.0) -> Path:
    """Download, verify and cache *The Time Machine*; nothing is cached on failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except Exception as exc:  # any network failure is one line for the user
        raise CorpusError(
            f"could not download timemachine from {url} ({exc.__class__.__name__}: {exc}); "
            f"check the network, or use --corpus python-docs or a text file"
        ) from None
    if _sha1(data) != TIMEMACHINE_SHA1:
        raise CorpusError(
            f"the download from {url} does not match SHA-1 {TIMEMACHINE_SHA1}; nothing was cached"
        )
    target = timemachine_path()
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".timemachine.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:  # a half-written file must not linger in the cache
            Path(tmp).unlink(missing_ok=True)
        raise CorpusError(f"could not cache timemachine in {target.parent}: {exc.strerror}") from None
    return target


def python_docs_text() -> str:
    """The Python reference documentation that ships with CPython (offline)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def read_text_file(path: str | os.PathLike, *, encoding: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a user's text file, refusing what cannot be a text corpus.

    UTF-8 by default (a BOM is dropped); a UTF-16 file with a BOM is decoded
    as UTF-16; ``encoding`` names any other codec.  Refused: missing files,
    folders, files over ``max_bytes`` (checked before reading), empty files,
    binary files (NUL bytes) and undecodable bytes (with their offset).
    """
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"{p}: no such file; give a text file or one of: {', '.join(BUILTINS)}")
    if not p.is_file():
        raise CorpusError(f"{p}: not a regular file; give a text file")
    size = p.stat().st_size
    if size > max_bytes:
        raise CorpusError(
            f"{p}: {size:,} bytes is over the {max_bytes:,}-byte cap; use a smaller file "
            f"or raise the cap (--max-bytes)"
        )
    if size == 0:
        raise CorpusError(f"{p}: the file is empty; give a file with some text")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{p}: cannot read ({exc.strerror})") from None
    if encoding is None and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    if encoding is None:
        offset = 0
        if data.startswith(codecs.BOM_UTF8):
            offset = len(codecs.BOM_UTF8)
        if b"\x00" in data:
            raise CorpusError(f"{p}: looks binary (NUL bytes); give a text file")
        try:
            text = data[offset:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"{p}: not valid UTF-8 (first bad byte at offset {offset + exc.start}); "
                f"pass --encoding (e.g. latin-1) if it is another encoding"
            ) from None
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CorpusError(f"unknown encoding {encoding!r}; use a Python codec name such as latin-1") from None
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise CorpusError(
                f"{p}: not valid {encoding} (first bad byte at offset {exc.start}); pass the right --encoding"
            ) from None
        except (UnicodeError, LookupError, ValueError, TypeError) as exc:  # rot13, hex, zlib, punycode...
            reason = (str(exc).splitlines() or [exc.__class__.__name__])[0]
            raise CorpusError(f"{p}: cannot decode it as {encoding} ({reason}); pass a text encoding "
                              f"such as utf-8 or latin-1") from None
        text = text.lstrip("\ufeff")
        if "\x00" in text:
            raise CorpusError(f"{p}: looks binary (NUL characters); give a text file")
    if not text.strip():
        raise CorpusError(f"{p}: the file holds only white space; give a file with some text")
    return text


def default_source() -> CorpusText:
    """``timemachine`` when cached or downloadable, else ``python-docs`` with a notice."""
    try:
        return read_source(TIMEMACHINE)
    except CorpusError as exc:
        return CorpusText(PYTHON_DOCS, python_docs_text(),
                          notice=f"timemachine is unavailable ({exc}); using the offline python-docs corpus")


def read_source(source: str, *, encoding: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES, download: bool = True) -> CorpusText:
    """The raw text of a built-in name or a file path."""
    if source == TIMEMACHINE:
        if not timemachine_cached():
            if not download:
                raise CorpusError("timemachine is not cached and downloading is off")
            download_timemachine()
        return CorpusText(TIMEMACHINE, timemachine_path().read_text(encoding="utf-8"))
    if source == PYTHON_DOCS:
        return CorpusText(PYTHON_DOCS, python_docs_text())
    if not source:
        raise CorpusError(f"no corpus given; use one of: {', '.join(BUILTINS)}, or a text file path")
    return CorpusText(str(source), read_text_file(source, encoding=encoding, max_bytes=max_bytes))


def corpus_name(text: CorpusText) -> str:
    """What a checkpoint records to find the text again: a built-in name or an absolute path
    (so that ``--resume`` finds a file from anywhere)."""
    return text.name if text.name in BUILTINS else str(Path(text.name).resolve())


# ---------------------------------------------------------- preprocessing ----

def preprocess(text: str, mode: str = "book") -> list[str]:
    """Lines ready for :func:`engine.vocab.tokenize`.

    ``book``: every run of non-letters becomes one space, lines are stripped
    and lowercased, and (unlike the book) the non-empty lines are joined with
    one space, so words never fuse across line ends.  ``raw``: case and
    punctuation kept, newlines become spaces.  Either way one line comes back.
    """
    if mode == "book":
        lines = (_NON_LETTERS.sub(" ", line).strip().lower() for line in text.splitlines())
        return [" ".join(line for line in lines if line)]
    if mode == "raw":
        return [text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ")]
    raise CorpusError(f"unknown preprocessing mode {mode!r}; use one of: {', '.join(MODES)}")
