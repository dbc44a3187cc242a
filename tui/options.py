"""The training options shared by ``rnnplay train`` and the bare ``rnnplay`` (which presets the app).

Every option defaults to ``None`` here so that what was given can be told from what was not:
:func:`given_train_options` is what the command line gave, and engine.config.resolve fills the
rest (the app's form starts from the same given options).  Only engine.config is imported: it
does not load torch, so ``--help`` stays fast.
"""
from __future__ import annotations

import argparse

from engine.config import (ADAM_LR, CELL_DEFAULTS, CELLS, DEFAULT_LR, DEFAULTS, DEVICES, FIELDS, ITERATORS,
                           MAX_CLIP, MAX_LR, MAX_SECONDS, MAX_SEED, MAX_WEIGHT_DECAY, OPTIMIZERS, SCHEDULES,
                           TrainConfig, resolve)
from engine.corpus import MODES
from engine.vocab import TOKEN_LEVELS

_D = DEFAULTS
# option dest -> TrainConfig field, where the names differ
_FIELD = {"iter": "iterator"}


_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}


def byte_size(value: str) -> int:
    """A positive byte count such as ``1000``, ``64M`` or ``2G`` (binary units)."""
    text = value.strip().upper().removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        size = int(text[:len(text) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a byte size (e.g. 1000, 512K, 64M)") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: the size cap must be at least 1 byte")
    return size


def positive(convert, unit: str):
    """An argparse type: a positive finite number read by ``convert`` (int or float) of ``unit``."""
    def parse(value: str):
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {'whole ' if convert is int else ''}number") \
                from None
        if not 0 < number < float("inf"):
            raise argparse.ArgumentTypeError(f"{value}: give a positive number of {unit}")
        return number
    return parse


def threads(value: str) -> int:
    """A thread count from 1 to the cores this process may use: more only makes the threads wait
    for each other (a hundred times slower, measured)."""
    from engine.sysinfo import usable_cpus

    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= count <= usable_cpus():
        raise argparse.ArgumentTypeError(f"{value}: this machine gives rnnplay {usable_cpus()} CPU core(s); "
                                         f"use 1 to {usable_cpus()}")
    return count


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=threads, default=1, metavar="N",
                        help="CPU threads for torch, at most the number of cores (default: 1; minibatches this "
                             "small gain little from more, and lose much when other programs share the cores)")


def add_mode_argument(parser, default: str | None = None) -> None:
    """``--mode``: how a text becomes tokens (engine.corpus.preprocess); None (the training options'
    default, so that a resumed run can tell it was not given) is read as book."""
    parser.add_argument("--mode", choices=MODES, default=default,
                        help="book: letters only, lowercased, as the book does (default); raw: the text as it "
                             "is, case, punctuation and any script kept (Chinese, Cyrillic, ...)")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """How a corpus file is read: ``--encoding`` and ``--max-bytes`` (the messages of
    engine.corpus point at them).  The commands stream the file into a token file, so the cap
    is the one for prepared corpora."""
    from engine.corpus import PREPARED_MAX_BYTES

    parser.add_argument("--encoding", default=None, help="the file's encoding when it is not UTF-8 (e.g. latin-1)")
    parser.add_argument("--max-bytes", type=byte_size, default=PREPARED_MAX_BYTES, metavar="SIZE",
                        help=f"refuse files larger than this (default: {PREPARED_MAX_BYTES // 1024 ** 3}G)")


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """Which corpus, at which token level and mode, and how its file is read (stats, prepare)."""
    from engine.corpus import BUILTINS

    parser.add_argument("--corpus", metavar="SOURCE", default=None,
                        help=f"{' or '.join(BUILTINS)} or a text file "
                             "(default: timemachine, else python-docs when it cannot be had)")
    parser.add_argument("--token", choices=TOKEN_LEVELS, default="char", help="token level (default: char)")
    add_mode_argument(parser, default="book")
    add_source_arguments(parser)


def prepare_corpus(args: argparse.Namespace):
    """The token file (engine.tokenfile.TokenFile) of the corpus that add_corpus_arguments' options
    name, found or made now, with a progress bar on the terminal when that takes a while."""
    from engine.tokenfile import prepare
    from tui.progress import progress_bar

    with progress_bar() as progress:
        return prepare(args.corpus, args.token, args.mode, encoding=args.encoding, max_bytes=args.max_bytes,
                       progress=progress)


def _per_cell(field: str) -> str:
    return ", ".join(f"{values[field]:g} for {cell}" if isinstance(values[field], (int, float))
                     else f"{values[field]} for {cell}" for cell, values in CELL_DEFAULTS.items())


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the bare ``rnnplay`` (which presets the app); ``rnnplay serve`` passes them on."""
    parser.add_argument("--checkpoint", metavar="PATH", default=None,
                        help="open the app with this checkpoint loaded: its corpus and its configuration, "
                             "so no training option may be given with it except --corpus, which says where "
                             "the run's text is now when it has moved")
    add_train_arguments(parser)


def app_argv(args: argparse.Namespace) -> list[str]:
    """The app options set in ``args``, as the command line that sets them again.

    Every app option is a plain ``--name VALUE`` whose dest is its name (argparse's rule);
    ``--name=VALUE`` keeps a value that starts with a dash a value. A test parses the result back
    to the same values.
    """
    app = argparse.ArgumentParser(add_help=False)
    add_app_arguments(app)
    argv = []
    for dest, default in vars(app.parse_args([])).items():
        value = getattr(args, dest)
        if value != default:
            argv.append(f"--{dest.replace('_', '-')}={value}")
    return argv


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.corpus import BUILTINS

    group = parser.add_argument_group("training")
    group.add_argument("--corpus", metavar="SOURCE", default=None,
                       help=f"{' or '.join(BUILTINS)} or a text file (default: timemachine, "
                            "else python-docs when it cannot be had)")
    group.add_argument("--token", choices=TOKEN_LEVELS, help=f"token level (default: {_D['token']})")
    add_mode_argument(group)
    group.add_argument("--iter", choices=ITERATORS,
                       help=f"minibatches: sequential partitioning carries the state across them, random "
                            f"sampling starts each from a fresh state (default: {_D['iterator']})")
    group.add_argument("--cell", choices=CELLS,
                       help=f"the recurrent cell: the book's rnn, gru or lstm (default: {_D['cell']})")
    group.add_argument("--hidden", type=int, metavar="H",
                       help="hidden units (default: " + _per_cell("hidden") + ")")
    group.add_argument("--layers", type=int, metavar="N", help="stacked recurrent layers (default: "
                       + _per_cell("layers") + ")")
    group.add_argument("--dropout", type=float, metavar="P",
                       help="dropout between the layers and before the output layer, while training (default: "
                            + _per_cell("dropout") + ")")
    group.add_argument("--embed", type=int, metavar="E",
                       help="gru/lstm: feed the first layer an E-wide embedding of the tokens (with dropout), "
                            "0 for the book's one-hot vectors (default: " + _per_cell("embed") + ")")
    group.add_argument("--weight-decay", type=float, metavar="W",
                       help=f"weight decay, 0 to {MAX_WEIGHT_DECAY:g}: decoupled (AdamW) with adam, L2 with sgd "
                            "(default: "
                            + _per_cell("weight_decay") + ")")
    group.add_argument("--steps", type=int, metavar="T", help=f"time steps per sequence (default: {_D['steps']})")
    group.add_argument("--batch", type=int, metavar="B", help="sequences per minibatch (default: "
                       + _per_cell("batch") + ")")
    group.add_argument("--lr", type=float, help=f"learning rate, above 0, at most {MAX_LR:g} (default: " + ", ".join(
        f"{lr:g} for {name}" for name, lr in DEFAULT_LR.items()) + "".join(
        f"; {lr:g} for adam with the {cell}" for cell, lr in ADAM_LR.items()) + ")")
    group.add_argument("--schedule", choices=SCHEDULES,
                       help="the learning rate: constant, or cosine from --lr down to 0 at the end of the run "
                            "(--time-budget, else --epochs) (default: " + _per_cell("schedule") + ")")
    group.add_argument("--clip", type=float, metavar="THETA",
                       help=f"clip the gradients' global norm to this, above 0, at most {MAX_CLIP:g} "
                            f"(default: {_D['clip']:g})")
    group.add_argument("--optimizer", choices=OPTIMIZERS,
                       help=f"sgd is the book's; adam learns faster (default: {_D['optimizer']}, but sgd when --lr is "
                            f"given without --optimizer, as in the book's recipes)")
    group.add_argument("--epochs", type=int, metavar="N",
                       help=f"passes over the text (default: {_D['epochs']}; with --time-budget, no limit)")
    group.add_argument("--max-tokens", type=int, metavar="M",
                       help="use only the first M tokens (default: all of them; so does 0 or less)")
    group.add_argument("--val-fraction", type=float, metavar="F",
                       help=f"hold out the last fraction F of the tokens for validation, 0 for none "
                            f"(default: {_D['val_fraction']:g})")
    group.add_argument("--time-budget", type=float, metavar="SECONDS",
                       help=f"stop once the run has trained this many seconds (at most {MAX_SECONDS:,}), "
                            "resumed parts included (default: no limit)")
    group.add_argument("--seed", type=int, metavar="S",
                       help=f"random seed, 0 to {MAX_SEED:,} (default: {_D['seed']})")
    group.add_argument("--device", metavar="D",
                       help=f"{'|'.join(DEVICES)}; auto picks CUDA when present (default: {_D['device']})")


def given_train_options(args: argparse.Namespace) -> dict:
    """The TrainConfig fields that were set on the command line."""
    given = {}
    for dest, value in vars(args).items():
        field = _FIELD.get(dest, dest)
        if field in FIELDS and value is not None:
            given[field] = value
    return given


def option_names(fields_: dict | set) -> str:
    """The command-line spelling of TrainConfig fields, e.g. ``--iter, --weight-decay``."""
    dests = {field: dest for dest, field in _FIELD.items()}
    return ", ".join(f"--{dests.get(field, field).replace('_', '-')}" for field in sorted(fields_))


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The validated TrainConfig of the options given (engine.config.resolve fills the rest)."""
    return resolve(given_train_options(args))
