"""Inside a trained model: what it predicts next, what its units do, which inputs a prediction leans on.

Every function reads a text the way evaluation does (teacher forcing from a zero state, no
dropout) through :func:`engine.unroll.unroll`, which keeps every layer's per-step quantities:

- the next-token strip: row t of ``softmax(O_t)`` is the model's distribution for token t+1 after
  reading tokens 0..t; the text's loss is ``-1/(T-1) Σ_t log p(x_{t+1})`` and its perplexity exp(loss);
- unit activations ``"l1.h"``, ``"l1.f"``, ... (T, H), and their Pearson correlation with simple
  features of the text (engine.unit_features);
- saliency (engine.saliency): ``||∂ log p(x_{t+1}) / ∂e_s||`` for every input s <= t, e_s the
  one-hot vector or embedding row that the first layer reads.

Texts are bounded (MAX_TOKENS) and tokens outside the vocabulary are read as ``<unk>``.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .errors import ConfigError
from .generate import prefix_tokens, token_level
from .unroll import first_layer_terms, unroll

MAX_TOKENS = 20_000  # a longer text is refused: its activations alone would take gigabytes
# Steps per unroll call: the per-step tensors of a chunk are freed and their memory reused by the
# next (one 2,000-step call is about 1.3x slower here), and (steps, V) logits at a time, not (T, V) of 30,000 words.
CHUNK_STEPS, CHUNK_LOGITS = 256, 1 << 22
GATE_QUANTITIES = ("z", "r", "i", "f", "o")  # the sigmoid gates, whose values lie in 0..1


class NextTokens(NamedTuple):
    """``probs_true`` (T-1,): the probability given to the actual token t+1; ``topk_p``,
    ``topk_idx`` (T, k): the k likeliest next tokens after reading tokens 0..t."""

    probs_true: torch.Tensor
    topk_p: torch.Tensor
    topk_idx: torch.Tensor


@dataclass
class Reading:
    """One pass of a model over a text.  ``tokens`` are what the model read (``<unk>`` for a
    token outside the vocabulary, at the positions ``unknown``); ``acts`` maps ``"l<layer>.<q>"``
    to (T, H) activations; ``log_probs_true`` (T-1,) is log p(x_{t+1} | x_0..x_t)."""

    tokens: list[str]
    indices: torch.Tensor
    unknown: list[int]
    acts: dict[str, torch.Tensor]
    log_probs_true: torch.Tensor
    topk_p: torch.Tensor
    topk_idx: torch.Tensor

    @property
    def loss(self) -> float:
        """Mean cross-entropy (nats per token) of the text's tokens after the first."""
        return float(-self.log_probs_true.mean()) if self.log_probs_true.numel() else float("nan")

    @property
    def perplexity(self) -> float:
        return float(torch.exp(torch.tensor(self.loss)))


@contextmanager
def evaluating(model):
    """The model in eval mode (no dropout) inside the block, and in its own mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def encode(vocab, text: str) -> tuple[list[str], list[int]]:
    """The tokens the model reads in ``text`` and their indices (unknown tokens: ``<unk>``, 0);
    an empty text, or one past MAX_TOKENS, is refused."""
    words = prefix_tokens(text, token_level(vocab))
    if not words:
        raise ConfigError("the text has no tokens; type or paste some text, or pick a corpus span")
    if len(words) > MAX_TOKENS:
        raise ConfigError(f"the text has {len(words):,} tokens; inspect at most {MAX_TOKENS:,} at a time "
                          f"(a shorter text or span)")
    indices = vocab[words]
    return vocab.to_tokens(indices), indices


def corpus_span(prepared, start: int, length: int) -> str:
    """Tokens ``start`` to ``start + length`` of a corpus as the model was trained on it (its token
    file, an engine.tokenfile.TokenFile: preprocessed in the run's mode), joined back into a text."""
    if not 0 <= start < len(prepared):
        raise ConfigError(f"span start {start:,}: the corpus has {len(prepared):,} tokens; start from 0 to "
                          f"{len(prepared) - 1:,}")
    if not 1 <= length <= MAX_TOKENS:
        raise ConfigError(f"span length {length:,}: must be from 1 to {MAX_TOKENS:,} tokens")
    tokens = prepared.vocab.to_tokens(prepared.tokens[start:start + length])
    return ("" if prepared.token == "char" else " ").join(tokens)


def read_text(model, vocab, text: str, k: int = 5) -> Reading:
    """Read ``text`` with ``model``: every layer's activations and the k likeliest next tokens at
    every position (see the module's docstring)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(vocab):
        raise ConfigError(f"k {k!r}: must be a whole number from 1 to the vocabulary size, {len(vocab):,}")
    tokens, indices = encode(vocab, text)
    device = next(model.parameters()).device
    X = torch.tensor([indices], device=device)
    acts: dict[str, list[torch.Tensor]] = {}
    log_true, top_p, top_i = [], [], []
    state, chunk_steps = None, max(1, min(CHUNK_STEPS, CHUNK_LOGITS // len(vocab)))
    with evaluating(model), torch.no_grad():
        for start in range(0, X.shape[1], chunk_steps):
            chunk = X[:, start:start + chunk_steps]
            got = unroll(model, chunk, state, terms=first_layer_terms(model, chunk))
            state = got.state
            for key, per_step in got.acts.items():
                acts.setdefault(key, []).append(torch.stack(per_step, 1)[0])
            log_p = torch.log_softmax(got.logits[0], -1)
            p, i = torch.topk(log_p.exp(), k, -1)
            top_p.append(p)
            top_i.append(i)
            targets = X[0, start + 1:start + 1 + log_p.shape[0]]  # the next tokens, one fewer at the end
            log_true.append(log_p[:targets.shape[0]].gather(1, targets[:, None])[:, 0])
    unknown = [t for t, index in enumerate(indices) if index == vocab.unk]
    return Reading(tokens, X[0].cpu(), unknown, {key: torch.cat(parts).cpu() for key, parts in acts.items()},
                   torch.cat(log_true).cpu(), torch.cat(top_p).cpu(), torch.cat(top_i).cpu())


def next_token_probs(model, vocab, text: str, k: int = 5) -> NextTokens:
    """``(probs_true (T-1,), topk_p (T, k), topk_idx (T, k))``: see :class:`NextTokens`."""
    reading = read_text(model, vocab, text, k)
    return NextTokens(reading.log_probs_true.exp(), reading.topk_p, reading.topk_idx)


def activations(model, vocab, text: str) -> dict[str, torch.Tensor]:
    """Every per-step quantity of every layer on ``text``: ``"l<layer>.<q>"`` -> (T, H), q in
    engine.unroll.QUANTITIES (h; GRU z, r, h_tilde; LSTM i, f, o, c_tilde, c)."""
    return read_text(model, vocab, text, k=1).acts


def check_unit(acts: dict[str, torch.Tensor], key: str, unit: int) -> None:
    """A one-line error unless ``acts`` has quantity ``key`` and ``unit`` is one of its units."""
    if key not in acts:
        raise ConfigError(f"no quantity {key!r} in this model; use one of: {', '.join(acts)}")
    size = acts[key].shape[1]
    if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < size:
        raise ConfigError(f"unit {unit!r}: {key} has units 0 to {size - 1}")


def shown_values(acts: dict[str, torch.Tensor], key: str, unit: int) -> tuple[torch.Tensor, float, float]:
    """A unit's values (T,) on the scale a colour map shows, and that scale: gates in 0..1; h,
    the candidates and tanh(c) (the memory cell c itself is unbounded) in -1..1."""
    check_unit(acts, key, unit)
    values = acts[key][:, unit]
    quantity = key.split(".", 1)[1]
    if quantity == "c":
        return torch.tanh(values), -1.0, 1.0
    return (values, 0.0, 1.0) if quantity in GATE_QUANTITIES else (values, -1.0, 1.0)
