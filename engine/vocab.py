"""Tokens and the vocabulary (d2l 8.2), and :func:`load_corpus`."""
from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence

from .corpus import DEFAULT_MAX_BYTES, preprocess, read_source
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
        counter = count_corpus(list(tokens))
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


def load_corpus(source: str, token: str = "char", mode: str = "book", max_tokens: int = -1, *,
                encoding: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                max_vocab: int | None = DEFAULT_MAX_VOCAB):
    """``(corpus, vocab)`` for a source: corpus is a flat list of token indices.

    The vocabulary is built on the whole text (as the book does) even when
    ``max_tokens`` > 0 truncates the index list.  ``max_vocab`` (None: no cap)
    guards against a word-level vocabulary blowing up on odd text.
    """
    text = read_source(source, encoding=encoding, max_bytes=max_bytes).text
    return corpus_from_text(text, token=token, mode=mode, max_tokens=max_tokens, max_vocab=max_vocab)


def text_tokens(text: str, token: str = "char", mode: str = "book") -> list[str]:
    """A text's tokens, preprocessed and tokenized as a corpus is."""
    return [tok for line in tokenize(preprocess(text, mode), token) for tok in line]


def encode_text(text: str, vocab: Vocab, token: str = "char", mode: str = "book") -> list[int]:
    """A text's token indices under an existing vocabulary (a trained model's); tokens outside it
    become ``<unk>``."""
    return vocab[text_tokens(text, token, mode)]


def corpus_from_text(text: str, token: str = "char", mode: str = "book", max_tokens: int = -1,
                     max_vocab: int | None = DEFAULT_MAX_VOCAB):
    tokens = text_tokens(text, token, mode)
    if not tokens:
        raise CorpusError("the corpus has no tokens after preprocessing (book mode keeps only the letters "
                          "a-z); use raw mode (--mode raw) for other scripts, or another file")
    vocab = Vocab(tokens)
    if max_vocab is not None and len(vocab) > max_vocab:
        raise CorpusError(f"the {token}-level vocabulary has {len(vocab):,} entries, over the cap of "
                          f"{max_vocab:,}; use --token char, or a cleaner or smaller text")
    corpus = vocab[tokens]
    if max_tokens is not None and max_tokens > 0:
        corpus = corpus[:max_tokens]
    return corpus, vocab
