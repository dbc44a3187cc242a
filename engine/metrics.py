"""What the training loop measures: perplexity, the clipped gradient norm, and the gradient's
reach back through time (d2l 8.4, 8.5.5, 8.7)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EVAL_ROWS = 8        # validation text is read as this many long sequences side by side
EVAL_WINDOW = 256    # ... in windows of this many steps, the state carried across windows


def perplexity(mean_loss: float) -> float:
    """exp(mean cross-entropy); infinite rather than an OverflowError for a diverged loss."""
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return math.inf


def grad_clipping(model_or_params, theta: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``theta`` (the book's
    grad_clipping); returns the norm before clipping."""
    if isinstance(model_or_params, nn.Module):
        params = [p for p in model_or_params.parameters() if p.requires_grad]
    else:
        params = list(getattr(model_or_params, "params", model_or_params))
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = float(torch.sqrt(sum(torch.sum(g * g) for g in grads)))
    if norm > theta:
        for g in grads:
            g.mul_(theta / norm)
    return norm


@torch.no_grad()
def evaluate_perplexity(model, tokens: torch.Tensor, device) -> float:
    """Perplexity of ``model`` on a token sequence read as a few long sequences (state carried
    through, never reset inside a row), every token but the first of each row predicted."""
    rows = max(1, min(EVAL_ROWS, (len(tokens) - 1) // EVAL_WINDOW))
    length = (len(tokens) - 1) // rows
    if length < 1:
        return math.nan
    # views: a window is widened to int64 (and moved) only when it is read
    X = tokens[:rows * length].reshape(rows, length)
    Y = tokens[1:rows * length + 1].reshape(rows, length)
    state = model.begin_state(rows)
    loss_sum = 0.0
    for start in range(0, length, EVAL_WINDOW):
        cols = slice(start, start + EVAL_WINDOW)
        logits, state = model(X[:, cols].to(device, torch.long), state)
        loss_sum += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                          Y[:, cols].to(device, torch.long).reshape(-1), reduction="sum"))
    return perplexity(loss_sum / (rows * length))


def gradient_flow(model, X: torch.Tensor, Y: torch.Tensor) -> list[float]:
    """||dL_T/dh_t|| for t = 1..T, where L_T is the loss of the last step's prediction and h_t the
    top layer's hidden state: how much the final output still depends on each earlier state.  A
    curve that falls towards t = 1 is the vanishing gradient; one that climbs is the exploding
    gradient.  Any cell: the model adds a zero ``probe`` to each h_t (its ``flow_states``), and
    dL_T/d probe_t is dL_T/dh_t through every later step (for the LSTM, through C_t too)."""
    steps, batch = X.shape[1], X.shape[0]
    probe = torch.zeros(steps, batch, model.num_hiddens, dtype=model.W_hq.dtype, device=X.device,
                        requires_grad=True)
    with torch.enable_grad():
        logits = model.flow_states(X, model.begin_state(batch), probe)
        (grads,) = torch.autograd.grad(F.cross_entropy(logits, Y[:, -1]), probe)
    return [float(torch.linalg.vector_norm(g)) for g in grads]
