"""Peak resident memory (RSS) of ``rnnplay train`` at hidden 512, in its own process; and the
engine's memory estimate (engine/memory.py) against the measured peak of a run's first steps.

The peak is read from the kernel for the command's process (``os.wait4``), so nothing
is sampled and no short peak is missed.  Data and home folders are temporary: no checkpoint
or download lands in the user's folders.

    python -m benchmarks.memory --hidden 512
    python -m benchmarks.memory --estimate
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from .common import REPO, corpus_source


def train_command(hidden: int, epochs: int, max_tokens: int) -> list[str]:
    command = [sys.executable, "-m", "tui", "train", "--corpus", corpus_source(), "--device", "cpu",
               "--hidden", str(hidden), "--epochs", str(epochs)]
    return command + (["--max-tokens", str(max_tokens)] if max_tokens > 0 else [])


# Linux carries a process's peak RSS across exec, and a forked child starts with its parent's
# pages: a child of this (large) process would report our size.  So a small interpreter
# starts the command and reports the peak of its own child.
_SPAWN = """import os, sys
devnull = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime)
"""


def measured_run(command: list[str], env: dict | None = None, timeout: float = 600) -> dict:
    """Wall seconds, CPU seconds (user + system: less sensitive to other load), peak RSS (MB) and
    stderr of a command run to its end in its own process (RuntimeError when it fails)."""
    launched = time.time()
    proc = subprocess.run([sys.executable, "-c", _SPAWN, *command], cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.time() - launched
    fields = proc.stdout.split()  # "<peak KiB> <exit status> <CPU seconds>"
    if proc.returncode != 0 or len(fields) != 3 or fields[1] != "0":
        raise RuntimeError(f"{' '.join(command)} failed ({proc.stdout.strip()}): {proc.stderr.strip()[-800:]}")
    return {"seconds": round(seconds, 2), "cpu_seconds": round(float(fields[2]), 2),
            "peak_rss_mb": int(fields[0]) / 1024, "stderr": proc.stderr}  # ru_maxrss is in KiB on Linux


def peak_rss(command: list[str], timeout: float = 600) -> float:
    """Peak RSS in MB of a command run to its end, with temporary data and home folders."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, RNNPLAY_HOME=home, RNNPLAY_DATA_DIR=home)
        return measured_run(command, env, timeout)["peak_rss_mb"]


# cell, hidden, batch, steps, layers, embed: activations or weights dominating, each cell
ESTIMATED = [("rnn", 1024, 64, 64, 1, 0), ("gru", 512, 64, 64, 2, 0), ("lstm", 512, 64, 64, 1, 64),
             ("lstm", 256, 128, 128, 2, 0), ("rnn", 256, 256, 128, 1, 0), ("lstm", 2048, 8, 16, 1, 0),
             ("gru", 1024, 16, 32, 3, 64)]
# In a fresh process: the RSS before the trainer exists, then the peak over two training steps.
_STEPS = """import resource, sys
import torch
from engine import Trainer, resolve
from engine.memory import training_estimate
from engine.vocab import Vocab
torch.set_num_threads(1)
cell, (hidden, batch, steps, layers, embed) = sys.argv[1], map(int, sys.argv[2:7])
vocab = Vocab.from_tokens_list(["<unk>"] + [chr(0x4e00 + i) for i in range(79)])
config = resolve(cell=cell, hidden=hidden, batch=batch, steps=steps, layers=layers, embed=embed, epochs=1,
                     val_fraction=0, dropout=0.0, device="cpu")
with open("/proc/self/status") as status:
    before = next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) * 1024
run = Trainer(config, [i % len(vocab) for i in range(3 * batch * steps + 1)], vocab).run()
next(run), next(run)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(training_estimate(config, len(vocab)).total, peak - before)
"""


def estimate_against_measured() -> list[dict]:
    """engine.memory.training_estimate next to the measured peak for each ESTIMATED configuration."""
    rows = []
    for cell, *sizes in ESTIMATED:
        out = subprocess.run([sys.executable, "-c", _STEPS, cell, *map(str, sizes)], cwd=REPO, check=True,
                             capture_output=True, text=True)
        estimate, measured = map(int, out.stdout.split())
        rows.append({"cell": cell, "hidden": sizes[0], "batch": sizes[1], "steps": sizes[2], "layers": sizes[3],
                     "embed": sizes[4], "estimate_mb": round(estimate / 1e6), "measured_mb": round(measured / 1e6),
                     "ratio": round(estimate / measured, 2)})
    return rows


def measure(*, hidden: int = 512, epochs: int = 1, max_tokens: int = -1) -> dict:
    return {"what": "rnnplay train", "hidden": hidden, "epochs": epochs, "max_tokens": max_tokens,
            "peak_rss_mb": round(peak_rss(train_command(hidden, epochs, max_tokens)), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=-1, help="0 or less: the whole corpus")
    parser.add_argument("--estimate", action="store_true",
                        help="the engine's memory estimate against the measured peak, for several models")
    args = parser.parse_args(argv)
    if args.estimate:
        for row in estimate_against_measured():
            print(json.dumps(row))
        return 0
    print(json.dumps(measure(hidden=args.hidden, epochs=args.epochs, max_tokens=args.max_tokens)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
