"""What a model's units track: simple features of a text, units ranked by their correlation with
them, and how often the gates sit saturated.

A unit that tracks a feature rises and falls with it along the text: the Pearson correlation of
the unit's activations a (T,) with the feature f (T,),

    r = Σ_t (a_t - ā)(f_t - f̄) / sqrt(Σ_t (a_t - ā)² · Σ_t (f_t - f̄)²),

is near +1 or -1.  A gate is left-saturated at a step when its value is below 0.1 (it blocks) and
right-saturated above 0.9 (it lets through); units whose forget gate is right-saturated most of the
time carry their memory across long spans.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import torch

from .errors import ConfigError
from .inspect import GATE_QUANTITIES

VOWELS = frozenset("aeiouAEIOU")
SENTENCE_ENDS = frozenset(".!?")
OPENING_QUOTES, CLOSING_QUOTES = frozenset("“"), frozenset("”")


class UnitScore(NamedTuple):
    feature: str
    key: str
    unit: int
    r: float


def _char_features(text: str) -> dict[str, list[float]]:
    """The features of every character of ``text``, each the value *after* reading it."""
    names = ("in_quotes", "in_parens", "line_position", "word_position", "is_space", "is_vowel",
             "word_start", "sentence_end")
    out: dict[str, list[float]] = {name: [] for name in names}
    quoted, depth, column, in_word = False, 0, 0, 0
    previous_is_word = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch in OPENING_QUOTES:
            quoted = True
        elif ch in CLOSING_QUOTES:
            quoted = False
        depth = depth + 1 if ch == "(" else max(depth - 1, 0) if ch == ")" else depth
        column = 0 if ch == "\n" else column + 1
        is_word = ch.isalnum()
        in_word = in_word + 1 if is_word else 0
        values = (quoted, depth > 0, column, in_word, ch.isspace(), ch in VOWELS,
                  is_word and not previous_is_word, ch in SENTENCE_ENDS)
        for name, value in zip(names, values):
            out[name].append(float(value))
        previous_is_word = is_word
    return out


def text_features(text: str, token: str = "char") -> dict[str, torch.Tensor]:
    """One float per token of ``text`` for each feature, describing the text up to and including
    that token (the activations at t have read the same):

    ``in_quotes`` 1 inside double quotes (from the opening quote on, 0 again at the closing one);
    ``in_parens`` 1 inside parentheses; ``line_position`` characters since the last newline (the
    start, for the first line; only for a text with newlines, which the book's preprocessing
    removes); ``word_position`` letters or digits so far in the current word (0 outside words);
    ``is_space``; ``is_vowel``; ``word_start`` the first letter of a word; ``sentence_end`` . ! or ?.

    With ``token="word"`` the tokens are the runs of non-space characters and each takes the
    features of its last character (``word_position``: the word's length, 0 after punctuation)."""
    chars = _char_features(text)
    if "\n" not in text:  # then it counts from the start: a unit warming up from the zero state would match
        del chars["line_position"]
    if token == "char":
        return {name: torch.tensor(values) for name, values in chars.items()}
    ends = [match.end() - 1 for match in re.finditer(r"\S+", text)]
    return {name: torch.tensor([values[i] for i in ends]) for name, values in chars.items()}


def rank_units(acts: dict[str, torch.Tensor], features: dict[str, torch.Tensor],
               keys: list[str] | None = None) -> list[UnitScore]:
    """Every (feature, quantity, unit) scored by the Pearson r of the unit's activations (T,)
    with the feature (T,), largest |r| first.  Pairs where either is constant on this text
    (r undefined: a unit stuck at one value, a text without quotes) are left out."""
    keys = keys or list(acts)
    for key in keys:
        if key not in acts:
            raise ConfigError(f"no quantity {key!r} in this model; use one of: {', '.join(acts)}")
    names = list(features)
    for name in names:
        if features[name].shape[0] != acts[keys[0]].shape[0]:
            raise ValueError(f"feature {name} has {features[name].shape[0]} positions, "
                             f"the activations {acts[keys[0]].shape[0]}")
    # float32, centred first (a gate stuck near 1 would lose its variance in Σa² - Tā²): r to ~1e-6
    A = torch.cat([acts[key] for key in keys], 1).float()   # (T, units of every key)
    Fm = torch.stack([features[name] for name in names], 1).float()  # (T, features)
    A, Fm = A - A.mean(0), Fm - Fm.mean(0)
    denominator = (Fm * Fm).sum(0).sqrt()[:, None] * (A * A).sum(0).sqrt()[None, :]
    r = (Fm.t() @ A) / denominator  # (features, units); 0/0 where either is constant
    defined = denominator > 0
    order = torch.argsort(torch.where(defined, r.abs(), -1.0).flatten(), descending=True, stable=True)
    order = order[:int(defined.sum())].tolist()
    sizes = [acts[key].shape[1] for key in keys]
    owner = [(key, unit) for key, size in zip(keys, sizes) for unit in range(size)]
    width, values = A.shape[1], r.flatten().tolist()
    return [UnitScore(names[i // width], *owner[i % width], values[i]) for i in order]


def top_per_feature(ranked: list[UnitScore], n: int = 3) -> dict[str, list[UnitScore]]:
    """The ``n`` best-scoring units of each feature, from :func:`rank_units`' ranking."""
    best: dict[str, list[UnitScore]] = {}
    for score in ranked:
        kept = best.setdefault(score.feature, [])
        if len(kept) < n:
            kept.append(score)
    return best


def gate_saturation(acts: dict[str, torch.Tensor], low: float = 0.1,
                    high: float = 0.9) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For each gate of each layer (GRU z, r; LSTM i, f, o): per unit, the fraction of steps it is
    left-saturated (< ``low``) and right-saturated (> ``high``), two (H,) tensors."""
    if not 0 <= low < high <= 1:
        raise ConfigError(f"saturation thresholds {low} and {high}: need 0 <= low < high <= 1")
    return {key: ((values < low).double().mean(0), (values > high).double().mean(0))
            for key, values in acts.items() if key.split(".", 1)[1] in GATE_QUANTITIES}
