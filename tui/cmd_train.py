"""``rnnplay train``: train the scratch RNN with a progress bar, save a checkpoint, print a summary."""
from __future__ import annotations

import argparse
import signal
import statistics
import sys
from pathlib import Path

from tui.options import (add_source_arguments, add_threads_argument, add_train_arguments, given_train_options,
                          option_names, positive, train_config_from_args)

SAMPLE_PREFIX = "time traveller "
SAMPLES = 10  # greedy samples printed over a run (every epoch gets a line)
ADAM_LR_WARNING = 0.1


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train", help="train the from-scratch RNN on a corpus",
        description="Train the from-scratch character (or word) RNN of Dive into Deep Learning 8.5 (or "
                    "its GRU and LSTM, 10.1-10.3), "
                    "showing perplexity, gradient norm and speed; saves a checkpoint that "
                    "`rnnplay generate` and the app can write with.  Ctrl+C (or SIGTERM) stops after "
                    "the current minibatch and saves.  The save path is checked before training: a new name "
                    "in a writable folder, or an existing rnnplay checkpoint (which is replaced, and you are "
                    "told so); never a folder, a device, a FIFO, the training text or another file.",
    )
    add_train_arguments(parser)
    add_source_arguments(parser)
    parser.add_argument("--save", metavar="PATH", default=None,
                        help="checkpoint file to write (default: CORPUS-TOKEN.safetensors in the "
                             "checkpoint folder)")
    parser.add_argument("--resume", metavar="PATH", default=None,
                        help="continue the run saved in this checkpoint (its configuration is kept; "
                             "--epochs, --time-budget and --device may change, and --corpus says where the "
                             "run's text is now if it moved: it must be the same text)")
    parser.add_argument("--log", "--metrics-log", metavar="PATH", default=None, dest="log",
                        help="write every step and epoch record to this metrics log, one JSON line each (a new "
                             "file, or an existing log, which a resumed run adds to); `rnnplay log PATH` "
                             "summarises it or turns it into CSV (under torchrun spell it --metrics-log: "
                             "torchrun reads --log as its own --log-dir)")
    parser.add_argument("--tensorboard", metavar="DIR", default=None,
                        help="also write the records as TensorBoard scalars in this folder (needs the "
                             "optional tensorboard package: pip install 'rnnplay[tensorboard]')")
    add_threads_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="progress on stderr and one JSON summary line on stdout")
    parser.add_argument("--nproc", type=positive(int, "processes"), metavar="N", default=None,
                        help="train data-parallel in N processes on this machine (launches torchrun with this "
                             "command line; under torchrun itself, leave it out): --batch stays the global "
                             "minibatch, each process taking batch/N of its rows; one process prints")
    parser.add_argument("--dist-timeout", type=positive(float, "seconds"), metavar="SECONDS", default=None,
                        help="data-parallel runs: how long a process waits for a silent other one before the "
                             "run ends with an error (default: 600)")
    parser.set_defaults(run=run)
    return parser


def _node_first(dist, fn):
    """``fn()``; data-parallel, on each machine's first process before the others (which then find
    the token file it prepared), an error on any process being every one's."""
    return fn() if dist is None else dist.local_main_first(fn)


def _progress_bar(dist):
    """A bar while the corpus is prepared; data-parallel, on the first process only."""
    from contextlib import nullcontext

    from tui.progress import progress_bar

    return progress_bar() if dist is None or dist.is_main else nullcontext()


def _make_trainer(args, dist=None):
    from engine.checkpoint import RESUMABLE
    from engine.errors import ConfigError
    from engine.tokenfile import prepare
    from engine.train import Trainer

    if args.resume:
        given = given_train_options(args)
        ignored = set(given) - set(RESUMABLE)
        if ignored:
            raise ConfigError(f"--resume keeps the checkpoint's configuration; drop {option_names(ignored)} "
                              f"(only {option_names(RESUMABLE)} and --corpus may be given)")
        with _progress_bar(dist) as progress:  # the corpus is prepared again (or found prepared)
            trainer = _node_first(dist, lambda: Trainer.load(args.resume, source=args.corpus, changes=given,
                                                             encoding=args.encoding, max_bytes=args.max_bytes,
                                                             progress=progress, dist=dist))
        return trainer, trainer.notice
    config = train_config_from_args(args)
    with _progress_bar(dist) as progress:
        prepared = _node_first(dist, lambda: prepare(args.corpus, config.token, config.mode, encoding=args.encoding,
                                                     max_bytes=args.max_bytes, progress=progress))
    if dist is not None:  # several machines: each prepared its own token file, which must be the same
        dist.check_same(prepared.tokens_sha1, "token file (SHA-1 of its tokens)")
    return (Trainer(config, prepared.corpus(config.max_tokens), prepared.vocab, corpus_name=prepared.name,
                    dist=dist), prepared.notice)


def _check_ranks_agree(dist, trainer) -> None:
    """Every process trains the same run: the same vocabulary, configuration and position."""
    import hashlib
    import json
    from dataclasses import asdict

    vocab = hashlib.sha1(json.dumps(trainer.vocab.idx_to_token).encode()).hexdigest()
    dist.check_same(vocab, "vocabulary")
    dist.check_same([asdict(trainer.config), trainer.global_step], "configuration or resumed checkpoint")


def _save_path(args, trainer) -> Path:
    from engine.paths import default_checkpoint

    if args.save:
        return Path(args.save)
    if args.resume:
        return Path(args.resume)
    return default_checkpoint(trainer.corpus_name, trainer.config.token)


def _sample(trainer, *, best: bool) -> str:
    from engine.generate import generate

    length = 50 if trainer.config.token == "char" else 15
    model = trainer.snapshot_model(best=best)
    return SAMPLE_PREFIX + "".join(generate(model, trainer.vocab, SAMPLE_PREFIX, length))


def _quoted(sample: str) -> str:
    """A sample as the terminal shows it: quoted, its control characters shown (engine.escape)."""
    from engine.escape import printable

    return f"'{printable(sample)}'"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _epoch_line(record, sample: str | None) -> str:
    line = (f"epoch {record.epoch:4d}  train ppl {record.train_perplexity:8.3f}  "
            f"val ppl {_fmt(record.val_perplexity):>8}{'*' if record.is_best else ' '}  "
            f"{record.tokens_per_sec:9,.0f} tok/s  {record.elapsed:7.1f} s")
    return line if sample is None else f"{line}  {_quoted(sample)}"


class Tally:
    """The records of this invocation, and the summary they add up to."""

    def __init__(self, trainer):
        self.trainer, self.start_elapsed = trainer, trainer.elapsed
        self.epochs, self.norms, self.clipped, self.skipped, self.last_step = [], [], 0, 0, None

    def add_step(self, record) -> None:
        if record.skipped:  # a NaN or infinite step: no update, and no norm to average
            self.skipped += 1
            return
        self.last_step = record
        self.norms.append(record.grad_norm)
        self.clipped += record.clipped

    def summary(self, save_path: Path | None) -> dict:
        epochs, last = self.epochs, self.last_step
        return {
            "epochs": self.trainer.epoch,
            "steps": self.trainer.global_step,
            "seconds": round(self.trainer.elapsed - self.start_elapsed, 3),
            "tokens_per_sec": round(statistics.median(e.tokens_per_sec for e in epochs) if epochs
                                    else last.tokens_per_sec if last else 0.0, 1),
            "train_perplexity": epochs[-1].train_perplexity if epochs else last.perplexity if last else None,
            "val_perplexity": epochs[-1].val_perplexity if epochs else None,
            "best_val_perplexity": self.trainer.best_val_perplexity,
            "grad_norm_mean": statistics.fmean(self.norms) if self.norms else None,
            "clipped_fraction": self.clipped / len(self.norms) if self.norms else None,
            "skipped_steps": self.skipped,
            "sample": _sample(self.trainer, best=True),
            "checkpoint": None if save_path is None else str(save_path),
        }


def _try_save(trainer, path: Path, after: str) -> bool:
    """Save, or say why not (disk full, read-only folder) and go on: the last good file stays."""
    from engine.errors import CheckpointError

    try:
        trainer.save(path)
    except CheckpointError as exc:
        print(f"rnnplay: error: {exc}; {after}", file=sys.stderr)
        return False
    return True


def _open_sinks(args) -> list:
    """The metrics log and TensorBoard writer asked for, each opened (or refused) before training."""
    sinks = []
    if args.log:
        from engine.metrics_log import MetricsLog

        sinks.append(MetricsLog(args.log))
    if args.tensorboard:
        from engine.tensorboard_log import TensorboardScalars

        sinks.append(TensorboardScalars(args.tensorboard))
    return sinks


def _write(sinks: list, record) -> None:
    """``record`` to every sink; a log that just failed (a full disk) says so once, and training
    goes on."""
    from engine.escape import printable

    for sink in sinks:
        failed = sink.write(record)
        if failed:
            print(f"rnnplay: warning: {printable(failed)}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from engine.distributed import DEFAULT_TIMEOUT, DataParallel, launched
    from engine.errors import ConfigError

    if args.nproc:
        if launched():
            raise ConfigError("--nproc starts torchrun itself: leave it out of a command that torchrun runs", "nproc")
        from tui.torchrun import launch

        return launch(args.argv, args.nproc)
    dist = DataParallel.start(args.device or "auto", args.dist_timeout or DEFAULT_TIMEOUT) if launched() else None
    try:
        # a --log or --tensorboard that cannot be written is refused before any work (only the first
        # process of a data-parallel run writes them)
        sinks = []
        if dist is None:
            sinks = _open_sinks(args)
        else:
            dist.main_only(lambda: sinks.extend(_open_sinks(args)))
        try:
            return _train(args, sinks, dist)
        finally:
            for sink in sinks:
                sink.close()
    finally:
        if dist is not None:
            dist.close()


def _train(args: argparse.Namespace, sinks: list, dist) -> int:
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.checkpoint_file import check_save_target
    from engine.distributed import WorkerLost
    from engine.escape import json_line, printable
    from engine.train import EpochRecord

    main = dist is None or dist.is_main  # data-parallel: the first process alone prints and logs
    # no markup: a sample or a path may hold [brackets] that rich would read as styles
    console = Console(stderr=args.json, highlight=False, soft_wrap=True, markup=False, quiet=not main)
    torch.set_num_threads(args.threads)
    trainer, notice = _make_trainer(args, dist)
    if dist is not None:
        _check_ranks_agree(dist, trainer)
    if notice and main:
        print(f"rnnplay: {printable(notice)}", file=sys.stderr)
    save_path = _save_path(args, trainer)

    def check_target():
        return check_save_target(save_path, corpus=trainer.corpus_name, resumed=args.resume)

    replacing = check_target() if dist is None else dist.main_only(check_target)
    if replacing and main:
        print(f"rnnplay: {printable(replacing)}", file=sys.stderr)
    cfg = trainer.config
    if dist is not None:
        console.print(f"data-parallel: {dist.world_size} processes, {cfg.batch // dist.world_size} rows of each "
                      f"minibatch each, on {dist.device}")
    if cfg.optimizer == "adam" and cfg.lr >= ADAM_LR_WARNING and main:
        print(f"rnnplay: lr {cfg.lr:g} is far above Adam's usual range (around 0.001-0.01); "
              f"the book's recipe is --optimizer sgd --lr 1", file=sys.stderr)
    console.print(f"training on {printable(trainer.corpus_name)} ({cfg.mode} {cfg.token}s, "
                  f"vocabulary {len(trainer.vocab)}) on "
                  f"{trainer.device}: {cfg.cell}, {cfg.layers} layer(s), hidden {cfg.hidden}, "
                  f"{f'embedding {cfg.embed}, ' if cfg.embed else ''}dropout {cfg.dropout:g}, "
                  f"weight decay {cfg.weight_decay:g}, steps {cfg.steps}, batch {cfg.batch}, {cfg.optimizer} lr "
                  f"{cfg.lr:g} {cfg.schedule}, clip {cfg.clip:g}, {cfg.iterator} minibatches")
    sample_every = max(1, cfg.epochs // SAMPLES)
    # under a time budget (the epochs then have no limit), every tenth of the budget instead
    sample_seconds, next_sample = cfg.time_budget / SAMPLES, cfg.time_budget / SAMPLES
    tally = Tally(trainer)
    _write(sinks, trainer.info())
    interrupted = 0  # the signal that asked to stop
    aborted, saved = False, True

    def on_signal(signum, frame):
        nonlocal interrupted
        if interrupted:  # a second Ctrl+C (or SIGTERM): give up at once
            raise KeyboardInterrupt
        interrupted = signum  # the loop ends after the record of the minibatch under way
        console.print("stopping after this minibatch (Ctrl+C again to abort without saving)")

    # SIGTERM (a closed terminal, `kill`, a job scheduler) stops as gently as Ctrl+C does
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    columns = (TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("ppl {task.fields[ppl]:.3f}  |g| {task.fields[norm]:.2f}  "
                                                "{task.fields[speed]:,.0f} tok/s  val {task.fields[val]}"),
               TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("train", total=None, epoch=trainer.epoch + 1, epochs=cfg.epochs,
                                     ppl=float("nan"), norm=0.0, speed=0.0, val="-")
            for record in trainer.run():
                _write(sinks, record)
                if isinstance(record, EpochRecord):
                    tally.epochs.append(record)
                    progress.update(task, val=_fmt(record.val_perplexity))
                    if cfg.time_budget:
                        sample = record.elapsed >= next_sample
                        if sample:
                            next_sample = (record.elapsed // sample_seconds + 1) * sample_seconds
                    else:
                        sample = record.epoch % sample_every == 0 or record.epoch == cfg.epochs
                    console.print(_epoch_line(record, _sample(trainer, best=False) if sample and main else None))
                    if trainer.epoch < cfg.epochs:  # each epoch, so a crash loses little
                        _try_save(trainer, save_path, "training goes on and the next epoch tries again")
                else:
                    tally.add_step(record)
                    progress.update(task, completed=record.step, total=record.steps_per_epoch,
                                    epoch=record.epoch, ppl=record.perplexity, norm=record.grad_norm,
                                    speed=record.tokens_per_sec)
                # data-parallel: every process stops after the same minibatch, when any was asked to
                if dist.any_rank(bool(interrupted)) if dist is not None else interrupted:
                    break
    except (KeyboardInterrupt, WorkerLost):  # a second Ctrl+C may land mid-step, a lost process
        aborted = True                       # leaves nobody to save with: save nothing
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if trainer.dirty and not aborted:
            saved = _try_save(trainer, save_path, "the previous checkpoint, if any, is unchanged")
    if saved:
        console.print(f"saved {printable(str(save_path))}")
    if not main:
        return 128 + interrupted if interrupted else 0 if saved else 1
    summary = tally.summary(save_path if saved else None)
    if args.json:
        print(json_line(summary), flush=True)
    else:
        console.print(f"{summary['epochs']} epochs, {summary['steps']} steps in {summary['seconds']:.1f} s "
                      f"({summary['tokens_per_sec']:,.0f} tok/s); train perplexity "
                      f"{_fmt(summary['train_perplexity'])}, best validation perplexity "
                      f"{_fmt(summary['best_val_perplexity'])}")
        console.print(f"sample: {_quoted(summary['sample'])}")
    if interrupted:
        return 128 + interrupted
    return 0 if saved else 1
