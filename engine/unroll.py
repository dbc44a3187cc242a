"""The three cells unrolled step by step in plain autograd, every per-step quantity kept.

The models train through fused recurrences with hand-derived backward passes (engine/bptt.py,
engine/gated_bptt.py), which keep only what their backward needs.  The views that look inside a
model (the next-token strip, unit activations, saliency, the paths of BPTT) need the rest: every
layer's h_t, every gate, the input vectors as tensors to differentiate by.  This module computes
the same function as the models' ``forward`` (tests hold it to 1e-5), one step at a time, from the
models' own parameters by their book names (each layer's gates joined side by side, so a step is
one matmul for the hidden terms), and keeps everything:

    RNN:   H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)
    GRU:   Z_t = σ(X_t W_xz + H_{t-1} W_hz + b_z)      R_t = σ(X_t W_xr + H_{t-1} W_hr + b_r)
           H̃_t = tanh(X_t W_xh + (R_t ⊙ H_{t-1}) W_hh + b_h)      H_t = Z_t ⊙ H_{t-1} + (1 - Z_t) ⊙ H̃_t
    LSTM:  I_t, F_t, O_t = σ(X_t W_x· + H_{t-1} W_h· + b_·)         C̃_t = tanh(X_t W_xc + H_{t-1} W_hc + b_c)
           C_t = F_t ⊙ C_{t-1} + I_t ⊙ C̃_t                         H_t = O_t ⊙ tanh(C_t)
    output: O_t = H_t W_hq + b_q (the top layer's H_t)

X_t of the first layer is the one-hot vector of token t (or, with an embedding, its row of W_e);
of layer l >= 2, the H_t of the layer below.  Inspection runs as evaluation does: no dropout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .layers import join_layers, layer_suffix, split_layers

# per-step quantities of each cell, in the book's names (the key of layer l is f"l{l}.{name}")
QUANTITIES = {
    "rnn": ("h",),
    "gru": ("z", "r", "h_tilde", "h"),
    "lstm": ("i", "f", "o", "c_tilde", "c", "h"),
}


def cell_of(model) -> str:
    """``"rnn"``, ``"gru"`` or ``"lstm"``: which book cell a scratch model is, by its parameters."""
    names = {name for name, _ in model.named_parameters()}
    for cell, first in (("gru", "W_xz"), ("lstm", "W_xi"), ("rnn", "W_xh")):
        if first in names:
            return cell
    raise TypeError(f"{type(model).__name__} is not one of the scratch models (rnn, gru, lstm)")


@dataclass
class Unrolled:
    """What :func:`unroll` computed; every tensor is part of the autograd graph when grad is on.

    ``logits`` (batch, steps, V) are the model's outputs (None when not asked for); ``inputs``
    (batch, steps, D) the first layer's input vectors X_t (one-hot, D = V, or embedding rows,
    D = E), None when the caller gave the input terms instead; ``acts`` maps
    ``"l<layer>.<quantity>"`` (layers from 1, QUANTITIES' names) to one (batch, H) tensor per
    step; ``state`` is the final state in the model's own layout (``begin_state``'s)."""

    cell: str
    logits: torch.Tensor | None
    inputs: torch.Tensor | None
    acts: dict[str, list[torch.Tensor]]
    state: object

    def stacked(self, key: str) -> torch.Tensor:
        """``acts[key]`` as one (batch, steps, H) tensor."""
        return torch.stack(self.acts[key], 1)


def input_vectors(model, X: torch.Tensor) -> torch.Tensor:
    """The first layer's input vectors for tokens ``X`` (batch, steps): one-hot rows of the
    vocabulary (the book's), or with an embedding the rows of W_e."""
    if getattr(model, "embed_size", 0):
        return F.embedding(X, model.W_e)
    return F.one_hot(X, model.vocab_size).to(model.W_hq.dtype)


GATES = {"rnn": "h", "gru": "zrh", "lstm": "ifoc"}  # gate letters, in the order of the joined weights


def layer_weights(model, cell: str, layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``W_x`` (D, gates*H), ``W_h`` (H, gates*H), ``b`` (gates*H): one layer's weights of every gate
    side by side (GATES' order), so that each step is one matmul for the hidden terms."""
    suffix = layer_suffix(layer)
    return tuple(torch.cat([getattr(model, f"{kind}{g}{suffix}") for g in GATES[cell]], -1)
                 for kind in ("W_x", "W_h", "b_"))


def first_layer_terms(model, X: torch.Tensor, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """a_t = X_t W_x· + b_· of the first layer for every step and gate (batch, steps, gates*H), gates
    in GATES' order: for one-hot inputs the row of W_x + b that token t selects (a gather, no one-hot
    matrix); with an embedding, W_e's row times W_x; or the given ``inputs`` (batch, steps, D) times W_x."""
    W_x, _, b = layer_weights(model, cell_of(model), 0)
    if inputs is not None:
        return inputs @ W_x + b
    if getattr(model, "embed_size", 0):
        return F.embedding(X, model.W_e) @ W_x + b
    return F.embedding(X, W_x + b)


def _layer(cell: str, terms: torch.Tensor, W_h: torch.Tensor, state, keep: dict[str, list]):
    """Run one layer over every step given its input terms ``terms`` (batch, steps, gates*H) and
    its first state (h, or the LSTM's (h, c)); append each step's quantities to ``keep``'s lists
    and return the last state."""
    H = W_h.shape[0]
    for a in terms.unbind(1):
        if cell == "rnn":
            state = torch.tanh(torch.addmm(a, state, W_h))
            keep["h"].append(state)
        elif cell == "gru":
            h = state
            z, r = torch.sigmoid(torch.addmm(a[:, :2 * H], h, W_h[:, :2 * H])).chunk(2, 1)
            h_tilde = torch.tanh(torch.addmm(a[:, 2 * H:], r * h, W_h[:, 2 * H:]))
            state = z * h + (1 - z) * h_tilde
            for name, value in zip(("z", "r", "h_tilde", "h"), (z, r, h_tilde, state)):
                keep[name].append(value)
        else:
            h, c = state
            gates = torch.addmm(a, h, W_h)
            i, f, o = torch.sigmoid(gates[:, :3 * H]).chunk(3, 1)
            c_tilde = torch.tanh(gates[:, 3 * H:])
            c = torch.addcmul(f * c, i, c_tilde)
            h = o * torch.tanh(c)
            state = h, c
            for name, value in zip(("i", "f", "o", "c_tilde", "c", "h"), (i, f, o, c_tilde, c, h)):
                keep[name].append(value)
    return state


def _split(cell: str, model, state):
    if cell == "lstm":
        return list(zip(split_layers(state[0], model.num_layers), split_layers(state[1], model.num_layers)))
    return list(split_layers(state, model.num_layers))


def unroll(model, X: torch.Tensor, state=None, *, inputs: torch.Tensor | None = None,
           terms: torch.Tensor | None = None, outputs: bool = True) -> Unrolled:
    """Run ``model`` on tokens ``X`` (batch, steps) from ``state`` (None: ``begin_state``) one step
    at a time, keeping every per-step quantity of every layer.

    ``inputs`` (batch, steps, D), when given, replaces the first layer's input vectors
    (:func:`input_vectors` of X): pass a tensor that requires grad to differentiate by X_t.
    ``terms`` (batch, steps, gates*H), when given, replaces the first layer's input terms
    X_t W_x· + b_· (:func:`first_layer_terms`); then ``Unrolled.inputs`` is None and no one-hot
    matrix is made, which a 30,000-word vocabulary needs (saliency differentiates by these and
    multiplies by W_x^T).  Each layer's input terms are computed for all steps at once.
    ``outputs=False`` skips the output layer (``logits`` None): a caller that needs one step's
    logits need not pay for (steps, V) of them.
    Gradients flow as far as the caller's grad mode allows."""
    cell = cell_of(model)
    if X.dim() != 2:
        raise ValueError(f"X must be (batch, steps) token indices, not shape {tuple(X.shape)}")
    batch, steps = X.shape
    if state is None:
        state = model.begin_state(batch)
    if terms is None:
        if inputs is None:
            inputs = input_vectors(model, X)
        terms = first_layer_terms(model, X, inputs)
    acts: dict[str, list[torch.Tensor]] = {}
    finals = []
    for layer, layer_state in enumerate(_split(cell, model, state)):
        W_x, W_h, b = layer_weights(model, cell, layer)
        if layer > 0:  # the layer below's states, all steps at once
            terms = torch.stack(keep["h"], 1) @ W_x + b if steps else W_x.new_zeros(batch, 0, W_x.shape[1])
        keep = {name: acts.setdefault(f"l{layer + 1}.{name}", []) for name in QUANTITIES[cell]}
        finals.append(_layer(cell, terms, W_h, layer_state, keep))
    logits = None
    if outputs:
        top = torch.stack(keep["h"], 1) if steps else W_h.new_zeros(batch, 0, model.num_hiddens)
        logits = top @ model.W_hq + model.b_q
    if cell == "lstm":
        final = join_layers([h for h, _ in finals]), join_layers([c for _, c in finals])
    else:
        final = join_layers(finals)
    return Unrolled(cell, logits, inputs, acts, final)
