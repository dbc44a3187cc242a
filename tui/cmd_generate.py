"""``rnnplay generate``: stream text from a checkpoint, one character (or word) at a time."""
from __future__ import annotations

import argparse
import sys

from engine.config import MAX_SEED


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "generate", help="write text with a trained checkpoint",
        description="Warm the RNN up on a prefix, then write one character at a time: greedily "
                    "(temperature 0, the book's predict) or by sampling.",
    )
    parser.add_argument("--checkpoint", metavar="PATH", default=None,
                        help="a checkpoint from `rnnplay train` (default: the newest in the checkpoint folder)")
    parser.add_argument("--prefix", default="time traveller ", help="text to start from (default: %(default)r)")
    parser.add_argument("--chars", type=int, default=200, metavar="N",
                        help="how many characters (words, for a word-level model) to write (default: 200)")
    parser.add_argument("--temperature", type=float, default=0.0, metavar="T",
                        help="0: greedy (default); higher: more adventurous sampling")
    parser.add_argument("--top-k", type=int, default=None, metavar="K", help="sample only from the K likeliest")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help=f"seed for sampling, 0 to {MAX_SEED:,}")
    parser.add_argument("--latest", action="store_true",
                        help="use the latest weights rather than the best-validation ones")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.checkpoint import load_model
    from engine.errors import ConfigError
    from engine.escape import printable
    from engine.generate import generate, unknown_in_prefix
    from engine.paths import newest_checkpoint

    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise ConfigError(f"--seed {args.seed}: must be a whole number from 0 to {MAX_SEED:,}")
    model, vocab, meta = load_model(args.checkpoint or newest_checkpoint(), device="cpu", best=not args.latest)
    token = meta["config"]["token"]
    unknown = unknown_in_prefix(vocab, args.prefix, token)
    if unknown:
        print(f"rnnplay: not in the vocabulary, read as <unk>: {' '.join(f'{printable(t)!r}' for t in unknown)}",
              file=sys.stderr)
    generator = None if args.seed is None else torch.Generator().manual_seed(args.seed)
    stream = generate(model, vocab, args.prefix, args.chars, temperature=args.temperature,
                      top_k=args.top_k, generator=generator, token=token)
    sys.stdout.write(printable(args.prefix))  # text from a checkpoint's vocabulary, shown, not obeyed
    sys.stdout.flush()
    for text in stream:
        sys.stdout.write(printable(text))
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0
