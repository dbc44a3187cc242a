"""``rnnplay stats``: a corpus's size, vocabulary, top n-grams, Zipf exponents and n-gram baselines."""
from __future__ import annotations

import argparse
import sys

from engine.escape import json_line, printable
from tui.options import add_corpus_arguments


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "stats", help="corpus statistics: top n-grams, Zipf's law, n-gram baselines",
        description="Print a corpus's size, vocabulary, top n-grams, Zipf exponents and the held-out "
                    "perplexity of add-alpha n-gram models (the baselines an RNN must beat).",
    )
    add_corpus_arguments(parser)
    parser.add_argument("--top", type=int, default=10, metavar="K", help="how many n-grams to list (default: 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.stats import corpus_stats
    from tui.progress import progress_bar

    with progress_bar() as progress:
        stats = corpus_stats(args.corpus, token=args.token, mode=args.mode, top=args.top,
                             encoding=args.encoding, max_bytes=args.max_bytes, progress=progress)
    if args.json:
        if stats.notice:
            print(f"rnnplay: {printable(stats.notice)}", file=sys.stderr)
        print(json_line(stats.to_json()))
    else:
        print_stats(stats)
    return 0


def _show(gram: str, token: str) -> str:
    """An n-gram for a table: control characters shown (engine.escape), and spaces inside
    character n-grams as ␣, or they would be invisible."""
    return printable(gram).replace(" ", "\u2423") if token == "char" else printable(gram)


def print_stats(stats) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if stats.notice:
        console.print(Text(printable(stats.notice), style="yellow"))

    summary = Table(title=Text(f"Corpus: {printable(stats.name)}"), show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("characters", f"{stats.chars:,}")
    summary.add_row(f"{stats.token} tokens", f"{stats.tokens:,}")
    summary.add_row("vocabulary (with <unk>)", f"{stats.vocab_size:,}")
    console.print(summary)

    names = {1: "unigram", 2: "bigram", 3: "trigram"}
    top = Table(title=f"Top {stats.token} n-grams")
    top.add_column("rank", justify="right")
    for n in stats.top:
        top.add_column(names.get(n, f"{n}-gram"))
        top.add_column("count", justify="right")
    for rank in range(max(len(grams) for grams in stats.top.values())):
        row = [str(rank + 1)]
        for grams in stats.top.values():
            gram, count = grams[rank] if rank < len(grams) else ("", "")
            row += [Text(_show(gram, stats.token)), f"{count:,}" if count != "" else ""]
        top.add_row(*row)
    console.print(top)

    zipf = Table(title="Zipf's law")
    zipf.add_column("n")
    zipf.add_column("alpha in freq ~ rank^-alpha", justify="right")
    for n, alpha in stats.zipf.items():
        zipf.add_row(names.get(n, str(n)), f"{alpha:.3f}")
    console.print(zipf)

    alphas = sorted({b.alpha for b in stats.ngram_baselines}, reverse=True)
    baselines = Table(title="n-gram baselines: validation perplexity")
    baselines.add_column("n", justify="right")
    for alpha in alphas:
        baselines.add_column(f"alpha={alpha:g}", justify="right")
    best = stats.best_baseline
    for n in sorted({b.n for b in stats.ngram_baselines}):
        row = [str(n)]
        for alpha in alphas:
            cell = next(b for b in stats.ngram_baselines if (b.n, b.alpha) == (n, alpha))
            text = f"{cell.val_perplexity:.3f}"
            row.append(f"[bold green]*{text}[/]" if cell == best else text)
        baselines.add_row(*row)
    console.print(baselines)
    console.print(f"add-alpha (Laplace) smoothing; fit on the first 90% of the tokens, scored on the last 10%; "
                  f"* best (n={best.n}, alpha={best.alpha:g}): the perplexity an RNN has to beat",
                  highlight=False, markup=False)
