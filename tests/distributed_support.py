"""Launching data-parallel ranks for the tests, and the work the ranks of the equivalence test do.

``launch(...)`` starts W processes with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT: a free port on 127.0.0.1), one thread each.  Run as a script, this module
is one rank of the equivalence test: every case of CASES in one process group (starting processes
and importing torch is the slow part), rank 0 writing what each case ended with under OUT.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated ")
WORLD = 2
PER_RANK = 3             # rows of each minibatch a rank takes
STEPS = 9                # optimizer steps compared: past the end of the first epoch (see test)
RESUME_AT = 2            # the interrupted runs stop after this many steps: mid-epoch, a state carried
CLIP = {"rnn": 0.24, "gru": 0.3, "lstm": 0.33}  # about the median gradient norm of these runs
CASES = [(cell, iterator, optimizer) for cell in ("rnn", "gru", "lstm") for iterator in ("sequential", "random")
         for optimizer in ("adam", "sgd")]


def config(cell: str, iterator: str, optimizer: str, batch: int):
    from engine import resolve

    # the clip bites at some steps, not all (the test checks it): a gradient of the wrong scale shows
    # even under Adam, which is otherwise blind to it; gru/lstm: two layers, weight
    # decay and the cosine schedule by default; no dropout, whose masks are drawn per rank
    return resolve(cell=cell, iterator=iterator, optimizer=optimizer, batch=batch, hidden=8, steps=6, epochs=3,
                   lr=0.01 if optimizer == "adam" else 1.0, clip=CLIP[cell], device="cpu", seed=7, val_fraction=0.1,
                   dropout=0.0)


def trainer(case, batch: int, dist=None):
    from engine.train import Trainer
    from engine.vocab import corpus_from_text

    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(config(*case, batch), corpus, vocab, corpus_name="", dist=dist)


def train_to(trainer, step: int) -> list[bool]:
    """Run until ``step`` steps are done; the clipped flag of each step taken."""
    from engine.records import StepRecord

    clipped = []
    if trainer.global_step >= step:
        return clipped
    for record in trainer.run():
        if isinstance(record, StepRecord):
            clipped.append(record.clipped)
            if record.global_step >= step:
                break
    return clipped


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_environment(rank: int, world: int, port: int, local_rank: int | None = None) -> dict:
    env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank if local_rank is None
                                                                               else local_rank),
               MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def launch(args, world: int = WORLD, **popen) -> list[subprocess.Popen]:
    """``python ARGS`` as ``world`` ranks on 127.0.0.1, started at once (they meet at the port);
    ``args`` and each of ``popen``'s values may be a function of the rank."""
    port = free_port()
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    of = lambda value, rank: value(rank) if callable(value) else value  # noqa: E731
    return [subprocess.Popen([sys.executable, *of(args, rank)], env=rank_environment(rank, world, port), cwd=REPO,
                             text=True, **{key: of(value, rank) for key, value in popen.items()})
            for rank in range(world)]


def finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append((proc.returncode, out, err))
    return results


def rank_main(out: Path) -> None:
    """One rank: each case for STEPS steps (params and clipped flags saved by rank 0); then the
    resume legs: a W=2 checkpoint at RESUME_AT for the test to finish alone, and the W=1 checkpoint
    the test wrote, continued here with W=2."""
    import torch

    from engine.distributed import DataParallel
    from engine.train import Trainer
    from engine.vocab import corpus_from_text

    torch.set_num_threads(1)
    dist = DataParallel.start("cpu", timeout=60)
    try:
        results = {}
        for case in CASES:
            t = trainer(case, WORLD * PER_RANK, dist)
            clipped = train_to(t, STEPS)
            results["-".join(case)] = ([p.detach().clone() for p in t.model.params], clipped, t.epoch)
        resumed = {}
        for case in (("lstm", "sequential", "adam"), ("gru", "sequential", "sgd")):
            name = "-".join(case)
            t = trainer(case, WORLD * PER_RANK, dist)
            train_to(t, RESUME_AT)
            t.save(out / f"{name}-w2.safetensors")
            t = Trainer.load(out / f"{name}-w1.safetensors", corpus=corpus_from_text(TEXT)[0], dist=dist)
            train_to(t, STEPS)
            resumed[name] = [p.detach().clone() for p in t.model.params]
        if dist.is_main:
            torch.save({"cases": results, "resumed": resumed}, out / "results.pt")
    finally:
        dist.close()


def full_disk_on_rank0(argv: list[str]) -> int:
    """``rnnplay ARGV`` with every fsync failing on rank 0, as on a full disk (its saves fail)."""
    import errno

    from tui.cli import main

    if os.environ.get("RANK") == "0":
        def disk_full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")
        os.fsync = disk_full
    return main(argv)


if __name__ == "__main__":
    if sys.argv[1] == "full-disk-on-rank0":
        sys.exit(full_disk_on_rank0(sys.argv[2:]))
    rank_main(Path(sys.argv[1]))
