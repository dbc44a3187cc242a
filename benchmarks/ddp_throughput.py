"""Data-parallel throughput on the CPU: P processes x 1 thread (gloo, engine/distributed.py) against
1 process x P threads, the same global batch, the same Trainer; and 1 process x 1 thread, the
base both scale from.

Each measurement is a fresh launch (P ranks with torchrun's environment on 127.0.0.1, or one
process) that trains a few warm-up minibatches, then times ``--window`` minibatches and prints
tokens/s of the global batch; the two set-ups alternate, their order rotating between repeats, so
background load hits all alike.  Quote the ratio of the medians.

    python -m benchmarks.ddp_throughput --procs 2 --hidden 256 --batch 64 --repeats 5
    python -m benchmarks.ddp_throughput --procs 2 4 8        # on a machine with more cores
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from .common import REPO, corpus_source, machine, median

WARMUP = 3  # minibatches before the clock starts: the first ones allocate


def worker(args) -> None:
    """One process of a measurement (a rank when torchrun's environment is set)."""
    import torch

    from engine.config import resolve
    from engine.distributed import DataParallel, launched
    from engine.records import StepRecord
    from engine.tokenfile import load_corpus
    from engine.train import Trainer

    torch.set_num_threads(args.threads)
    dist = DataParallel.start("cpu") if launched() else None
    try:
        corpus, vocab = load_corpus(corpus_source(), max_tokens=args.max_tokens)
        config = resolve(cell=args.cell, hidden=args.hidden, batch=args.batch, steps=args.steps, epochs=1000,
                         iterator="sequential", val_fraction=0, device="cpu", optimizer="sgd", lr=1.0)
        trainer = Trainer(config, corpus, vocab, dist=dist)
        steps = (record for record in trainer.run() if isinstance(record, StepRecord))
        for _ in range(WARMUP):
            next(steps)
        start = time.perf_counter()  # the ranks are in step: each minibatch ends in an all-reduce
        for _ in range(args.window):
            next(steps)
        seconds = time.perf_counter() - start
        if dist is None or dist.is_main:
            print(json.dumps({"tokens_per_sec": args.window * args.batch * args.steps / seconds}), flush=True)
    finally:
        if dist is not None:
            dist.close()


def measure(args, procs: int, threads: int) -> float:
    """tokens/s of one launch: ``procs`` processes of ``threads`` threads each."""
    import socket

    command = [sys.executable, "-m", "benchmarks.ddp_throughput", "--worker", "--threads", str(threads),
               "--cell", args.cell, "--hidden", str(args.hidden), "--batch", str(args.batch), "--steps",
               str(args.steps), "--window", str(args.window), "--max-tokens", str(args.max_tokens)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launches = []
    for rank in range(procs):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        if procs > 1:
            env.update(RANK=str(rank), WORLD_SIZE=str(procs), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(port))
        launches.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate()[0] for p in launches]
    if any(p.returncode for p in launches):
        raise SystemExit(f"a measurement failed ({procs} x {threads})")
    return json.loads(outputs[0].splitlines()[-1])["tokens_per_sec"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, nargs="+", default=[2], help="P: processes (and threads) compared")
    parser.add_argument("--cell", default="rnn")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64, help="the global minibatch")
    parser.add_argument("--steps", type=int, default=35)
    parser.add_argument("--window", type=int, default=20, help="minibatches timed per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=-1)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    import torch

    print(json.dumps(machine(torch.device("cpu"))))
    print(f"{args.cell}, hidden {args.hidden}, global batch {args.batch} x {args.steps} steps, "
          f"{args.window} minibatches timed, {args.repeats} repeats (alternating)")
    for procs in args.procs:
        setups = [("ddp", procs, 1), ("threads", 1, procs), ("one", 1, 1)]
        rates: dict[str, list[float]] = {name: [] for name, _, _ in setups}
        for repeat in range(args.repeats):
            for name, p, t in setups[repeat % 3:] + setups[:repeat % 3]:
                rates[name].append(measure(args, p, t))
        ddp, threads, one = (median(rates[name]) for name, _, _ in setups)
        print(f"{procs} processes x 1 thread: {ddp:,.0f} tok/s   1 process x {procs} threads: {threads:,.0f} tok/s   "
              f"1 x 1: {one:,.0f} tok/s   ratio {ddp / threads:.2f}   speed-ups over 1 x 1: {ddp / one:.2f} "
              f"(processes), {threads / one:.2f} (threads)")


if __name__ == "__main__":
    main()
