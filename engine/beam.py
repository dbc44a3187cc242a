"""Beam search, and the log-probability of any written text.

A continuation x_1..x_n of a prefix scores ``log p(x_1..x_n | prefix) = Σ_t log softmax(O_t)[x_t]``.
Greedy decoding takes the likeliest token at each step; beam search keeps the W likeliest
continuations so far, extends each by every token, and keeps the W best of those, so it can take
a less likely token now for a likelier whole.  Plain beam search can still end below greedy (all W
kept continuations may run into uncertain territory that the greedy one avoided), so this one
always keeps the greedy continuation among its W: its best is never below greedy's score, and
with W = 1 it *is* greedy.  ``<unk>`` is never written, as in engine.generate.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .errors import ConfigError
from .generate import WARMUP_CHUNK, context_indices, piece, prefix_tokens, token_level
from .inspect import evaluating

MAX_BEAM = 32


@dataclass(frozen=True)
class Candidate:
    """A finished continuation: its tokens, its text as written after the prefix (words with
    their separating spaces) and its total log-probability under the model."""

    tokens: tuple[str, ...]
    text: str
    log_prob: float


def check_width(width) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_BEAM:
        raise ConfigError(f"beam width {width!r}: must be a whole number from 1 to {MAX_BEAM}")


def _warm_up(model, indices: list[int]):
    """The logits after reading ``indices`` from a fresh state, and that state (batch 1)."""
    device = next(model.parameters()).device
    X = torch.tensor([indices], device=device)
    state = model.begin_state(1)
    for start in range(0, X.shape[1], WARMUP_CHUNK):
        out, state = model(X[:, start:start + WARMUP_CHUNK], state)
    return out[:, -1], state


def _select(state, rows: torch.Tensor, num_layers: int):
    """The batch rows ``rows`` of a state (a tensor, or the LSTM's pair)."""
    dim = 0 if num_layers == 1 else 1
    if isinstance(state, tuple):
        return tuple(s.index_select(dim, rows) for s in state)
    return state.index_select(dim, rows)


def _pieces(prefix: str, words: list[str], token: str) -> list[str]:
    """The written text of each token, as engine.generate yields them."""
    pieces, before = [], prefix
    for word in words:
        before = piece(word, before, token)
        pieces.append(before)
    return pieces


def beam_search(model, vocab, prefix: str, num_tokens: int, width: int, *,
                token: str | None = None) -> list[Candidate]:
    """The ``width`` best continuations of ``prefix``, ``num_tokens`` tokens each, found by beam
    search (see the module's docstring), best first."""
    check_width(width)
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < 0:
        raise ConfigError(f"number of tokens {num_tokens!r}: must be a whole number from 0")
    token = token or token_level(vocab)
    V = len(vocab)
    with evaluating(model), torch.inference_mode():
        logits, state = _warm_up(model, context_indices(vocab, prefix, token))
        scores = logits.new_zeros(1)
        sequences: list[list[int]] = [[]]
        greedy = 0  # the row holding the greedy continuation
        for step in range(num_tokens):
            log_p = torch.log_softmax(logits, -1)
            log_p[:, vocab.unk] = -torch.inf
            total = (scores[:, None] + log_p).flatten()
            keep = min(width, len(sequences) * (V - 1))  # never an <unk> candidate
            chosen = torch.topk(total, keep).indices.tolist()
            greedy_flat = greedy * V + int(log_p[greedy].argmax())
            if greedy_flat not in chosen:
                chosen[-1] = greedy_flat
            greedy = chosen.index(greedy_flat)
            rows = [flat // V for flat in chosen]
            tokens = [flat % V for flat in chosen]
            scores = total[chosen]
            sequences = [sequences[row] + [tok] for row, tok in zip(rows, tokens)]
            if step + 1 < num_tokens:
                state = _select(state, torch.tensor(rows, device=scores.device), model.num_layers)
                out, state = model(torch.tensor(tokens, device=scores.device)[:, None], state)
                logits = out[:, -1]
    found = [Candidate(tuple(vocab.to_tokens(seq)), "".join(_pieces(prefix, vocab.to_tokens(seq), token)), score)
             for seq, score in zip(sequences, scores.tolist())]
    return sorted(found, key=lambda c: -c.log_prob)


def beam_stream(model, vocab, prefix: str, num_tokens: int, width: int, token: str) -> Iterator[str]:
    """``generate(..., beam=W)``'s tokens: the best candidate's, all at once when the search ends."""
    best = beam_search(model, vocab, prefix, num_tokens, width, token=token)[0]
    yield from _pieces(prefix, list(best.tokens), token)


def sequence_log_prob(model, vocab, prefix: str, written: str, *, token: str | None = None) -> float:
    """``log p(written | prefix)``: the sum of the log-probabilities the model gives each token of
    ``written`` after the prefix (from a fresh state, as engine.generate starts), by teacher
    forcing through the model's own forward."""
    token = token or token_level(vocab)
    context = context_indices(vocab, prefix, token)
    targets = vocab[prefix_tokens(written, token)]
    if not targets:
        return 0.0
    device = next(model.parameters()).device
    X = torch.tensor([context + targets[:-1]], device=device)
    Y = torch.tensor(targets, device=device)
    first = len(context) - 1  # the input position whose output predicts targets[0]
    total = 0.0
    with evaluating(model), torch.inference_mode():
        state = model.begin_state(1)
        for start in range(0, X.shape[1], WARMUP_CHUNK):
            out, state = model(X[:, start:start + WARMUP_CHUNK], state)
            lo = max(start, first)
            if lo < start + out.shape[1]:
                log_p = torch.log_softmax(out[0, lo - start:], -1)
                total += float(log_p.gather(1, Y[lo - first:lo - first + log_p.shape[0], None]).sum())
    return total
