"""``rnnplay batches``: the first minibatches a training run would be fed, as text."""
from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    from engine.config import ITERATORS, TrainConfig
    from engine.corpus import BUILTINS
    from tui.options import add_source_arguments

    defaults = TrainConfig()
    parser = subparsers.add_parser(
        "batches", help="show how the text is cut into minibatches",
        description="Print the first minibatches `rnnplay train` would feed the model with the same "
                    "settings and seed: each row of X as text, Y (the same shifted by one), and where it "
                    "starts in the training text.  Sequential partitioning continues row i of one "
                    "minibatch in row i of the next, so the hidden state is carried across them; random "
                    "sampling's rows are unrelated, so each minibatch starts from a fresh state.",
    )
    parser.add_argument("--corpus", metavar="SOURCE", default=None,
                        help=f"{' or '.join(BUILTINS)} or a text file (default: timemachine, "
                             "else python-docs when it cannot be had)")
    parser.add_argument("--batch", type=int, default=defaults.batch, metavar="B",
                        help=f"rows per minibatch (default: {defaults.batch}, the RNN's)")
    parser.add_argument("--steps", type=int, default=defaults.steps, metavar="T",
                        help=f"tokens per row (default: {defaults.steps})")
    parser.add_argument("--iter", choices=ITERATORS, default=defaults.iterator,
                        help=f"random sampling or sequential partitioning (default: {defaults.iterator})")
    parser.add_argument("--count", type=int, default=3, metavar="N", help="how many minibatches (default: 3)")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="S",
                        help=f"the training run's --seed (default: {defaults.seed})")
    parser.add_argument("--token", choices=("char", "word"), default=defaults.token,
                        help=f"token level (default: {defaults.token})")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction, metavar="F",
                        help=f"the held-out fraction the run leaves out (default: {defaults.val_fraction:g})")
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from engine.corpus import default_source, read_source
    from engine.minibatches import first_minibatches, tokens_text
    from engine.vocab import corpus_from_text

    text = (read_source(args.corpus, encoding=args.encoding, max_bytes=args.max_bytes) if args.corpus
            else default_source())
    corpus, vocab = corpus_from_text(text.text, token=args.token)
    minibatches = first_minibatches(corpus, args.batch, args.steps, args.iter, args.count, seed=args.seed,
                                    val_fraction=args.val_fraction)
    if args.json:
        rows = [{**asdict(row), "X_text": tokens_text(vocab, row.X, args.token),
                 "Y_text": tokens_text(vocab, row.Y, args.token)}
                for minibatch in minibatches for row in minibatch]
        print(json.dumps({"corpus": text.name, "batch": args.batch, "steps": args.steps, "iter": args.iter,
                          "seed": args.seed, "minibatches": len(minibatches), "rows": rows}, ensure_ascii=False))
        return 0
    if text.notice:
        print(f"rnnplay: {text.notice}")
    carried = ("the hidden state is carried from each row to the same row of the next minibatch"
               if args.iter == "sequential" else "each minibatch starts from a fresh (zero) hidden state")
    print(f"{text.name}: {args.iter}, {args.batch} rows x {args.steps} tokens; {carried}")
    for minibatch in minibatches:
        print(f"minibatch {minibatch[0].batch}")
        for row in minibatch:
            mark = f"  continues row {row.row} of minibatch {row.batch - 1}" if row.continues else ""
            print(f"  row {row.row} @{row.start:,}{mark}")
            print(f"    X {tokens_text(vocab, row.X, args.token)!r}")
            print(f"    Y {tokens_text(vocab, row.Y, args.token)!r}")
    return 0
