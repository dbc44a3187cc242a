"""Each scratch cell against its PyTorch twin and against the roofline, per CPU instruction set.

For every cell (rnn, gru, lstm), hidden size and thread count, a repeat times a window of training
steps (forward, cross-entropy, backward, Adam; batch 32 x 64 steps, one-hot inputs over the 28
characters of The Time Machine) of the scratch model, of its twin (torch.nn.RNN / GRU / LSTM +
Linear) and of the roofline (the step's matmuls alone, benchmarks/roofline.py), all in one process,
in rotating order.  Printed per row: the medians' tokens/s, ratio = scratch / torch (goal >= 1.0)
and share = the roofline's time over the scratch step's (goal >= 0.9 for the RNN, >= 0.8 for the
gated cells).  On an AVX-512 CPU the table is made twice: natively, and in a child process limited
to AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2), as on a CPU without AVX-512.

    python -m benchmarks.cells                  # hidden 256 512, threads 1 2, native ISA and AVX2
    python -m benchmarks.cells --quick          # every code path at tiny sizes, in seconds
    python -m benchmarks.cells --device cuda    # the twins on cuDNN; no roofline
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from engine import kernels
from engine.cells import MODELS

from .common import clock, machine, median, num_threads, synchronize
from .roofline import Roofline, matmul_gflops

VOCAB = 28  # The Time Machine, char level
CELLS = ("rnn", "gru", "lstm")
TWINS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


class TorchCell(nn.Module):
    """torch.nn.RNN / GRU / LSTM on one-hot inputs + a linear output layer (d2l 8.6, 10.1-10.2)."""

    def __init__(self, kind: str, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = TWINS[kind](vocab_size, hidden, batch_first=True)
        self.linear = nn.Linear(hidden, vocab_size)

    def forward(self, X, state=None):
        H_all, state = self.rnn(F.one_hot(X, self.vocab_size).float(), state)
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


def measure(hidden: int, batch: int, steps: int, repeats: int, window: int, device: torch.device,
            cells=CELLS, timer: str = "wall") -> list[dict]:
    """One row per cell: medians of interleaved windows of the scratch step, the twin's and the
    roofline's (CPU only), on the wall clock or (``timer`` "cpu", one thread) the thread's CPU time."""
    now = clock(timer)
    candidates = {}
    for cell in cells:
        candidates[cell, "scratch"] = make_step(MODELS[cell](VOCAB, hidden), batch, steps, True, device)
        candidates[cell, "torch"] = make_step(TorchCell(cell, VOCAB, hidden), batch, steps, False, device)
        if device.type == "cpu":
            candidates[cell, "roofline"] = Roofline(cell, hidden, batch, steps, VOCAB)
    for step in candidates.values():  # warm-up: allocator, oneDNN primitives, cuDNN plans
        step()
    synchronize(device)
    times = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = now()
            for _ in range(window):
                candidates[name]()
            synchronize(device)
            times[name].append((now() - start) / window)
    rate = {name: batch * steps / median(ts) for name, ts in times.items()}
    rows = []
    for cell in cells:
        row = {"cell": cell, "hidden": hidden, "threads": torch.get_num_threads(),
               "clock": "cpu" if now is time.thread_time else "wall",
               "scratch_tok_s": rate[cell, "scratch"], "torch_tok_s": rate[cell, "torch"],
               "ratio": rate[cell, "scratch"] / rate[cell, "torch"]}
        if (cell, "roofline") in rate:
            row["roofline_tok_s"] = rate[cell, "roofline"]
            row["share"] = rate[cell, "scratch"] / rate[cell, "roofline"]
        rows.append(row)
    return rows


def onednn_isa() -> str:
    """The instruction set oneDNN dispatches to in this environment (its verbose header, read in a
    child process with the same environment)."""
    probe = ("import torch; torch.ops.mkldnn._linear_pointwise.default(torch.ones(2, 4), torch.ones(3, 4), "
             "None, 'none', [], '')")
    try:
        out = subprocess.run([sys.executable, "-c", probe], env=os.environ | {"ONEDNN_VERBOSE": "1"},
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return next((line.split("isa:", 1)[1] for line in out.splitlines() if ",isa:" in line), "unknown")


def describe(device: torch.device, threads, timer: str = "wall") -> dict:
    info = machine(device) | {"capability": torch.backends.cpu.get_cpu_capability(),
                              "kernels": kernels.backend().name}
    if device.type == "cpu":
        info["onednn_isa"] = onednn_isa()
        info["matmul_32x512x512_gflops"] = {}
        for n in threads:
            with num_threads(n):
                info["matmul_32x512x512_gflops"][n] = round(matmul_gflops(now=clock(timer)), 1)
    return info


def run(args, device: torch.device) -> dict:
    kernels.keep_freed_memory()  # as a Trainer on the CPU does (process-wide: the twins get it too)
    result = {"machine": describe(device, args.threads, args.clock), "rows": []}
    for threads in args.threads:
        with num_threads(threads):
            for hidden in args.hidden:
                result["rows"] += measure(hidden, args.batch, args.steps, args.repeats, args.window, device,
                                          args.cells, args.clock)
    return result


def in_child(env: dict, args) -> dict:
    """This benchmark's result for ``args`` from a child process run with ``env`` added (an ISA
    limit must be set before torch starts)."""
    argv = ["--isa", "native", "--json", "--device", args.device, "--clock", args.clock, "--batch", str(args.batch),
            "--steps", str(args.steps), "--repeats", str(args.repeats), "--window", str(args.window)]
    for name in ("hidden", "threads", "cells"):
        argv += [f"--{name}", *map(str, getattr(args, name))]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cells", *argv], env=os.environ | env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"cells: the child run with {env} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(result: dict, label: str) -> str:
    m = result["machine"]
    lines = [f"{label}: {m['cpu']} ({m['cores']} cores), torch {m['torch']} capability {m['capability']}, "
             f"kernels {m['kernels']}"]
    if "onednn_isa" in m:
        gflops = ", ".join(f"{v} ({n} thread{'s' * (int(n) > 1)})"
                           for n, v in m["matmul_32x512x512_gflops"].items())
        lines.append(f"  oneDNN ISA: {m['onednn_isa']}; 32x512x512 matmul GFLOP/s: {gflops}")
    lines.append(f"  {'cell':4} {'hidden':>6} {'thr':>3} {'clock':>5} {'scratch tok/s':>13} {'torch tok/s':>11} "
                 f"{'ratio':>5} {'roofline tok/s':>14} {'share':>5}")
    for row in result["rows"]:
        roof = (f"{row['roofline_tok_s']:14,.0f} {row['share']:5.2f}" if "share" in row else f"{'-':>14} {'-':>5}")
        lines.append(f"  {row['cell']:4} {row['hidden']:6d} {row['threads']:3d} {row['clock']:>5} {row['scratch_tok_s']:13,.0f} "
                     f"{row['torch_tok_s']:11,.0f} {row['ratio']:5.2f} {roof}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=int, default=3, help="training steps per timed window")
    parser.add_argument("--isa", nargs="+", choices=["native", "avx2"], default=None,
                        help="default: native, and avx2 too where the CPU has AVX-512")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the twins then run on cuDNN)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time 1-thread rows by the thread's CPU time (a loaded machine)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke test")
    parser.add_argument("--json", action="store_true", help="one JSON line per instruction set")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.threads, args.steps, args.repeats, args.window = [16], [1], 8, 1, 1
    device = torch.device(args.device)
    isas = args.isa or (["native", "avx2"] if device.type == "cpu" and
                        torch.backends.cpu.get_cpu_capability().startswith("AVX512") else ["native"])
    for isa in isas:
        result = run(args, device) if isa == "native" else in_child(AVX2, args)
        print(json.dumps(result) if args.json else report(result, f"{device} ({isa})"), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
