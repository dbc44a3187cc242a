"""``rnnplay log``: summarise a metrics log (``rnnplay train --log``, the app's runs), or turn it
into CSV.  No torch is loaded: a log is plain JSON lines."""
from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "log", help="summarise a metrics log, or turn it into CSV",
        description="Read a metrics log written by `rnnplay train --log PATH` (or by the app, one per run, in "
                    "the logs folder): print each run's configuration, steps, epochs, training time, "
                    "last and best perplexities; or, with --csv, every step and epoch record as a CSV row.",
    )
    parser.add_argument("path", metavar="PATH", help="the metrics log (JSON lines)")
    parser.add_argument("--csv", action="store_true",
                        help="print the records as CSV on stdout (columns: run, kind, then the records' fields)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from engine.escape import printable
    from engine.metrics_log import read_log, summarise, write_csv

    records = read_log(args.path)
    if args.csv:
        write_csv(records, sys.stdout)
        return 0
    runs = summarise(records)
    if not runs:
        print(f"{printable(args.path)}: an empty metrics log")
        return 0
    for number, summary in enumerate(runs, 1):
        first, *rest = summary.lines()
        print(printable(f"run {number} of {len(runs)}: {first}"))
        for line in rest:
            print(printable(line))
    return 0
