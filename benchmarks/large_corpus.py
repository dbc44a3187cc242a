"""A large text from end to end: ``rnnplay prepare``, ``stats`` and ``train`` on it, each in its
own process, with its wall time and peak RSS (read from the kernel, as benchmarks.memory does).

The text is The Time Machine repeated up to ``--size-mb`` (or ``--text PATH``), in a temporary
folder that also holds the data and checkpoint folders: nothing lands in the user's folders.

- prepare: tokenising into the token file (the first run on a text).
- stats: after preparing (the token file is reused): one pass of n-gram counting.
- train start: from launching ``rnnplay train --hidden 512`` to its first minibatch done,
  after preparing; its peak RSS is that of a run stopped by ``--time-budget`` right after it.
  For scale, the time a bare ``python -c "import torch"`` takes on the same machine.
- train: peak RSS of a run that trains for ``--train-seconds``.

    python -m benchmarks.large_corpus --size-mb 60
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .common import corpus_source
from .memory import measured_run

# Runs the CLI with a timestamp at the first training step (time since the parent launched it).
_FIRST_STEP = """import sys, time
launched = float(sys.argv[1])
from engine.train import Trainer
run = Trainer.run
def timed(self):
    for i, record in enumerate(run(self)):
        if i == 0:
            print(f"first step {time.time() - launched:.3f}", file=sys.stderr, flush=True)
        yield record
Trainer.run = timed
from tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def make_text(folder: Path, size_mb: float) -> Path:
    """The Time Machine repeated to ``size_mb`` MB (10^6 bytes), cut at a line end."""
    base = Path(corpus_source()).read_bytes() if Path(corpus_source()).is_file() else None
    if base is None:
        from engine.corpus import read_source
        base = read_source("timemachine").text.encode("utf-8")
    size = int(size_mb * 1_000_000)
    data = (base * (size // len(base) + 1))[:size]
    path = folder / f"timemachine-{size_mb:g}mb.txt"
    path.write_bytes(data[:data.rindex(b"\n") + 1])
    return path


def measure(*, size_mb: float = 60, text: str | None = None, hidden: int = 512, train_seconds: float = 20,
            threads: int = 1) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = dict(os.environ, RNNPLAY_HOME=str(folder / "home"), RNNPLAY_DATA_DIR=str(folder / "data"))
        path = Path(text) if text else make_text(folder, size_mb)
        cli = [sys.executable, "-m", "tui"]
        train = ["train", "--corpus", str(path), "--hidden", str(hidden), "--device", "cpu",
                 "--threads", str(threads), "--save", str(folder / "run.safetensors"), "--json"]
        prepare = measured_run([*cli, "prepare", "--corpus", str(path)], env)
        stats = measured_run([*cli, "stats", "--corpus", str(path), "--json"], env)
        first = measured_run([sys.executable, "-c", _FIRST_STEP, str(time.time()), *train,
                              "--time-budget", "0.001"], env)
        start = next(float(line.split()[-1]) for line in first["stderr"].splitlines()
                     if line.startswith("first step"))
        floor = measured_run([sys.executable, "-c", "import torch"], env)  # what any start pays first
        longer = measured_run([*cli, *train, "--time-budget", str(train_seconds)], env)
        return {"text_mb": round(path.stat().st_size / 1e6, 1), "hidden": hidden, "threads": threads,
                "prepare": _figures(prepare), "stats": _figures(stats),
                "train_start_seconds": start, "train_one_step": _figures(first), "import_torch": _figures(floor),
                "train": {"trained_seconds": train_seconds, "peak_rss_mb": round(longer["peak_rss_mb"], 1)}}


def _figures(run: dict) -> dict:
    return {"seconds": run["seconds"], "cpu_seconds": run["cpu_seconds"], "peak_rss_mb": round(run["peak_rss_mb"], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=60, help="size of the repeated text (default: 60)")
    parser.add_argument("--text", default=None, help="measure this file instead")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--train-seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    result = measure(size_mb=args.size_mb, text=args.text, hidden=args.hidden, train_seconds=args.train_seconds,
                     threads=args.threads)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
