"""Tokens and the vocabulary (d2l 8.2): :func:`tokenize`, :class:`Vocab`, and
:func:`corpus_from_text` for a text held in memory (large texts go through engine.tokenfile)."""
from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Sequence

from .corpus import preprocess
from .errors import ConfigError, CorpusError

TOKEN_LEVELS = ("char", "word")
UNK = "<unk>"
# Both embedding-sized matrices grow with the vocabulary; past this a word-level model on odd
# text (numbers, hashes, a dictionary) would not fit or would never learn.
DEFAULT_MAX_VOCAB = 30_000


def tokenize(lines: Iterable[str], token: str = "char") -> list[list[str]]:
    """Split each line into word or character tokens (one list per line)."""
    if token == "word":
        return [line.split() for line in lines]
    if token == "char":
        return [list(line) for line in lines]
    raise ConfigError(f"unknown token level {token!r}; use one of: {', '.join(TOKEN_LEVELS)}")


def tokenize_stream(pieces: Iterable[str], token: str = "char") -> Iterator[str | list[str]]:
    """:func:`tokenize` of one long line given in pieces: each item is a run of tokens, a string of
    characters or a list of words.  A word cut by a piece boundary is held back until its end."""
    if token == "char":
        yield from pieces
    elif token == "word":
        held = ""
        for piece in pieces:
            words = (held + piece).split()
            held = words.pop() if words and piece and not piece[-1].isspace() else ""
            if words:
                yield words
        if held:
            yield [held]
    else:
        tokenize([], token)  # the one-line error for an unknown level


def count_corpus(tokens: Sequence) -> collections.Counter:
    """Token frequencies of a flat list or a list of token lists."""
    if tokens and isinstance(tokens[0], list):
        tokens = [tok for line in tokens for tok in line]
    return collections.Counter(tokens)


class Vocab:
    """Token <-> index map: ``<unk>`` is 0, then reserved tokens, then the rest
    by descending frequency (ties keep first-occurrence order); tokens seen
    fewer than ``min_freq`` times are left out (they map to ``<unk>``)."""

    def __init__(self, tokens: Sequence = (), min_freq: int = 0,
                 reserved_tokens: Sequence[str] | None = None):
        self._build(count_corpus(list(tokens)), min_freq, reserved_tokens)

    @classmethod
    def from_counts(cls, counts: collections.Counter) -> "Vocab":
        """The vocabulary of tokens counted elsewhere (e.g. a text streamed in pieces): ``counts``
        must hold the tokens in first-occurrence order, as a Counter fed them in order does."""
        vocab = cls()
        vocab._build(counts, 0, None)
        return vocab

    def _build(self, counter: collections.Counter, min_freq: int, reserved_tokens: Sequence[str] | None):
        # sorted() is stable: tokens of equal frequency keep their first-occurrence order
        self._token_freqs = sorted(counter.items(), key=lambda kv: kv[1], reverse=True)
        # dict.fromkeys: a repeated reserved token must not take two indices
        self.idx_to_token = list(dict.fromkeys([UNK, *(reserved_tokens or [])]))
        self.token_to_idx = {tok: idx for idx, tok in enumerate(self.idx_to_token)}
        for tok, freq in self._token_freqs:
            if freq < min_freq:
                break
            if tok not in self.token_to_idx:
                self.token_to_idx[tok] = len(self.idx_to_token)
                self.idx_to_token.append(tok)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        get = self.token_to_idx.get
        if isinstance(tokens, (list, tuple)):
            return [get(tok, 0) for tok in tokens]
        return get(tokens, 0)

    def __contains__(self, token) -> bool:
        return token in self.token_to_idx

    def to_tokens(self, indices):
        if hasattr(indices, "tolist"):  # a tensor, e.g. a window of a token file
            indices = indices.tolist()
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[int(i)] for i in indices]
        return self.idx_to_token[int(indices)]

    @property
    def unk(self) -> int:
        return 0

    @property
    def token_freqs(self) -> list[tuple[str, int]]:
        return self._token_freqs

    @classmethod
    def from_tokens_list(cls, idx_to_token: Sequence[str]) -> "Vocab":
        """Rebuild a vocabulary from its index order (e.g. from a checkpoint)."""
        if not idx_to_token or idx_to_token[0] != UNK or len(set(idx_to_token)) != len(idx_to_token):
            raise ValueError("a vocabulary list must start with <unk> and hold no duplicates")
        vocab = cls()
        vocab.idx_to_token = list(idx_to_token)
        vocab.token_to_idx = {tok: i for i, tok in enumerate(vocab.idx_to_token)}
        return vocab


def vocab_size_with(counts: collections.Counter) -> int:
    """len(Vocab.from_counts(counts)), without building it: a literal ``<unk>`` token is index 0."""
    return 1 + len(counts) - (UNK in counts)


def vocab_cap_error(token: str, max_vocab: int, size: int | None = None) -> CorpusError:
    """``size`` None: counting stopped at the first entry over the cap."""
    entries = f"{size:,} entries" if size is not None else f"more than {max_vocab:,} entries"
    return CorpusError(f"the {token}-level vocabulary has {entries}, over the cap of {max_vocab:,}; "
                       f"use --token char, or a cleaner or smaller text")


def no_tokens_error() -> CorpusError:
    return CorpusError("the corpus has no tokens after preprocessing (book mode keeps only the letters "
                       "a-z); use raw mode (--mode raw) for other scripts, or another file")


def text_tokens(text: str, token: str = "char", mode: str = "book") -> list[str]:
    """A text's tokens, preprocessed and tokenized as a corpus is."""
    return [tok for line in tokenize(preprocess(text, mode), token) for tok in line]


def encode_text(text: str, vocab: Vocab, token: str = "char", mode: str = "book") -> list[int]:
    """A text's token indices under an existing vocabulary (a trained model's); tokens outside it
    become ``<unk>``."""
    return vocab[text_tokens(text, token, mode)]


def corpus_from_text(text: str, token: str = "char", mode: str = "book", max_tokens: int = -1,
                     max_vocab: int | None = DEFAULT_MAX_VOCAB):
    """``(corpus, vocab)`` of a text held in memory: corpus is a list of token indices.

    The vocabulary is built on the whole text (as the book does) even when ``max_tokens`` > 0
    truncates the index list.  ``max_vocab`` (None: no cap) guards against a word-level
    vocabulary blowing up on odd text.
    """
    tokens = text_tokens(text, token, mode)
    if not tokens:
        raise no_tokens_error()
    vocab = Vocab(tokens)
    if max_vocab is not None and len(vocab) > max_vocab:
        raise vocab_cap_error(token, max_vocab, len(vocab))
    corpus = vocab[tokens]
    if max_tokens is not None and max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab
