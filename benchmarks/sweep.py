"""Hyperparameter sweep of the training loop under token budgets, in parallel worker processes.

Held-out perplexity after "5 minutes on a given CPU" is a token budget: that machine's
tokens/s for a configuration times 300 s.  A sweep turns each candidate into such a budget
(``tokens``), and runs the candidates side by side, on as many cores as another machine has,
each in its own process with ``--threads`` threads.  The cosine schedule's clock is then the
token budget instead of the clock (``epochs`` is set so that the run ends at the budget), so
each candidate trains exactly as it would for 300 s there, only elsewhere and at the same time.

    python -m benchmarks.sweep PLAN.json --workers 7 --threads 2 --log epochs.jsonl

PLAN.json: ``{"corpus": PATH, "jobs": [{"name": ..., "tokens": N, "config": {TrainConfig
fields, as engine.config.resolve takes them: a "lr" without an "optimizer" means SGD}}, ...]}``.  A job may add an experiment the engine does not offer (the README's table of
what was tried): ``ema`` (validate a moving average of the weights, with this decay),
``input_dropout`` (on the one-hot input terms), ``weight_drop`` (DropConnect on W_h), ``locked``
(one dropout mask for all steps), ``embed_dropout`` (the embedding's own rate), ``blank`` (a
fraction of input characters replaced by <unk>).  Every epoch appends a JSON line to ``--log``; the table of best
held-out perplexities is printed at the end.  Workers claim jobs from a queue directory, so
``--device cuda`` workers started later (another invocation with the same ``--queue``) share it.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import time
from pathlib import Path


def _claim(queue: Path) -> dict | None:
    for path in sorted(queue.glob("*.json")):
        taken = path.with_suffix(".taken")
        try:
            os.rename(path, taken)  # atomic: one worker wins
        except OSError:
            continue
        return json.loads(taken.read_text())
    return None


def _append(log: Path, record: dict) -> None:
    with open(log, "a") as f:  # one short line per write: O_APPEND keeps lines whole
        f.write(json.dumps(record) + "\n")


def _with_ema(trainer, decay: float):
    """Validate (and keep as best) an exponential moving average of the weights."""
    import torch

    params = trainer.model.params
    average = [p.detach().clone() for p in params]

    def after_step():
        with torch.no_grad():
            torch._foreach_lerp_(average, [p.detach() for p in params], 1 - decay)

    trainer.hooks.after_step, trainer.hooks.eval_weights = after_step, lambda: average
    return trainer


def _with_input_dropout(trainer, p: float):
    """Dropout on the first layer's input terms X_t W_x (a one-hot row of W_x is the input's
    embedding), before the biases are added (an experiment, as the calibration's embedding dropout)."""
    import torch
    import torch.nn.functional as F

    model = trainer.model
    input_terms = model._input_terms

    def dropped(layer, inputs):
        terms = input_terms(layer, inputs)
        if layer or not model.training:
            return terms
        b = torch.cat(model.layer_params(0, "b_"))
        return b + F.dropout(terms - b, p, True)

    model._input_terms = dropped
    return trainer


def _with_weight_drop(trainer, p: float):
    """DropConnect on the hidden-to-hidden weights (AWD-LSTM's weight drop): one mask per
    minibatch, the same at every time step (an experiment)."""
    import torch.nn.functional as F

    model = trainer.model
    layer_params = model.layer_params

    def dropped(layer, kind):
        params = layer_params(layer, kind)
        if kind != "W_h" or not model.training:
            return params
        return [F.dropout(W, p, True) for W in params]

    model.layer_params = dropped
    return trainer


def _with_locked_dropout(trainer):
    """Dropout masks shared by all time steps (variational dropout) between layers and before the
    output layer, instead of a new mask per step (an experiment).  It replaces engine.gated's F for
    the whole process: _run_job puts the real one back after the job."""
    import types

    import torch.nn.functional as F

    from engine import gated

    def dropout(x, p=0.5, training=True, inplace=False):
        if not training or not p or x.dim() != 3:
            return F.dropout(x, p, training)
        mask = x.new_empty(1, *x.shape[1:]).bernoulli_(1 - p).div_(1 - p)  # (1, batch, H): time-major
        return x * mask

    gated.F = types.SimpleNamespace(**{name: getattr(F, name) for name in dir(F) if not name.startswith("__")})
    gated.F.dropout = dropout
    return trainer


def _with_embed_dropout(trainer, p: float):
    """The embedding's own dropout rate, apart from the one between layers and before the output."""
    model = trainer.model
    input_terms = model._input_terms

    def dropped(layer, inputs):
        if layer:
            return input_terms(layer, inputs)
        kept, model.dropout = model.dropout, p
        try:
            return input_terms(layer, inputs)
        finally:
            model.dropout = kept

    model._input_terms = dropped
    return trainer


def _with_blank_noise(trainer, p: float):
    """Blank noising (Xie et al. 2017): a fraction p of the input tokens, not the targets, replaced
    by <unk>, which the text never uses, so the model learns to predict from a damaged context."""
    import torch

    unk = trainer.vocab.unk

    def blank(X, Y):
        noise = torch.rand(X.shape) < p
        return torch.where(noise, torch.full_like(X, unk), X), Y

    trainer.hooks.batch = blank
    return trainer


def _run_job(job: dict, corpus, vocab, device: str, log: Path, deadline: float) -> dict:
    from engine import gated

    functional = gated.F
    try:
        return _train_job(job, corpus, vocab, device, log, deadline)
    finally:
        gated.F = functional  # undo _with_locked_dropout: the worker's next job runs plain


def _train_job(job: dict, corpus, vocab, device: str, log: Path, deadline: float) -> dict:
    from dataclasses import replace

    import torch

    from engine.config import resolve
    from engine.train import EpochRecord, Trainer

    config = resolve(**{**job["config"], "device": device, "epochs": 1})
    text = corpus[:config.max_tokens] if config.max_tokens > 0 else corpus
    per_epoch_tokens = Trainer(config, text, vocab).steps_per_epoch * config.batch * config.steps
    config = replace(config, epochs=max(1, round(job["tokens"] / per_epoch_tokens)))
    trainer = Trainer(config, text, vocab)
    if job.get("ema"):
        _with_ema(trainer, job["ema"])
    if job.get("input_dropout"):
        _with_input_dropout(trainer, job["input_dropout"])
    if job.get("weight_drop"):
        _with_weight_drop(trainer, job["weight_drop"])
    if job.get("locked"):
        _with_locked_dropout(trainer)
    if job.get("embed_dropout") is not None:
        _with_embed_dropout(trainer, job["embed_dropout"])
    if job.get("blank"):
        _with_blank_noise(trainer, job["blank"])
    best, best_epoch, start = math.inf, 0, time.perf_counter()
    for record in trainer.run():
        if isinstance(record, EpochRecord):
            if record.val_perplexity is not None and record.val_perplexity < best:
                best, best_epoch = record.val_perplexity, record.epoch
            _append(log, {"job": job["name"], "epoch": record.epoch, "of": trainer.config.epochs,
                          "train": round(record.train_perplexity, 4),
                          "val": round(record.val_perplexity, 4) if record.val_perplexity else None,
                          "tok_s": round(record.tokens_per_sec), "wall": round(time.perf_counter() - start, 1),
                          "device": device})
        elif time.time() > deadline:
            break
    result = {"job": job["name"], "best_val": round(best, 4), "best_epoch": best_epoch,
              "epochs_done": trainer.epoch, "epochs": trainer.config.epochs,
              "finished": trainer.epoch >= trainer.config.epochs, "device": device,
              "threads": torch.get_num_threads(), "wall": round(time.perf_counter() - start, 1)}
    _append(log, result)
    return result


def _worker(queue: str, corpus_path: str, device: str, threads: int, log: str, deadline: float) -> None:
    import torch

    from engine.tokenfile import load_corpus

    torch.set_num_threads(threads)
    corpus, vocab = load_corpus(corpus_path, "char")
    while time.time() < deadline and (job := _claim(Path(queue))) is not None:
        try:
            result = _run_job(job, corpus, vocab, device, Path(log), deadline)
            print(json.dumps(result), flush=True)
        except Exception as exc:  # one bad job must not end the sweep
            _append(Path(log), {"job": job["name"], "error": f"{type(exc).__name__}: {exc}"})
            print(f"sweep: {job['name']} failed: {type(exc).__name__}: {exc}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", nargs="?", help="the plan (JSON); without it, only join --queue's workers")
    parser.add_argument("--queue", default="/tmp/rnnplay-sweep-queue")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--log", default="sweep.jsonl")
    parser.add_argument("--corpus", help="the corpus when only joining (default: the plan's)")
    parser.add_argument("--deadline", type=float, default=3600, help="seconds from now: stop every job then")
    args = parser.parse_args(argv)
    queue = Path(args.queue)
    corpus = args.corpus
    if args.plan:
        plan = json.loads(Path(args.plan).read_text())
        queue.mkdir(parents=True, exist_ok=True)
        for i, job in enumerate(plan["jobs"]):
            (queue / f"{i:03d}.json").write_text(json.dumps(job))
        corpus = corpus or plan["corpus"]
    deadline = time.time() + args.deadline
    context = mp.get_context("spawn")
    workers = [context.Process(target=_worker, args=(str(queue), corpus, args.device, args.threads, args.log,
                                                      deadline)) for _ in range(args.workers)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results = {}
    for line in Path(args.log).read_text().splitlines() if Path(args.log).exists() else []:
        record = json.loads(line)
        if "best_val" in record:
            results[record["job"]] = record
    print(f"{'job':28} {'best val':>8} {'epoch':>5} {'of':>4} {'device':>6} {'wall s':>7}")
    for r in sorted(results.values(), key=lambda r: r["best_val"]):
        print(f"{r['job']:28} {r['best_val']:8.3f} {r['best_epoch']:5d} {r['epochs']:4d} {r['device']:>6} "
              f"{r['wall']:7.0f}{'' if r['finished'] else '  (cut at the deadline)'}")


if __name__ == "__main__":
    main()
