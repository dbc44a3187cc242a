"""``rnnplay serve``: the app in a browser, one process per tab, through textual-serve."""
from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from pathlib import Path

from engine.errors import RnnplayError
from tui.options import add_app_arguments, app_argv, train_config_from_args

LOOPBACK = "127.0.0.1"


class ServeError(RnnplayError):
    """``rnnplay serve`` cannot start (its package is missing, or a bad option)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve", help="serve the app to web browsers (needs the serve extra)",
        description="Serve the rnnplay app to web browsers: each tab runs the app, with these options, "
                    "as a process of its own (about 300 MB each).",
    )
    parser.add_argument("--host", default=LOOPBACK,
                        help="the address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on (default: %(default)s)")
    parser.add_argument("--max-sessions", type=int, default=None, metavar="N",
                        help="at most N tabs at once (default: as many as the free memory holds, ~300 MB each)")
    parser.add_argument("--public-url", default=None, metavar="URL",
                        help="the address browsers reach the server at, when it is not http://HOST:PORT "
                             "(behind a proxy, or with --host 0.0.0.0)")
    add_app_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def served_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each tab: this interpreter's app (through
    ``tui.served``, which quits it if the server dies) with the options given to ``rnnplay serve``;
    exec, so that the app process is the one the server watches."""
    return "exec " + shlex.join([sys.executable, "-m", "tui.served", *app_argv(args)])


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def check_options(args: argparse.Namespace) -> None:
    """A bad option or file is one line now, not an error in every tab."""
    from engine.corpus import BUILTINS, read_text_file

    if args.max_sessions is not None and args.max_sessions < 1:
        raise ServeError(f"--max-sessions must be at least 1, not {args.max_sessions}")
    if not 0 < args.port < 65536:
        raise ServeError(f"--port must be between 1 and 65535, not {args.port}")
    train_config_from_args(args)
    if args.corpus is not None and args.corpus not in BUILTINS:
        read_text_file(args.corpus)
    if args.checkpoint is not None and not Path(args.checkpoint).is_file():
        raise ServeError(f"{args.checkpoint}: no such checkpoint")


def run(args: argparse.Namespace) -> int:
    try:
        from tui.serve import RnnplayServer, default_max_sessions
    except ImportError as exc:  # the `serve` extra is not installed
        raise ServeError(str(exc)) from None
    check_options(args)

    if not is_loopback(args.host):
        print(f"rnnplay: warning: listening on {args.host}:{args.port}: anyone who can reach this port "
              f"can run training on this machine", file=sys.stderr)
        if args.public_url is None:
            print(f"rnnplay: the page tells browsers to connect to http://{args.host}:{args.port}; "
                  f"pass --public-url with this machine's name when that is not reachable", file=sys.stderr)
    server = RnnplayServer(served_command(args), host=args.host, port=args.port, public_url=args.public_url,
                           max_sessions=args.max_sessions or default_max_sessions())
    try:
        server.serve()
    except OSError as exc:  # the address is taken, or not this machine's
        raise ServeError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                         f"pick another --port or --host") from None
    return 0
