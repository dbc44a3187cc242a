"""Per-user locations, each overridable by an environment variable so tests stay hermetic.

- ``RNNPLAY_DATA_DIR``: downloaded corpora (default: the user cache directory).
- ``RNNPLAY_HOME``: checkpoints, the app's metrics logs and settings (default: the user data directory).
"""
import os
from pathlib import Path

import platformdirs

APP = "rnnplay"


def data_dir() -> Path:
    """Where downloaded corpora are cached."""
    env = os.environ.get("RNNPLAY_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir(APP))


def home_dir() -> Path:
    """Where checkpoints and settings live."""
    env = os.environ.get("RNNPLAY_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP))


def checkpoint_dir() -> Path:
    return home_dir() / "checkpoints"


def log_dir() -> Path:
    """Where the app writes the metrics log of each run (engine.metrics_log)."""
    return home_dir() / "logs"


def new_run_log(corpus_name: str, token: str) -> Path:
    """A metrics-log path for a new run of the app: CORPUS-TOKEN-DATE-TIME.jsonl in the log folder,
    with a number added when that name is taken."""
    import time

    stem = f"{Path(corpus_name).stem or 'corpus'}-{token}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = log_dir() / f"{stem}.jsonl", 1
    while path.exists():
        n += 1
        path = log_dir() / f"{stem}-{n}.jsonl"
    return path


def default_checkpoint(corpus_name: str, token: str) -> Path:
    """CORPUS-TOKEN.safetensors in the checkpoint folder: where ``rnnplay train`` and the app save."""
    stem = Path(corpus_name).stem or "corpus"
    return checkpoint_dir() / f"{stem}-{token}.safetensors"


def newest_checkpoint() -> Path:
    """The most recently written checkpoint in the checkpoint folder (the CLI's default); dangling
    links and anything not a regular file are passed over."""
    from .checkpoint_file import newest_checkpoint as newest_in
    from .errors import CheckpointError

    found = newest_in(checkpoint_dir())
    if found is None:
        raise CheckpointError(f"no checkpoint in {checkpoint_dir()}; run `rnnplay train` or pass --checkpoint")
    return found
