"""The ``rnnplay`` command's parser: subcommands for headless use; no subcommand opens the app.

The command modules import torch only when their subcommand runs, so ``rnnplay --help``,
``--version`` and the app's first frame do not wait for it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from importlib import import_module

# subcommand -> module with add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "prepare": "tui.cmd_prepare", "stats": "tui.cmd_stats",
    "forecast": "tui.cmd_forecast",
    "train": "tui.cmd_train", "log": "tui.cmd_log", "generate": "tui.cmd_generate",
    "compare": "tui.cmd_compare",
    "info": "tui.cmd_info",
    "paths": "tui.cmd_paths", "batches": "tui.cmd_batches", "inspect": "tui.cmd_inspect",
    "serve": "tui.cmd_serve",
}
HEADLESS = "rnnplay prepare, train, log, generate, stats, forecast, compare or info"
USES_TORCH = {"prepare", "stats", "train", "generate", "forecast", "compare", "info", "paths", "batches", "inspect"}


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


class VersionAction(argparse.Action):
    """``--version``: the installed version, read only when asked for (argparse's own action needs
    it when the parser is built); no torch is imported."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print rnnplay's version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from engine.sysinfo import rnnplay_version

        print(f"rnnplay {rnnplay_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rnnplay",
        description="Watch a recurrent neural network learn a text, and type prefixes to see it write.",
    )
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        import_module(module).add_parser(sub)
    # Without a subcommand the app opens; these options preset it.
    from tui.options import add_app_arguments

    add_app_arguments(parser)
    return parser


def run_app(args: argparse.Namespace) -> int:
    """Open the app, preset by the corpus, checkpoint and training options."""
    from engine.config import resolve
    from engine.errors import ConfigError
    from tui.options import given_train_options, option_names

    given = given_train_options(args)
    if args.checkpoint and given:
        raise ConfigError(f"--checkpoint opens the run with its own configuration; drop "
                          f"{option_names(given)} (only --corpus may be given with it)")
    resolve(given)  # a bad option is one line now, before the app opens
    # a driver named in TEXTUAL_DRIVER (textual-serve's web driver: `rnnplay serve`) draws into pipes
    if not (sys.stdout.isatty() and sys.stdin.isatty()) and not os.environ.get("TEXTUAL_DRIVER"):
        print(f"rnnplay: the app needs a terminal (its input or output is not one); for scripts and pipes use "
              f"{HEADLESS} (see rnnplay --help)", file=sys.stderr)
        return 2
    from tui.app import create_app

    create_app(corpus=args.corpus, checkpoint=args.checkpoint, given=given).run()
    return 0


@contextmanager
def interrupts_held():
    """Hold a Ctrl+C back until the block ends, then raise it.  torch's initialisation in C++
    turns a KeyboardInterrupt raised inside it into a lost signal (its numpy probe clears any
    error) or an abort; held, the interrupt arrives after the import, as one line."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def dispatch(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand (or the app); an RnnplayError is one line on stderr."""
    from engine.errors import RnnplayError
    from engine.escape import printable

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # e.g. for train --nproc to run again
    if args.command in USES_TORCH:
        with interrupts_held():
            import torch  # noqa: F401  (the command imports it again, at no cost)
    try:
        if args.command is None:
            return run_app(args)
        return args.run(args) or 0
    except RnnplayError as exc:
        print(f"rnnplay: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
