"""Training throughput (tokens/s): rnnplay's Trainer against the reference trainers, interleaved.

Every candidate keeps its own model and data stream; a repeat times one window
of minibatches of each candidate in turn (the order rotates between repeats),
so background load hits all of them alike.  The ratios of medians taken this
way are the figures to quote, never the absolute rates of separate runs.

    python -m benchmarks.train_throughput --hidden 128 512 --threads 1 2
    python -m benchmarks.train_throughput --device cuda --batch 32 1024 --threads 0
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F

from engine.config import resolve
from engine.data import seq_data_iter_sequential
from engine.device import resolve_device
from engine.metrics import grad_clipping
from engine.model import RNNConcise, RNNScratch
from engine.optim import SGD
from engine.train import StepRecord, Trainer
from engine.tokenfile import load_corpus

from .common import corpus_source, load_references, median, num_threads, synchronize

LR, CLIP, SEED = 1.0, 1.0, 0  # the book's SGD settings, as the references use them
QUIET = 0.25                   # cores kept busy by other processes, at most, in a counted window


@functools.lru_cache(maxsize=None)
def engine_corpus(max_tokens: int = -1):
    return load_corpus(corpus_source(), max_tokens=max_tokens)


@functools.lru_cache(maxsize=None)
def reference_corpus(max_tokens: int = 0):
    refs = load_references()
    return refs.tm.load_corpus(refs.tm.DEFAULT_CORPUS, max_tokens)


class RefRun:
    """A trainer of ../shared/bench (its model, its minibatches, its train loop)."""

    def __init__(self, kind: str, hidden: int, batch: int, steps: int, max_tokens: int = 0):
        self.refs = load_references()
        self.ids, vocab = reference_corpus(max_tokens)
        torch.manual_seed(SEED)
        module = self.refs.d2l if kind == "d2l" else self.refs.nn_rnn
        model_class = module.ScratchRNN if kind == "d2l" else module.ConciseRNN
        self.model = model_class(len(vocab), hidden)
        self.batch, self.steps = batch, steps
        self.rng = random.Random(SEED)
        self.stream = itertools.chain.from_iterable(self._epoch_batches() for _ in itertools.count())

    def _epoch_batches(self):
        return self.refs.tm.sequential_batches(self.ids, self.batch, self.steps, self.rng)

    def window(self, n: int) -> tuple[int, float]:
        batches = list(itertools.islice(self.stream, n))
        _, tokens, seconds = self.refs.tm.train_epoch(self.model, iter(batches), False, LR, CLIP)
        return tokens, seconds

    def epoch(self) -> tuple[int, float]:
        _, tokens, seconds = self.refs.tm.train_epoch(self.model, self._epoch_batches(), False, LR, CLIP)
        return tokens, seconds


def train_step(model, optimizer, X, Y, state) -> tuple[float, torch.Tensor]:
    """One update as the Trainer makes it: mean cross-entropy, backward, global-norm
    clipping, SGD; returns the loss and the detached state to carry."""
    logits, state = model(X, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_clipping(model, CLIP)
    optimizer.step()
    return float(loss.detach()), state.detach()


class ModelRun:
    """An engine model trained with :func:`train_step` on sequential minibatches (the state
    carried), for models the Trainer does not hold."""

    def __init__(self, model_class, hidden: int, batch: int, steps: int, device: torch.device,
                 max_tokens: int = -1):
        corpus, vocab = engine_corpus(max_tokens)
        self.model = model_class(len(vocab), hidden, device=device,
                                 generator=torch.Generator().manual_seed(SEED))
        self.optimizer = SGD(self.model.parameters(), lr=LR)
        self.device, self.state = device, self.model.begin_state(batch)
        self.corpus, self.batch, self.steps = corpus, batch, steps
        self.data_rng = torch.Generator().manual_seed(SEED + 1)
        self.stream = itertools.chain.from_iterable(self._epoch_batches() for _ in itertools.count())

    def _epoch_batches(self):
        return seq_data_iter_sequential(self.corpus, self.batch, self.steps, generator=self.data_rng)

    def _train(self, batches) -> tuple[int, float]:
        synchronize(self.device)
        start, tokens = time.perf_counter(), 0
        for X, Y in batches:
            X, Y = X.to(self.device), Y.to(self.device)
            _, self.state = train_step(self.model, self.optimizer, X, Y, self.state)
            tokens += Y.numel()
        synchronize(self.device)
        return tokens, time.perf_counter() - start

    def window(self, n: int) -> tuple[int, float]:
        return self._train(list(itertools.islice(self.stream, n)))

    def epoch(self) -> tuple[int, float]:
        return self._train(self._epoch_batches())


class TrainerRun:
    """rnnplay's own path: Trainer.run(), the loop the CLI and the app use (on CUDA each step
    replayed as a CUDA graph, unless ``cuda_graph`` is False)."""

    def __init__(self, hidden: int, batch: int, steps: int, device: torch.device, max_tokens: int = -1,
                 cuda_graph: bool | None = None):
        corpus, vocab = engine_corpus(max_tokens)
        config = resolve(hidden=hidden, batch=batch, steps=steps, lr=LR, clip=CLIP, optimizer="sgd", iterator="sequential",
                             epochs=10**6, val_fraction=0.0, seed=SEED, device=str(device))
        self.trainer = Trainer(config, corpus, vocab, corpus_name="timemachine", cuda_graph=cuda_graph)
        self.records = self.trainer.run()
        self.device = device

    def _pull(self, n: int | None) -> tuple[int, float]:
        """n minibatches, or (n None) up to the end of the current epoch."""
        tokens, per_step = 0, self.trainer.config.batch * self.trainer.config.steps
        start = time.perf_counter()
        for record in self.records:
            if isinstance(record, StepRecord):
                tokens += per_step
                if n is not None and tokens == n * per_step:
                    break
            elif n is None:
                break
        synchronize(self.device)
        return tokens, time.perf_counter() - start

    def window(self, n: int) -> tuple[int, float]:
        return self._pull(n)

    def epoch(self) -> tuple[int, float]:
        return self._pull(None)


def make_runs(names, hidden: int, batch: int, steps: int, device: torch.device, max_tokens: int):
    makers = {
        "d2l": lambda: RefRun("d2l", hidden, batch, steps, max(max_tokens, 0)),
        "nn_rnn": lambda: RefRun("nn_rnn", hidden, batch, steps, max(max_tokens, 0)),
        "cudnn": lambda: ModelRun(RNNConcise, hidden, batch, steps, device, max_tokens),
        "scratch": lambda: ModelRun(RNNScratch, hidden, batch, steps, device, max_tokens),
        "rnnplay": lambda: TrainerRun(hidden, batch, steps, device, max_tokens),
        "eager": lambda: TrainerRun(hidden, batch, steps, device, max_tokens, cuda_graph=False),
    }
    return {name: makers[name]() for name in names}


def default_candidates(device: torch.device) -> list[str]:
    """The references of ../shared/bench are CPU-only; on CUDA nn.RNN means cuDNN."""
    if device.type == "cuda":
        return ["cudnn", "scratch", "eager", "rnnplay"]
    refs = ["d2l", "nn_rnn"] if load_references() is not None else []
    return refs + ["scratch", "rnnplay"]


def ratios(medians: dict[str, float]) -> dict[str, float]:
    out = {}
    for ours in ("rnnplay", "eager", "scratch"):
        for ref in ("d2l", "nn_rnn", "cudnn"):
            if ours in medians and ref in medians and medians[ref] > 0:
                out[f"{ours}/{ref}"] = round(medians[ours] / medians[ref], 3)
    return out


def measure_cell(names, *, hidden: int, batch: int, steps: int, threads: int | None,
                 device: torch.device, repeats: int, window: int | None, max_tokens: int = -1) -> dict:
    """Interleaved medians for one setting; ``window`` None times whole epochs.

    Where ../shared/bench's load probe is at hand, windows during which other processes took
    more than QUIET of the cores our threads use are left out of the medians (all windows stay
    in the JSON): on a shared 2-core machine such a window runs several times slower."""
    refs = load_references()
    with num_threads(threads):
        runs = make_runs(names, hidden, batch, steps, device, max_tokens)
        for run in runs.values():  # warm-up: allocator, thread pool, lazy inits
            run.window(1)
        rates = {name: [] for name in names}
        loads = {name: [] for name in names}
        for r in range(repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                probe = refs.tm.ForeignLoad() if refs is not None else None
                tokens, seconds = runs[name].window(window) if window else runs[name].epoch()
                rates[name].append(tokens / seconds)
                loads[name].append(probe and probe.cores())
        spare = max(0, (os.cpu_count() or 1) - torch.get_num_threads())  # cores others may use freely
        quiet = {name: [rate for rate, load in zip(rates[name], loads[name])
                        if load is None or load <= spare + QUIET] for name in names}
        medians = {name: median(quiet[name] or rates[name]) for name in names}
        return {"hidden": hidden, "batch": batch, "steps": steps, "device": str(device),
                "threads": torch.get_num_threads(), "mode": f"{window} minibatches" if window else "epoch",
                "repeats": repeats, "tokens_per_sec": {k: round(v) for k, v in medians.items()},
                "quiet_windows": min(len(v) for v in quiet.values()),
                "all_tokens_per_sec": {k: [round(x) for x in v] for k, v in rates.items()},
                "other_load_cores": {k: [x if x is None else round(x, 2) for x in v] for k, v in loads.items()},
                "ratios": ratios(medians)}


def loss_trajectory_check(*, hidden: int = 128, batch: int = 32, steps: int = 35, n: int = 15,
                          model_classes=(RNNScratch,)) -> dict:
    """The same weights and minibatches through the d2l reference (plain autograd) and through
    each engine model with the Trainer's update: the largest loss difference over n steps."""
    refs = load_references()
    ids, vocab = reference_corpus(0)
    torch.manual_seed(SEED)
    ref = refs.d2l.ScratchRNN(len(vocab), hidden)
    start = {name: t.clone() for name, t in ref.state_dict().items()}
    batches = list(itertools.islice(refs.tm.random_batches(ids, batch, steps, random.Random(SEED)), n))
    ref_losses = [math.log(refs.tm.train_epoch(ref, iter([b]), True, LR, CLIP)[0]) for b in batches]
    out = {}
    for model_class in model_classes:
        model = model_class(len(vocab), hidden)
        with torch.no_grad():
            for name, p in zip(("W_xh", "W_hh", "b_h", "W_hq", "b_q"), model.params):
                p.copy_(start[name])
        optimizer = SGD(model.parameters(), lr=LR)
        # a fresh state per minibatch, as the reference's random iterator
        losses = [train_step(model, optimizer, X, Y, model.begin_state(batch))[0] for X, Y in batches]
        out[model_class.__name__] = max(abs(a - b) for a, b in zip(losses, ref_losses))
    return {"hidden": hidden, "steps_compared": n, "max_abs_loss_difference": out,
            "reference_first_last_loss": [round(ref_losses[0], 5), round(ref_losses[-1], 5)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, nargs="+", default=[512])
    parser.add_argument("--batch", type=int, nargs="+", default=[32])
    parser.add_argument("--steps", type=int, default=35)
    parser.add_argument("--threads", type=int, nargs="+", default=[2], help="0: torch's default")
    parser.add_argument("--candidates", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=int, default=20, help="minibatches per timing; 0: whole epochs")
    parser.add_argument("--max-tokens", type=int, default=-1)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    names = args.candidates or default_candidates(device)
    for threads, batch, hidden in itertools.product(args.threads, args.batch, args.hidden):
        cell = measure_cell(names, hidden=hidden, batch=batch, steps=args.steps, threads=threads or None,
                            device=device, repeats=args.repeats, window=args.window or None,
                            max_tokens=args.max_tokens)
        print(json.dumps(cell), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
