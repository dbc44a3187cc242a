"""Writing with a trained model (d2l 8.5.4's predict, streamed one token at a time).

torch is imported inside the functions: the package imports this module eagerly so that
``engine.generate`` stays the function even after ``import engine.generate``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import ConfigError
from .vocab import Vocab, tokenize

if TYPE_CHECKING:
    import torch

FIRST_INPUT = " "  # what an empty prefix starts from (char level)
WARMUP_CHUNK = 4096  # prefix tokens per forward call: a book-long prefix needs no book-long logits
STEP_WARMUP = 64     # prefixes up to this many tokens are warmed up token by token


def token_level(vocab: Vocab) -> str:
    """``char`` when every real token is one character, else ``word``."""
    return "char" if all(len(tok) == 1 for tok in vocab.idx_to_token[1:]) else "word"


def prefix_tokens(prefix: str, token: str) -> list[str]:
    return [tok for line in tokenize([prefix], token) for tok in line]


def context_indices(vocab: Vocab, prefix: str, token: str) -> list[int]:
    """The indices the model reads before writing: the prefix's, or for an empty prefix a
    neutral first input (a fresh state and a space, at char level)."""
    tokens = prefix_tokens(prefix, token)
    if not tokens:
        tokens = [FIRST_INPUT if FIRST_INPUT in vocab else vocab.to_tokens(min(1, len(vocab) - 1))]
    return vocab[tokens]


def piece(word: str, before: str, token: str) -> str:
    """A written token's text after the text ``before``: a word comes with its separating space."""
    return " " + word if token == "word" and before and not before[-1].isspace() else word


def unknown_in_prefix(vocab: Vocab, prefix: str, token: str | None = None) -> list[str]:
    """The distinct prefix tokens outside the vocabulary (they are read as <unk>), in order."""
    tokens = prefix_tokens(prefix, token or token_level(vocab))
    return list(dict.fromkeys(tok for tok in tokens if tok not in vocab))


def _choose(logits: torch.Tensor, temperature: float, top_k: int | None,
            generator: torch.Generator | None) -> int:
    import torch

    if temperature == 0:
        return int(logits.argmax())
    candidates = None
    if top_k is not None and top_k < logits.numel():
        logits, candidates = torch.topk(logits, top_k)
    # Shifted so that the largest is 0, and in float64 (where a temperature of 1e-300 is not 0):
    # any positive temperature, however small or large, divides without inf - inf (softmax is the same)
    probs = torch.softmax((logits - logits.max()).double() / temperature, dim=-1)
    if generator is not None and generator.device != probs.device:
        probs = probs.cpu()
    choice = int(torch.multinomial(probs, 1, generator=generator))
    return choice if candidates is None else int(candidates[choice])


def generate(model, vocab: Vocab, prefix: str, num_chars: int, *, temperature: float = 0.0,
             top_k: int | None = None, generator: torch.Generator | None = None,
             token: str | None = None, beam: int | None = None) -> Iterator[str]:
    """Warm the state up on ``prefix`` (one forward call), then yield ``num_chars`` new tokens'
    text one at a time.  Temperature 0 is the book's greedy argmax; otherwise tokens are sampled
    from softmax(logits / temperature), restricted to the ``top_k`` likeliest when given.
    ``beam=W`` runs a beam search of width W instead (engine.beam) and yields the best
    continuation's tokens, all at once when the search ends.
    ``<unk>`` is never produced.  Word-level tokens come with their separating space.
    The arguments are checked here, before the first token is asked for."""
    if not isinstance(num_chars, int) or num_chars < 0:
        raise ConfigError(f"number of characters {num_chars!r}: must be a whole number from 0")
    if not isinstance(temperature, (int, float)) or not 0 <= temperature < float("inf"):
        raise ConfigError(f"temperature {temperature!r}: must be 0 (greedy) or a positive number")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top-k {top_k!r}: must be a whole number from 1")
    if beam is not None:  # ---- beam search: engine/beam.py
        from .beam import beam_stream, check_width

        check_width(beam)
        if temperature or top_k is not None:
            raise ConfigError("beam search is deterministic: leave temperature at 0 and top-k unset")
        return beam_stream(model, vocab, prefix, num_chars, beam, token or token_level(vocab))
    return _stream(model, vocab, prefix, num_chars, temperature, top_k, generator, token or token_level(vocab))


def _stream(model, vocab, prefix, num_chars, temperature, top_k, generator, token) -> Iterator[str]:
    import torch

    device = next(model.parameters()).device
    mask = torch.zeros(len(vocab), device=device)
    mask[vocab.unk] = -torch.inf  # <unk> is never written
    step = model.stepper(mask)
    indices, h = context_indices(vocab, prefix, token), model.begin_state(1)
    if len(indices) <= STEP_WARMUP:
        # a short prefix: token by token through the lean stepper (a few ops each) is quicker
        # to the first character than one forward call's setup
        for index in indices:
            out, h = step(index, h)
        logits = out[0]
    else:
        # No grad mode is held across the yields (it would leak into the caller's code between
        # tokens): the warm-up runs in inference mode and the stepper works outside autograd.
        with torch.inference_mode():
            indices = torch.tensor([indices], device=device)
            for start in range(0, indices.shape[1], WARMUP_CHUNK):
                out, h = model(indices[:, start:start + WARMUP_CHUNK], h)
            logits = out[0, -1] + mask
    text_so_far = prefix
    for i in range(num_chars):
        index = _choose(logits, temperature, top_k, generator)
        word = piece(vocab.idx_to_token[index], text_so_far, token)
        text_so_far = word
        yield word
        if i + 1 < num_chars:
            out, h = step(index, h)
            logits = out[0]
