"""``rnnplay compare``: train each cell for the same wall-clock budget on the same split and print
held-out perplexity, best epoch, speed and size, under the best n-gram baseline."""
from __future__ import annotations

import argparse
import statistics
import sys

from engine.config import MAX_SECONDS, MAX_SEED
from tui.options import add_mode_argument, add_source_arguments, add_threads_argument


def _cells(value: str) -> list[str]:
    from engine.config import CELLS

    cells = [c.strip() for c in value.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if not cells or unknown:
        raise argparse.ArgumentTypeError(f"{value!r}: give a comma-separated list of {', '.join(CELLS)}")
    return list(dict.fromkeys(cells))


def _budget(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{value!r}: the budget is a positive number of seconds, "
                                         f"at most {MAX_SECONDS:,}")
    return seconds


def add_parser(subparsers) -> argparse.ArgumentParser:
    from engine.corpus import BUILTINS

    parser = subparsers.add_parser(
        "compare", help="train RNN, GRU and LSTM for the same time and compare them",
        description="Train each cell with its defaults for the same wall-clock budget on the same "
                    "90/10 split as the n-gram baselines, then print each one's best held-out "
                    "perplexity, best epoch, training tokens/s and parameter count, with the best "
                    "add-alpha n-gram model as the first row.",
    )
    parser.add_argument("--cells", type=_cells, default=["rnn", "gru", "lstm"], metavar="LIST",
                        help="comma-separated cells to train, in order (default: rnn,gru,lstm)")
    parser.add_argument("--budget", type=_budget, default=120.0, metavar="SECONDS",
                        help=f"training seconds per cell, validation included, at most {MAX_SECONDS:,} "
                             f"(default: 120)")
    parser.add_argument("--corpus", metavar="SOURCE", default=None,
                        help=f"{' or '.join(BUILTINS)} or a text file (default: timemachine)")
    add_mode_argument(parser)
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help=f"random seed, 0 to {MAX_SEED:,} (default: 0)")
    parser.add_argument("--device", default="auto", metavar="D", help="auto|cpu|cuda (default: auto)")
    add_threads_argument(parser)
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true",
                        help="progress on stderr and one JSON line on stdout")
    parser.set_defaults(run=run)
    return parser


def cell_config(cell: str, args):
    """The configuration ``cell`` trains with: its defaults, the budget, the seed, the device and
    the text's mode as given (engine.config.resolve)."""
    from engine.config import resolve

    return resolve(cell=cell, time_budget=args.budget, seed=args.seed, device=args.device, mode=args.mode)


def train_cell(cell: str, corpus, vocab, corpus_name: str, args, log) -> dict:
    """One run of ``cell`` with its defaults for ``args.budget`` seconds: its result row."""
    from engine.cells import count_parameters
    from engine.train import EpochRecord, Trainer

    config = cell_config(cell, args)
    trainer = Trainer(config, corpus, vocab, corpus_name=corpus_name)
    best_epoch, speeds, last = None, [], None
    for record in trainer.run():
        if isinstance(record, EpochRecord):
            speeds.append(record.tokens_per_sec)
            best_epoch = record.epoch if record.is_best else best_epoch
            log(f"{cell}: epoch {record.epoch}  val ppl {record.val_perplexity:.3f}  "
                f"{record.tokens_per_sec:,.0f} tok/s  {record.elapsed:.1f} s")
        else:
            last = record
    best = trainer.best_val_perplexity
    final = trainer.validation_perplexity() if trainer.mid_epoch else None
    if final is not None:  # the budget ended the run inside an epoch: its weights count too
        log(f"{cell}: stopped in epoch {trainer.epoch + 1}  val ppl {final:.3f}")
        if best is None or final < best:
            best, best_epoch = final, trainer.epoch + 1
    speed = statistics.median(speeds) if speeds else (last.tokens_per_sec if last else 0.0)
    return {"cell": cell, "val_perplexity": best, "best_epoch": best_epoch,
            "epochs": trainer.epoch, "seconds": round(trainer.elapsed, 1), "tokens_per_sec": round(speed, 1),
            "params": count_parameters(trainer.model), "hidden": config.hidden, "layers": config.layers,
            "dropout": config.dropout, "embed": config.embed}


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.escape import json_line, printable
    from engine.stats import corpus_stats
    from engine.tokenfile import prepare
    from tui.progress import progress_bar

    torch.set_num_threads(args.threads)
    mode = args.mode or "book"
    with progress_bar() as progress:
        prepared = prepare(args.corpus, "char", mode, encoding=args.encoding, max_bytes=args.max_bytes,
                           progress=progress)
        ngram = corpus_stats(prepared, progress=progress).best_baseline
    if prepared.notice:
        print(f"rnnplay: {printable(prepared.notice)}", file=sys.stderr)
    out = sys.stderr if args.json else sys.stdout

    def log(line: str) -> None:
        print(line, file=out, flush=True)

    results = [train_cell(cell, prepared.corpus(), prepared.vocab, prepared.name, args, log) for cell in args.cells]
    if args.json:
        print(json_line({"results": results, "ngram_best": {"n": ngram.n, "alpha": ngram.alpha,
                                                             "val_perplexity": ngram.val_perplexity}}))
    else:
        print_table(results, ngram, args.budget)
    return 0


def print_table(results: list[dict], ngram, budget: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"held-out perplexity after {budget:g} s of training each (last 10% of the text)",
                  caption="model: cell hidden×layers; tokens/s: median over the epochs")
    for name in ("model", "held-out ppl", "best epoch", "tokens/s", "parameters"):
        table.add_column(name, justify="left" if name == "model" else "right")
    table.add_row(f"{ngram.n}-gram, add-{ngram.alpha:g}", f"{ngram.val_perplexity:.3f}", "-", "-", "-")
    for row in results:
        ppl = "-" if row["val_perplexity"] is None else f"{row['val_perplexity']:.3f}"
        embed = f", embedding {row['embed']}" if row.get("embed") else ""
        table.add_row(f"{row['cell']} {row['hidden']}×{row['layers']}{embed}, dropout {row['dropout']:g}", ppl,
                      str(row["best_epoch"] or "-"),
                      f"{row['tokens_per_sec']:,.0f}", f"{row['params']:,}")
    Console().print(table)
