"""``rnnplay prepare``: tokenise a corpus once into a token file (engine.tokenfile) and say where."""
from __future__ import annotations

import argparse
import sys

from engine.escape import json_line, printable
from tui.options import add_corpus_arguments, prepare_corpus


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "prepare", help="tokenise a corpus once into a token file that every command reuses",
        description="Tokenise a corpus into a memory-mapped array of token indices plus a JSON header "
                    "(vocabulary, source, SHA-1, mode, token level), cached in the data folder by the "
                    "text's SHA-1 and the settings.  Every other command prepares what it needs on its "
                    "own; this does it ahead of time and prints where the files are.",
    )
    add_corpus_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    prepared = prepare_corpus(args)
    if prepared.notice:
        print(f"rnnplay: {printable(prepared.notice)}", file=sys.stderr)
    summary = {"corpus": prepared.name, "token": prepared.token, "mode": prepared.mode, "chars": prepared.chars,
               "tokens": len(prepared), "vocab_size": len(prepared.vocab), "dtype": str(prepared.tokens.dtype)[6:],
               "source_sha1": prepared.source_sha1, "tokens_sha1": prepared.tokens_sha1,
               "tokens_path": str(prepared.path),
               "header_path": str(prepared.path.with_suffix(".json"))}
    if args.json:
        print(json_line(summary))
        return 0
    print(f"prepared {printable(prepared.name)} ({prepared.token}, {prepared.mode} mode): {len(prepared):,} tokens, "
          f"vocabulary {len(prepared.vocab):,}, {summary['dtype']}")
    print(f"tokens: {printable(summary['tokens_path'])}")
    print(f"header: {printable(summary['header_path'])}")
    return 0
