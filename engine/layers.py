"""What every stacked scratch model shares: initialisation, per-layer parameter names, state layout."""
from __future__ import annotations

import torch


def normal_init(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """The book's initialisation, N(0, 0.01^2); drawn on the CPU so that a seed gives the same
    weights on every device."""
    return (torch.randn(shape, generator=generator) * 0.01).to(device)


def uniform_init(shape, bound: float, generator: torch.Generator | None, device) -> torch.Tensor:
    """U(-bound, bound), torch.nn.LSTM's and nn.GRU's initialisation with bound 1/sqrt(H)."""
    return ((torch.rand(shape, generator=generator) * 2 - 1) * bound).to(device)


def layer_suffix(layer: int) -> str:
    """The name suffix of a 0-based layer's parameters: ``""`` for the first, ``"_l2"``, ..."""
    return "" if layer == 0 else f"_l{layer + 1}"


def init_stack(model: torch.nn.Module, gates: tuple[str, ...], vocab_size: int, num_hiddens: int, *,
               num_layers: int, dropout: float, device, generator: torch.Generator | None,
               embed_size: int = 0, uniform: bool = False) -> None:
    """Set ``model``'s sizes and register its parameters under the book's names: with an
    ``embed_size`` E, first the embedding ``W_e`` (V x E); then layer by layer, ``W_x<g>`` (V x H,
    E x H with an embedding, H x H above the first layer), ``W_h<g>`` (H x H) and ``b_<g>`` of every
    gate letter g, then the output layer ``W_hq`` (H x V), ``b_q``.  The registration order is the
    draw order, so a seed gives the same weights.  The weights are the book's N(0, 0.01^2), or with
    ``uniform`` U(-1/sqrt(H), 1/sqrt(H)); the biases are 0."""
    model.vocab_size, model.num_hiddens = vocab_size, num_hiddens
    model.num_layers, model.dropout, model.embed_size = num_layers, dropout, embed_size
    V, H = vocab_size, num_hiddens

    def draw(shape):
        return uniform_init(shape, H ** -0.5, generator, device) if uniform else normal_init(shape, generator, device)

    if embed_size:
        # N(0, 1) rows, as torch.nn.Embedding's: the input's scale does not hang on the 0.01 of the rest
        model.W_e = torch.nn.Parameter(torch.randn(V, embed_size, generator=generator).to(device))
    for layer in range(num_layers):
        suffix = layer_suffix(layer)
        for g in gates:
            model.register_parameter(f"W_x{g}{suffix}", torch.nn.Parameter(
                draw((embed_size or V if layer == 0 else H, H))))
            model.register_parameter(f"W_h{g}{suffix}", torch.nn.Parameter(draw((H, H))))
            model.register_parameter(f"b_{g}{suffix}", torch.nn.Parameter(torch.zeros(H, device=device)))
    model.W_hq = torch.nn.Parameter(draw((H, V)))
    model.b_q = torch.nn.Parameter(torch.zeros(V, device=device))


def zero_state(like: torch.Tensor, num_layers: int, batch_size: int, num_hiddens: int) -> torch.Tensor:
    """A fresh state tensor (dtype and device of ``like``): (batch, H) for one layer, else
    (layers, batch, H), as torch.nn.RNN's h_0."""
    shape = (batch_size, num_hiddens) if num_layers == 1 else (num_layers, batch_size, num_hiddens)
    return like.new_zeros(shape)


def split_layers(state: torch.Tensor, num_layers: int) -> tuple[torch.Tensor, ...]:
    """Per-layer states from a model's state tensor: (batch, H) for one layer, (layers, batch, H)."""
    return (state,) if num_layers == 1 else state.unbind(0)


def join_layers(states: list[torch.Tensor]) -> torch.Tensor:
    """The inverse of :func:`split_layers`."""
    return states[0] if len(states) == 1 else torch.stack(states)


def detach_state(state):
    """A state (a tensor, or the LSTM's (H, C) pair) cut from its graph."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def forward_stepper(model, logit_bias: torch.Tensor | None = None):
    """``step(index, state) -> (logits (1, V), state)``: one token at batch 1 through the model's
    own forward, outside autograd (generation's stepper for any cell and depth)."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def step(index: int, state):
        logits, state = model(torch.tensor([[index]], device=device), state)
        return (logits[:, -1] if logit_bias is None else logits[:, -1] + logit_bias), state
    return step
