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
    "prepare": "tui.cmd_prepare", "stats": "tui.cmd_stats",
    "forecast": "tui.cmd_forecast",
    "train": "tui.cmd_train", "generate": "tui.cmd_generate",
    "compare": "tui.cmd_compare",
}


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line naming the command, not argparse's usage block;
    subparsers inherit this class (add_subparsers uses the parent's class)."""

    _commands = None  # the subparsers action, when this parser has subcommands

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def add_subparsers(self, **kwargs):
        self._commands = super().add_subparsers(**kwargs)
        return self._commands

    def parse_args(self, args=None, namespace=None):
        # argparse reports a subcommand's unknown options from the top parser; blame the subcommand
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            choices = self._commands.choices if self._commands else {}
            owner = choices.get(getattr(parsed, "command", None), self)
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rnnplay",
        description="Watch a recurrent neural network learn a text, and type prefixes to see it write.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        import_module(module).add_parser(sub)
    # Without a subcommand the app opens; these options preset it.
    from tui.options import add_train_arguments

    parser.add_argument("--checkpoint", metavar="PATH", default=None,
                        help="open the app with this checkpoint loaded (its corpus and settings)")
    add_train_arguments(parser)
    return parser


def run_app(args: argparse.Namespace) -> int:
    """Open the app, preset by the corpus, checkpoint and training options."""
    from tui.app import create_app
    from tui.options import train_config_from_args

    create_app(corpus=args.corpus, checkpoint=args.checkpoint, config=train_config_from_args(args)).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    from engine.errors import RnnplayError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_app(args)
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
