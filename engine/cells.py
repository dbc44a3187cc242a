"""The recurrent cells by name: where ``TrainConfig.cell`` becomes a model."""
from __future__ import annotations

import torch

from .gated import GRUScratch, LSTMScratch
from .model import RNNScratch

MODELS = {"rnn": RNNScratch, "gru": GRUScratch, "lstm": LSTMScratch}


def build_model(cell: str, vocab_size: int, hidden: int, layers: int = 1, dropout: float = 0.0,
                device=None, generator: torch.Generator | None = None, embed: int = 0):
    """A scratch model of the named cell: ``num_layers`` stacked, dropout between the layers and
    before the output layer (training only); the gated cells can read an ``embed``-wide embedding
    of the tokens (with dropout too) instead of their one-hot vectors."""
    extra = {"embed_size": embed} if embed else {}
    return MODELS[cell](vocab_size, hidden, num_layers=layers, dropout=dropout, device=device,
                        generator=generator, **extra)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
