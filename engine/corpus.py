"""Corpus sources: the built-in texts and the user's own files, read safely.

A *source* is a built-in name (``timemachine``, ``python-docs``) or a path to
a text file.  :func:`open_source` finds and checks one without reading it, and its
:meth:`Source.chunks` decode it a piece at a time; :func:`read_source` returns the whole
raw text.  :func:`preprocess` turns it into lines the way the book does (``book`` mode)
or keeps it as it is (``raw`` mode); :func:`preprocess_stream` does the same a piece at a
time, for texts too large to hold.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import itertools
import os
import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write
from .errors import CorpusError
from .paths import data_dir

TIMEMACHINE = "timemachine"
PYTHON_DOCS = "python-docs"
BUILTINS = (TIMEMACHINE, PYTHON_DOCS)

# The book's data hub (d2l.DATA_URL + 'timemachine.txt') and its checksum.
TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA1 = "090b5e7e70c295757f55df93cb0a180b9691891a"

# The cap for a text read whole into memory (read_source).
DEFAULT_MAX_BYTES = 64 * 1024 ** 2
# The cap for a text streamed into a token file (engine.tokenfile): it guards against a wrong file
# (a disk image, a database dump), not against memory.
PREPARED_MAX_BYTES = 4 * 1024 ** 3
# A streamed source is read and decoded this many bytes at a time (small enough that a worker
# thread counting a chunk does not hold the GIL for long).
CHUNK_BYTES = 256 * 1024
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
    try:
        with atomic_write(target) as fh:  # a half-written file never lingers in the cache
            fh.write(data)
    except OSError as exc:
        raise CorpusError(f"could not cache timemachine in {target.parent}: {exc.strerror or exc}") from None
    return target


def python_docs_text() -> str:
    """The Python reference documentation that ships with CPython (offline)."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def _check_file(p: Path, max_bytes: int) -> None:
    """Refuse, before reading, what cannot be a text corpus: missing files, folders, files over
    ``max_bytes`` and empty files."""
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


@dataclass(frozen=True)
class Source:
    """A corpus source found and checked, not yet read: a file (a user's, or the cached
    *The Time Machine*) or, with ``path`` None, python-docs (made in memory).

    :meth:`chunks` decodes it a piece at a time, so a large file is never held whole.
    """

    name: str                 # a built-in name, or the file's path as given
    path: Path | None
    encoding: str | None = None
    notice: str = ""          # e.g. why python-docs stands in for timemachine, or ""

    def __post_init__(self):
        if self.encoding is not None:
            try:
                codec = codecs.lookup(self.encoding)
            except LookupError:
                raise CorpusError(f"unknown encoding {self.encoding!r}; use a Python codec name "
                                  f"such as latin-1") from None
            # the flag bytes.decode checks: zlib, hex, base64, rot13 do not turn bytes into text
            if not getattr(codec, "_is_text_encoding", True):
                raise CorpusError(f"{self.name}: cannot decode it as {self.encoding} (not a text encoding); "
                                  f"pass a text encoding such as utf-8 or latin-1")

    def _open(self):
        if self.path is None:
            return io.BytesIO(python_docs_text().encode("utf-8"))
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise CorpusError(f"{self.path}: cannot read ({exc.strerror})") from None

    def _blocks(self, size: int, on_read: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The bytes, ``size`` at a time; ``on_read`` hears the running total after each block."""
        done = 0
        with self._open() as fh:
            while True:
                try:
                    block = fh.read(size)
                except OSError as exc:
                    raise CorpusError(f"{self.name}: cannot read ({exc.strerror})") from None
                if not block:
                    return
                done += len(block)
                if on_read is not None:
                    on_read(done)
                yield block

    def sha1(self, on_read: Callable[[int], None] | None = None) -> str:
        """SHA-1 of the source's bytes, read a block at a time."""
        digest = hashlib.sha1()
        for block in self._blocks(CHUNK_BYTES, on_read):
            digest.update(block)
        return digest.hexdigest()

    def size(self) -> int:
        """The source's size in bytes."""
        if self.path is None:
            return len(python_docs_text().encode("utf-8"))
        return self.path.stat().st_size

    def chunks(self, on_read: Callable[[int], None] | None = None) -> Iterator[str]:
        """The text, decoded CHUNK_BYTES at a time, refusing what is not text as it goes
        (``on_read`` hears how many bytes were read so far).

        UTF-8 by default (a BOM is dropped); a UTF-16 file with a BOM is decoded as UTF-16;
        ``encoding`` names any other codec.  Refused: binary files (NUL bytes), undecodable bytes
        (with their offset) and text that is only white space.
        """
        # punycode's incremental decoder decodes each piece on its own: such a file is read whole
        whole = self.encoding is not None and codecs.lookup(self.encoding).name == "punycode"
        blocks = self._blocks(max(1, self.size()) if whole else CHUNK_BYTES, on_read)
        first = next(blocks, b"")
        encoding, offset = self.encoding, 0
        if encoding is None and first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        if encoding is None:
            decoder = codecs.getincrementaldecoder("utf-8")()
            if first.startswith(codecs.BOM_UTF8):
                offset = len(codecs.BOM_UTF8)
                first = first[offset:]
        else:
            decoder = codecs.getincrementaldecoder(encoding)()
        leading_bom = encoding is not None  # decoded BOM characters at the start are dropped
        text_seen = False
        for block, final in _with_last(itertools.chain([first], blocks)):
            text = self._decode(decoder, encoding, block, final, offset)
            offset += len(block)
            if leading_bom and text:
                text = text.lstrip("\ufeff")
                leading_bom = not text
            if "\x00" in text:
                kind = "NUL bytes" if encoding is None else "NUL characters"
                raise CorpusError(f"{self.name}: looks binary ({kind}); give a text file")
            text_seen = text_seen or bool(text.strip())
            if text:
                yield text
        if not text_seen:
            raise CorpusError(f"{self.name}: the file holds only white space; give a file with some text")

    def _decode(self, decoder, encoding: str | None, block: bytes, final: bool, offset: int) -> str:
        """One block through the incremental decoder; ``offset``: the block's place in the file."""
        try:
            pending = len(decoder.getstate()[0])
        except (AttributeError, TypeError, IndexError):
            pending = 0
        try:
            return decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            where = offset - pending + exc.start  # exc.start counts from the decoder's pending bytes
            if encoding is None:
                raise CorpusError(
                    f"{self.name}: not valid UTF-8 (first bad byte at offset {where}); "
                    f"pass --encoding (e.g. latin-1) if it is another encoding"
                ) from None
            raise CorpusError(f"{self.name}: not valid {encoding} (first bad byte at offset {where}); "
                              f"pass the right --encoding") from None
        except (UnicodeError, LookupError, ValueError, TypeError) as exc:  # utf-16 without a BOM, punycode...
            reason = (str(exc).splitlines() or [exc.__class__.__name__])[0]
            raise CorpusError(f"{self.name}: cannot decode it as {encoding} ({reason}); pass a text encoding "
                              f"such as utf-8 or latin-1") from None


def _with_last(items):
    """``(item, is_last)`` pairs."""
    items = iter(items)
    previous = next(items, None)
    if previous is None:
        return
    for item in items:
        yield previous, False
        previous = item
    yield previous, True


def open_source(source: str | None, *, encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                download: bool = True) -> Source:
    """A built-in name, a file path, or None for the default corpus (``timemachine`` when cached or
    downloadable, else ``python-docs`` with a notice), checked but not read."""
    if source is None:
        try:
            return open_source(TIMEMACHINE, download=download)
        except CorpusError as exc:
            return Source(PYTHON_DOCS, None, notice=f"timemachine is unavailable ({exc}); "
                                                    f"using the offline python-docs corpus")
    if source == TIMEMACHINE:
        if not timemachine_cached():
            if not download:
                raise CorpusError("timemachine is not cached and downloading is off")
            download_timemachine()
        return Source(TIMEMACHINE, timemachine_path())
    if source == PYTHON_DOCS:
        return Source(PYTHON_DOCS, None)
    if not source:
        raise CorpusError(f"no corpus given; use one of: {', '.join(BUILTINS)}, or a text file path")
    return _file_source(source, encoding, max_bytes)


def _file_source(path: str | os.PathLike, encoding: str | None, max_bytes: int) -> Source:
    found = Source(str(path), Path(path), encoding)  # an unknown encoding is refused before the file is looked at
    _check_file(found.path, max_bytes)
    return found


def read_text_file(path: str | os.PathLike, *, encoding: str | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """A user's text file read whole (see :meth:`Source.chunks` for what is refused)."""
    return "".join(_file_source(path, encoding, max_bytes).chunks())


def read_source(source: str | None, *, encoding: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES, download: bool = True) -> CorpusText:
    """The raw text of a built-in name or a file path, read whole (None: the default corpus)."""
    found = open_source(source, encoding=encoding, max_bytes=max_bytes, download=download)
    return CorpusText(found.name, "".join(found.chunks()), found.notice)


def corpus_name(text) -> str:
    """What a checkpoint records to find the text again (``text``: anything with a source's
    ``name``): a built-in name or an absolute path (so that ``--resume`` finds a file from anywhere)."""
    return text.name if text.name in BUILTINS else str(Path(text.name).resolve())


# ---------------------------------------------------------- preprocessing ----

def preprocess(text: str, mode: str = "book") -> list[str]:
    """Lines ready for :func:`engine.vocab.tokenize`.

    ``book``: every run of non-letters becomes one space, lines are stripped
    and lowercased, and (unlike the book) the non-empty lines are joined with
    one space, so words never fuse across line ends.  ``raw``: case and
    punctuation kept, newlines become spaces.  Either way one line comes back.
    """
    return ["".join(preprocess_stream([text], mode))]


def preprocess_stream(chunks: Iterable[str], mode: str = "book") -> Iterator[str]:
    """:func:`preprocess` a piece at a time: the pieces yielded for the chunks of a text join into
    exactly ``preprocess(text, mode)[0]``, wherever the chunks were cut.

    In ``book`` mode the line breaks are non-letters too, so the book's per-line clean-up and the
    join come to one rule: every run of non-letters is one space, none at the ends.  A run cut by
    a chunk boundary is remembered (``gap``) so that it still gives one space.  In ``raw`` mode a
    chunk's last ``\\r`` waits for the next chunk: it may be the first half of ``\\r\\n``.
    """
    if mode == "book":
        started = gap = False  # a letter was kept; a run of non-letters followed the last one
        for chunk in chunks:
            piece = _NON_LETTERS.sub(" ", chunk).lower()
            core = piece.strip(" ")
            if core:
                if started and (gap or piece[0] == " "):
                    core = " " + core
                started, gap = True, piece[-1] == " "
                yield core
            elif piece:
                gap = True
    elif mode == "raw":
        held = ""
        for chunk in chunks:
            chunk = held + chunk
            held = "\r" if chunk.endswith("\r") else ""
            if len(chunk) > len(held):
                yield _newlines_to_spaces(chunk[:len(chunk) - len(held)])
        if held:
            yield " "
    else:
        raise CorpusError(f"unknown preprocessing mode {mode!r}; use one of: {', '.join(MODES)}")


def _newlines_to_spaces(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", " ")
