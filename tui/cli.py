"""The ``rnnplay`` console script.

Only ``sys`` is imported at the top: everything else (the parser, the commands, torch, Textual)
is imported inside :func:`main`, so that a Ctrl+C at any moment, the first tenth of a second
included, ends in one line rather than a traceback.
"""
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from tui.parser import dispatch

        return dispatch(argv)
    except KeyboardInterrupt:
        print("rnnplay: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
