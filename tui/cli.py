"""The ``rnnplay`` command: subcommands for headless use; no subcommand opens the app.

Command modules are imported when their subcommand runs, so ``rnnplay --help``
and the app's first frame do not wait for torch.
"""
from __future__ import annotations

import argparse
import sys
from importlib import import_module

# subcommand -> module with add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "stats": "tui.cmd_stats",
    "forecast": "tui.cmd_forecast",
    "train": "tui.cmd_train", "generate": "tui.cmd_generate",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnplay",
        description="Watch a recurrent neural network learn a text, and type prefixes to see it write.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from engine.errors import RnnplayError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            print("rnnplay: the interactive app is not built yet; use a subcommand:")
            parser.print_help()
            return 0
        return args.run(args) or 0
    except RnnplayError as exc:
        print(f"rnnplay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnplay: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
