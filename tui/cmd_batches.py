"""``rnnplay batches``: the first minibatches a training run would be fed, as text."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    from engine.config import ITERATORS, resolve
    from tui.options import add_corpus_arguments

    defaults = resolve()
    parser = subparsers.add_parser(
        "batches", help="show how the text is cut into minibatches",
        description="Print the first minibatches `rnnplay train` would feed the model with the same "
                    "settings and seed: each row of X as text, Y (the same shifted by one), and where it "
                    "starts in the training text.  Sequential partitioning continues row i of one "
                    "minibatch in row i of the next, so the hidden state is carried across them; random "
                    "sampling's rows are unrelated, so each minibatch starts from a fresh state.",
    )
    add_corpus_arguments(parser)
    parser.add_argument("--batch", type=int, default=defaults.batch, metavar="B",
                        help=f"rows per minibatch (default: {defaults.batch}, the RNN's)")
    parser.add_argument("--steps", type=int, default=defaults.steps, metavar="T",
                        help=f"tokens per row (default: {defaults.steps})")
    parser.add_argument("--iter", choices=ITERATORS, default=defaults.iterator,
                        help=f"random sampling or sequential partitioning (default: {defaults.iterator})")
    parser.add_argument("--count", type=int, default=3, metavar="N", help="how many minibatches (default: 3)")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="S",
                        help=f"the training run's --seed (default: {defaults.seed})")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction, metavar="F",
                        help=f"the held-out fraction the run leaves out (default: {defaults.val_fraction:g})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.escape import json_line, printable
    from engine.minibatches import first_minibatches, tokens_text
    from tui.options import prepare_corpus

    prepared = prepare_corpus(args)
    vocab = prepared.vocab
    minibatches = first_minibatches(prepared.tokens, args.batch, args.steps, args.iter, args.count, seed=args.seed,
                                    val_fraction=args.val_fraction)
    if args.json:
        rows = [{**asdict(row), "X_text": tokens_text(vocab, row.X, args.token),
                 "Y_text": tokens_text(vocab, row.Y, args.token)}
                for minibatch in minibatches for row in minibatch]
        print(json_line({"corpus": prepared.name, "batch": args.batch, "steps": args.steps, "iter": args.iter,
                         "seed": args.seed, "minibatches": len(minibatches), "rows": rows}))
        return 0
    if prepared.notice:
        print(f"rnnplay: {printable(prepared.notice)}")
    carried = ("the hidden state is carried from each row to the same row of the next minibatch"
               if args.iter == "sequential" else "each minibatch starts from a fresh (zero) hidden state")
    print(f"{printable(prepared.name)}: {args.iter}, {args.batch} rows x {args.steps} tokens; {carried}")
    for minibatch in minibatches:
        print(f"minibatch {minibatch[0].batch}")
        for row in minibatch:
            mark = f"  continues row {row.row} of minibatch {row.batch - 1}" if row.continues else ""
            print(f"  row {row.row} @{row.start:,}{mark}")
            print(f"    X {tokens_text(vocab, row.X, args.token)!r}")
            print(f"    Y {tokens_text(vocab, row.Y, args.token)!r}")
    return 0
