"""Token files: a corpus tokenised once into a memory-mapped array, reused on the next run.

A prepared corpus is two files in ``data_dir()/tokens``: ``NAME.tokens``, the token indices as
one array in the machine's byte order (little-endian on x86 and ARM) of uint8 (a vocabulary of
at most 256 entries), uint16 (65,536) or uint32, and ``NAME.json``, its header: the vocabulary
and the token counts, the source's name, size and SHA-1, the mode, the token level, the array's
dtype, length and SHA-1.  NAME is the source's stem, the settings and a key made of the source's SHA-1 and the
settings, so an edited text gets new files (and the old ones are removed).

:func:`prepare` streams the text twice, a chunk at a time (count the tokens, then write their
indices), so memory stays bounded by the vocabulary, never by the text.  Both files are written
atomically, the array first: a header only ever names a complete array.  Opening checks the
header against what was asked, the array's size and SHA-1 and that every index is in the
vocabulary; a stale, truncated or foreign token file is prepared again from its source.

The tokens are mapped, not read (``torch.from_file``, private mapping): a window of them costs
its own pages only, so the trainer, and each rank of a distributed run, reads the part it needs.
"""
from __future__ import annotations

import collections
import glob
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from .atomic import atomic_write
from .corpus import PREPARED_MAX_BYTES, Source, corpus_name, open_source, preprocess, preprocess_stream
from .errors import CorpusError
from .paths import data_dir
from .tensor_bytes import tensor_bytes
from .vocab import (DEFAULT_MAX_VOCAB, UNK, Vocab, no_tokens_error, tokenize, tokenize_stream, vocab_cap_error,
                    vocab_size_with)

FORMAT = "rnnplay-tokens"
VERSION = 1
DTYPES = {"uint8": torch.uint8, "uint16": torch.uint16, "uint32": torch.uint32}
READ_BYTES = 4 * 1024 * 1024  # the array is checked this many bytes at a time


@dataclass(frozen=True)
class Progress:
    """How far a long piece of work is: ``done`` of ``total`` units (bytes or tokens) of ``stage``."""

    stage: str
    done: int
    total: int


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class TokenFile:
    """A prepared corpus: its vocabulary and its token indices, memory-mapped."""

    path: Path                # the array; its header is path.with_suffix(".json")
    name: str                 # what a checkpoint records: a built-in name or an absolute path
    notice: str               # e.g. why python-docs stands in for timemachine, or ""
    token: str
    mode: str
    vocab: Vocab
    tokens: torch.Tensor      # 1-D uint8/uint16/uint32, mapped from ``path``
    chars: int                # characters of the source text, before preprocessing
    source_sha1: str
    tokens_sha1: str          # of the array's bytes: equal token files have equal ones (e.g. across machines)

    def __len__(self) -> int:
        return len(self.tokens)

    def corpus(self, max_tokens: int = -1) -> torch.Tensor:
        """The first ``max_tokens`` tokens (all when it is not positive): a view, not a copy."""
        return self.tokens[:max_tokens] if max_tokens is not None and max_tokens > 0 else self.tokens

    def lookup(self, vocab: Vocab) -> torch.Tensor:
        """``table[i]``: the index in ``vocab`` (a trained model's) of this file's token i, ``<unk>``
        where ``vocab`` lacks it; ``table[window.long()]`` reads a window as engine.vocab.encode_text
        reads the text under ``vocab``, without encoding the whole text again."""
        return torch.tensor(vocab[self.vocab.idx_to_token], dtype=torch.long)


def dtype_for(vocab_size: int) -> str:
    """The narrowest unsigned type that holds every index of a vocabulary."""
    return "uint8" if vocab_size <= 2 ** 8 else "uint16" if vocab_size <= 2 ** 16 else "uint32"


def tokens_dir() -> Path:
    return data_dir() / "tokens"


def token_file_path(source: Source, source_sha1: str, token: str, mode: str) -> Path:
    """Where the token file of ``source`` at these settings lives; its name is readable and keyed."""
    key = hashlib.sha1(f"{VERSION}\0{source_sha1}\0{token}\0{mode}\0{source.encoding or ''}".encode())
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source.name).stem)[:40] or "corpus"
    return tokens_dir() / f"{stem}-{token}-{mode}-{key.hexdigest()[:16]}.tokens"


# ------------------------------------------------------------ preparing ----

def prepare(source: str | Source | None = None, token: str = "char", mode: str = "book", *,
            encoding: str | None = None, max_bytes: int = PREPARED_MAX_BYTES,
            max_vocab: int | None = DEFAULT_MAX_VOCAB, download: bool = True,
            progress: ProgressFn | None = None) -> TokenFile:
    """The token file of ``source`` (None: the default corpus) at a token level and mode, made
    now unless a sound one is cached.  ``progress`` hears about each chunk of work."""
    tokenize([], token)  # an unknown token level or mode is refused before any work
    preprocess("", mode)
    found = source if isinstance(source, Source) else open_source(
        source, encoding=encoding, max_bytes=max_bytes, download=download)
    report, size = progress or (lambda _: None), found.size()
    source_sha1 = found.sha1(on_read=lambda done: report(Progress("checking the text", done, size)))
    path = token_file_path(found, source_sha1, token, mode)
    try:
        return _open(path, found, source_sha1, token, mode, max_vocab, report)
    except _Unsound:
        pass
    _write(path, found, source_sha1, token, mode, max_vocab, report)
    _remove_superseded(path, corpus_name(found), token, mode)
    try:
        return _open(path, found, source_sha1, token, mode, max_vocab, report)
    except _Unsound as exc:  # only a disk that loses what was just written gets here
        raise CorpusError(f"{path}: the token file just written does not read back ({exc}); "
                          f"check the disk, or set RNNPLAY_DATA_DIR to another folder") from None


def load_corpus(source: str | Source | None, token: str = "char", mode: str = "book", max_tokens: int = -1, *,
                encoding: str | None = None, max_bytes: int = PREPARED_MAX_BYTES,
                max_vocab: int | None = DEFAULT_MAX_VOCAB, progress: ProgressFn | None = None):
    """``(corpus, vocab)`` of a source through its token file: corpus is a 1-D tensor of token
    indices mapped from the file (uint8/16/32; windows of it are widened as they are read).

    The vocabulary is built on the whole text (as the book does) even when ``max_tokens`` > 0
    cuts the corpus short.
    """
    prepared = prepare(source, token, mode, encoding=encoding, max_bytes=max_bytes, max_vocab=max_vocab,
                       progress=progress)
    return prepared.corpus(max_tokens), prepared.vocab


def _runs(source: Source, token: str, mode: str, stage: str, report: ProgressFn, chars: list[int]):
    """The source's token runs (see tokenize_stream), reporting bytes read; ``chars`` counts the text."""
    size = source.size()

    def counted(chunks):
        for chunk in chunks:
            chars[0] += len(chunk)
            yield chunk

    chunks = source.chunks(on_read=lambda done: report(Progress(stage, done, size)))
    return tokenize_stream(preprocess_stream(counted(chunks), mode), token)


def count_tokens(source: Source, token: str, mode: str, max_vocab: int | None,
                 report: ProgressFn) -> tuple[collections.Counter, int]:
    """The first pass: every token's count, in first-occurrence order, and the text's length in
    characters.  Counting stops at the first token over the vocabulary cap."""
    counts, chars = collections.Counter(), [0]
    for run in _runs(source, token, mode, "counting tokens", report, chars):
        counts.update(run)
        if max_vocab is not None and vocab_size_with(counts) > max_vocab:
            raise vocab_cap_error(token, max_vocab)
    if not counts:
        raise no_tokens_error()
    return counts, chars[0]


def encode_tokens(source: Source, token: str, mode: str, vocab: Vocab, report: ProgressFn) -> Iterator[torch.Tensor]:
    """The second pass: each run's token indices (int64)."""
    runs = _runs(source, token, mode, "writing tokens", report, [0])
    if token == "word":
        index = vocab.token_to_idx.__getitem__
        for run in runs:
            yield torch.tensor(list(map(index, run)), dtype=torch.int64)
        return
    # characters: code point -> index through one table (every character of the text is in it)
    table = torch.zeros(max(ord(ch) for ch in vocab.idx_to_token[1:]) + 1, dtype=torch.int64)
    for idx, ch in enumerate(vocab.idx_to_token[1:], start=1):
        table[ord(ch)] = idx
    for run in runs:
        code_points = torch.frombuffer(bytearray(run.encode("utf-32-le", "surrogatepass")), dtype=torch.int32)
        yield table[code_points]


def _write(path: Path, source: Source, source_sha1: str, token: str, mode: str, max_vocab: int | None,
           report: ProgressFn) -> None:
    counts, chars = count_tokens(source, token, mode, max_vocab, report)
    vocab = Vocab.from_counts(counts)
    dtype = dtype_for(len(vocab))
    digest, length = hashlib.sha1(), 0
    try:
        with atomic_write(path) as fh:
            for ids in encode_tokens(source, token, mode, vocab, report):
                data = tensor_bytes(ids.to(DTYPES[dtype]))
                digest.update(data)
                fh.write(data)
                length += len(ids)
        header = {"format": FORMAT, "version": VERSION, "source": corpus_name(source),
                  "source_sha1": source_sha1, "source_bytes": source.size(), "encoding": source.encoding,
                  "mode": mode, "token": token, "chars": chars, "dtype": dtype, "tokens": length,
                  "tokens_sha1": digest.hexdigest(), "vocab": vocab.idx_to_token,
                  "token_freqs": vocab.token_freqs}
        with atomic_write(path.with_suffix(".json")) as fh:
            fh.write(json.dumps(header, ensure_ascii=False).encode("utf-8"))
    except OSError as exc:
        raise CorpusError(f"cannot write the token file in {path.parent} ({exc.strerror or exc}); free some "
                          f"space, or set RNNPLAY_DATA_DIR to a writable folder") from None


def _remove_superseded(path: Path, name: str, token: str, mode: str) -> None:
    """Delete the token files of earlier versions of the same source at the same settings."""
    prefix = path.name[:path.name.rindex("-") + 1]
    for header_path in path.parent.glob(f"{glob.escape(prefix)}*.json"):
        if header_path.stem == path.stem:
            continue
        try:
            header = json.loads(header_path.read_text(encoding="utf-8"))
            if (header.get("source"), header.get("token"), header.get("mode")) == (name, token, mode):
                header_path.unlink()
                header_path.with_suffix(".tokens").unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):
            pass  # not ours to judge, or already gone: tidying up is a courtesy


# -------------------------------------------------------------- opening ----

class _Unsound(Exception):
    """A token file that is missing, stale, truncated or not what its name says."""


def _open(path: Path, source: Source, source_sha1: str, token: str, mode: str, max_vocab: int | None,
          report: ProgressFn) -> TokenFile:
    header = read_header(path)
    asked = {"source_sha1": source_sha1, "token": token, "mode": mode, "encoding": source.encoding}
    for key, value in asked.items():
        if header[key] != value:
            raise _Unsound(f"it was made for {key} {header[key]!r}, not {value!r}")
    vocab = Vocab.from_counts(collections.Counter(dict(header["token_freqs"])))
    if vocab.idx_to_token != header["vocab"]:
        raise _Unsound("its vocabulary does not follow from its token counts")
    if max_vocab is not None and len(vocab) > max_vocab:
        raise vocab_cap_error(token, max_vocab, len(vocab))
    tokens = map_tokens(path, header, report)
    return TokenFile(path, corpus_name(source), source.notice, token, mode, vocab, tokens, header["chars"],
                     source_sha1, header["tokens_sha1"])


def read_header(path: Path) -> dict:
    """The JSON header of a token file, with every field checked for type; _Unsound otherwise."""
    try:
        header = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Unsound("no header") from None
    except (OSError, ValueError) as exc:
        raise _Unsound(f"unreadable header ({exc.__class__.__name__})") from None
    fields = {"format": str, "version": int, "source_sha1": str, "token": str, "mode": str, "chars": int,
              "dtype": str, "tokens": int, "tokens_sha1": str, "vocab": list, "token_freqs": list}
    if not isinstance(header, dict) or any(not isinstance(header.get(k), t) for k, t in fields.items()) \
            or (header["format"], header["version"]) != (FORMAT, VERSION) or header["dtype"] not in DTYPES \
            or not isinstance(header.get("encoding"), (str, type(None))) \
            or not all(isinstance(tok, str) for tok in header["vocab"]) \
            or not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                       and isinstance(pair[1], int) and pair[1] > 0 for pair in header["token_freqs"]) \
            or not header["vocab"] or header["vocab"][0] != UNK \
            or dtype_for(len(header["vocab"])) != header["dtype"] or header["tokens"] < 1:
        raise _Unsound("not a token file header of this version")
    return header


def map_tokens(path: Path, header: dict, report: ProgressFn) -> torch.Tensor:
    """The array, checked (size, SHA-1, every index in the vocabulary) and then memory-mapped."""
    dtype = DTYPES[header["dtype"]]
    itemsize = torch.empty(0, dtype=dtype).element_size()
    size = header["tokens"] * itemsize
    try:
        if path.stat().st_size != size:
            raise _Unsound(f"{path.stat().st_size:,} bytes where the header says {size:,}")
        digest, top, done = hashlib.sha1(), 0, 0
        with open(path, "rb") as fh:
            while block := fh.read(READ_BYTES - READ_BYTES % itemsize):
                digest.update(block)
                indices = torch.frombuffer(bytearray(block), dtype=dtype)  # uint16/32 have no max()
                top = max(top, int(indices.to(torch.int32 if itemsize < 4 else torch.int64).max()))
                done += len(block)
                report(Progress("checking the token file", done, size))
    except FileNotFoundError:
        raise _Unsound("no array") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read the token file ({exc.strerror or exc})") from None
    if digest.hexdigest() != header["tokens_sha1"]:
        raise _Unsound("its tokens do not match their SHA-1")
    if top >= len(header["vocab"]):
        raise _Unsound(f"token index {top} is outside its vocabulary of {len(header['vocab'])}")
    # private mapping: pages are read on demand and shared with the page cache, never written back
    return torch.from_file(str(path), shared=False, size=header["tokens"], dtype=dtype)
