"""A tiny scratch model with weights large enough that the gates open and close (the book's
N(0, 0.01^2) keeps every gate near 0.5), for the tests of the views inside a model."""
from __future__ import annotations

import torch

from engine.cells import build_model

# (cell, layers, embedding width): every cell, deep or not, one-hot or embedded
CASES = [("rnn", 1, 0), ("rnn", 2, 0), ("gru", 1, 0), ("gru", 2, 4), ("lstm", 1, 0), ("lstm", 2, 4)]


def random_model(cell: str, vocab_size: int, hidden: int, layers: int = 1, embed: int = 0, *,
                 seed: int = 0, scale: float = 0.5):
    model = build_model(cell, vocab_size, hidden, layers, 0.3, generator=torch.Generator().manual_seed(seed),
                        embed=embed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model.eval()
