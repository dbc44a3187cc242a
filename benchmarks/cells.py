"""Training tokens/s of the scratch GRU and LSTM against torch.nn.GRU / nn.LSTM (+ Linear) on the CPU.

Each repeat times a window of training steps (forward, cross-entropy, backward, Adam) of every
candidate in turn, rotating the order, so background load hits all alike; the figure to quote is
the ratio of the medians, scratch / torch (goal >= 0.8).

    python -m benchmarks.cells --hidden 256 512 --threads 1
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from engine.gated import GRUScratch, LSTMScratch

from .common import machine, median, num_threads, synchronize

VOCAB = 28  # The Time Machine, char level


class TorchCell(nn.Module):
    """torch.nn.GRU / nn.LSTM on one-hot inputs + a linear output layer (d2l 10.1-10.2 concise)."""

    def __init__(self, kind: str, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(vocab_size, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, vocab_size)

    def forward(self, X, state=None):
        inputs = F.one_hot(X, self.vocab_size).float()
        H_all, state = self.rnn(inputs, state)
        return self.linear(H_all), state


def make_step(model, batch: int, steps: int, scratch: bool, device: torch.device):
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, VOCAB, (batch, steps), generator=g).to(device)
    Y = torch.randint(0, VOCAB, (batch, steps), generator=g).to(device)

    def step():
        state = model.begin_state(batch) if scratch else None
        logits, _ = model(X, state)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), Y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def measure(hidden: int, batch: int, steps: int, repeats: int, window: int,
            device: torch.device = torch.device("cpu")) -> list[dict]:
    candidates = {
        "GRUScratch": make_step(GRUScratch(VOCAB, hidden), batch, steps, True, device),
        "nn.GRU": make_step(TorchCell("gru", VOCAB, hidden), batch, steps, False, device),
        "LSTMScratch": make_step(LSTMScratch(VOCAB, hidden), batch, steps, True, device),
        "nn.LSTM": make_step(TorchCell("lstm", VOCAB, hidden), batch, steps, False, device),
    }
    for step in candidates.values():  # warm-up: allocator, oneDNN primitives, cuDNN plans
        step()
    synchronize(device)
    times = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            for _ in range(window):
                candidates[name]()
            synchronize(device)
            times[name].append((time.perf_counter() - start) / window)
    rate = {name: batch * steps / median(ts) for name, ts in times.items()}
    return [{"hidden": hidden, "cell": cell, "scratch_tok_s": rate[f"{cell.upper()}Scratch"],
             "torch_tok_s": rate[f"nn.{cell.upper()}"],
             "ratio": rate[f"{cell.upper()}Scratch"] / rate[f"nn.{cell.upper()}"]} for cell in ("gru", "lstm")]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=int, default=3, help="training steps per timed window")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (PyTorch's cells then run on cuDNN)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    with num_threads(args.threads):
        for hidden in args.hidden:
            rows += measure(hidden, args.batch, args.steps, args.repeats, args.window, device)
    if args.json:
        print(json.dumps({"machine": machine(device), "rows": rows}))
        return
    print(f"{device}: batch {args.batch} x {args.steps} steps, {args.threads} thread(s), Adam step included")
    print(f"{'cell':5} {'hidden':>6} {'scratch tok/s':>14} {'torch tok/s':>12} {'ratio':>6}")
    for row in rows:
        print(f"{row['cell']:5} {row['hidden']:6d} {row['scratch_tok_s']:14,.0f} {row['torch_tok_s']:12,.0f} "
              f"{row['ratio']:6.2f}")


if __name__ == "__main__":
    main()
