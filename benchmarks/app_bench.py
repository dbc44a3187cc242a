"""The app's speed, measured on the real ``rnnplay`` command in a tmux terminal.

    python benchmarks/app_bench.py [--hidden H --batch B --steps T --seconds 20 --keys 40]

(hidden, batch and steps default to TrainConfig's; every other hyperparameter is TrainConfig's too).

Prints:
1. start -> first frame: from spawning ``rnnplay`` in a 120x40 tmux window until the
   pane shows the painted tab bar and pane borders (polled with ``tmux capture-pane``
   every ~5 ms, so this includes interpreter start and imports); also until the
   corpus statistics are on screen, and ``python -c pass`` for reference.
2. keypress -> screen latency while the app trains at full speed: a character is
   sent into the Generate prompt with ``tmux send-keys`` and the clock stops when
   ``capture-pane`` shows it (p50, p95; includes tmux's own relay, a few ms).
3. training tokens/s in the app (read off the screen's step counter over a window
   of wall-clock time) against ``Trainer.run()`` headless in this process with
   the same configuration and corpus, before and after the app run.

Needs tmux and *The Time Machine* (``../shared/corpora/timemachine.txt`` or
``--corpus FILE``).  Runs in temporary RNNPLAY_DATA_DIR / RNNPLAY_HOME folders.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tui.training_worker import APP_THREADS

REPO = Path(__file__).resolve().parents[1]
TIMEMACHINE = REPO.parent / "shared" / "corpora" / "timemachine.txt"
STATUS = re.compile(r"epoch (\d+)/\d+ · step (\d+)/(\d+)")


class Terminal:
    """A private tmux server running one command in a 120x40 window."""

    started_servers = 0  # one socket per server: reusing a just-killed socket's name races

    def __init__(self, command: list[str], env: dict[str, str], size=(120, 40)):
        Terminal.started_servers += 1
        # the socket lives in the benchmark's temporary folder, removed at the end
        socket = Path(env["RNNPLAY_HOME"]).parent / f"tmux-{Terminal.started_servers}"
        self.base = ["tmux", "-S", str(socket)]
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.started = time.perf_counter()
        subprocess.run(self.base + ["new-session", "-d", "-s", "b", "-x", str(size[0]), "-y", str(size[1]),
                                    f"env -u COLUMNS -u LINES {assignments} {shlex.join(command)}"], check=True)

    def screen(self) -> str:
        return subprocess.run(self.base + ["capture-pane", "-p", "-t", "b"], capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        subprocess.run(self.base + ["send-keys", "-t", "b"] + (["-l"] if literal else []) + list(keys),
                       check=True)

    def wait(self, predicate, what: str, timeout: float = 60.0, poll: float = 0.005) -> tuple[float, str]:
        """Seconds since start when ``predicate(screen)`` first held, and that screen."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            screen = self.screen()
            if predicate(screen):
                return time.perf_counter() - self.started, screen
            time.sleep(poll)
        raise SystemExit(f"timed out waiting for {what}; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(self.base + ["kill-server"], capture_output=True)


def rnnplay_command(args, *extra: str) -> list[str]:
    exe = shutil.which("rnnplay")
    return ([exe] if exe else [sys.executable, "-m", "tui"]) + ["--corpus", str(args.corpus), *extra]


def train_flags(args) -> list[str]:
    return ["--hidden", str(args.hidden), "--batch", str(args.batch), "--steps", str(args.steps),
            "--epochs", "1000", "--device", "cpu"]


def first_frame(args, env) -> None:
    painted, stats = [], []
    for _ in range(args.repeats):
        term = Terminal(rnnplay_command(args), env)
        try:
            t, _ = term.wait(lambda s: "Corpus" in s and "╭" in s, "the first frame")
            painted.append(t)
            t, _ = term.wait(lambda s: "vocabulary" in s, "the corpus statistics")
            stats.append(t)
        finally:
            term.close()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    print(f"first frame (spawn -> painted screen in tmux): median {statistics.median(painted):.3f} s "
          f"over {args.repeats} runs {[round(t, 3) for t in painted]}")
    print(f"corpus statistics on screen: median {statistics.median(stats):.3f} s; "
          f"bare `python -c pass`: {bare:.3f} s")


def global_step(screen: str) -> int | None:
    match = STATUS.search(screen)
    if match is None:
        return None
    epoch, step, per_epoch = map(int, match.groups())
    return (epoch - 1) * per_epoch + step


def headless_tokens_per_sec(args, seconds: float) -> float:
    """Trainer.run() in this process, the app's configuration and torch threads, wall-clock tokens/s."""
    import torch

    from engine.config import resolve
    from engine.corpus import read_source
    from engine.train import Trainer
    from engine.vocab import corpus_from_text

    config = resolve(hidden=args.hidden, batch=args.batch, steps=args.steps, epochs=1000, device="cpu")
    corpus, vocab = corpus_from_text(read_source(str(args.corpus)).text, token=config.token)
    torch.set_num_threads(APP_THREADS)
    trainer = Trainer(config, corpus, vocab, corpus_name=str(args.corpus))
    run = trainer.run()
    for _ in range(args.warmup):
        next(run)
    start, steps = time.perf_counter(), 0
    for record in run:
        steps += hasattr(record, "grad_norm")
        if time.perf_counter() - start >= seconds:
            break
    run.close()
    return steps * args.batch * args.steps / (time.perf_counter() - start)


def app_under_training(args, env) -> None:
    before = headless_tokens_per_sec(args, args.seconds)
    term = Terminal(rnnplay_command(args, *train_flags(args)), env)
    try:
        term.wait(lambda s: "vocabulary" in s, "the corpus statistics")
        term.keys("F5")
        term.wait(lambda s: (global_step(s) or 0) > args.warmup, "training to start", timeout=120, poll=0.2)
        # throughput: the step counter on screen over a window of wall-clock time
        _, screen = term.wait(lambda s: global_step(s) is not None, "the step counter")
        t0, s0 = time.perf_counter(), global_step(screen)
        time.sleep(args.seconds)
        t1, s1 = time.perf_counter(), global_step(term.screen())
        in_app = (s1 - s0) * args.batch * args.steps / (t1 - t0)
        # latency: characters typed into the prompt while training goes on
        term.keys("C-g")
        time.sleep(0.5)
        typed, latencies = "", []
        for i in range(args.keys):
            char = "qxzj"[i % 4]
            typed += char
            start = time.perf_counter()
            term.keys(char, literal=True)
            deadline = start + 5
            while typed not in term.screen():
                if time.perf_counter() > deadline:
                    raise SystemExit(f"key {i} never appeared; screen:\n{term.screen()}")
                time.sleep(0.002)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05 + 0.1 * (i % 3))  # keys at a typing rhythm, off the app's tick phase
        still_training = global_step(term.screen()) > s1
    finally:
        term.close()
    after = headless_tokens_per_sec(args, args.seconds)
    headless = (before + after) / 2
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
    print(f"key -> screen while training ({len(lat)} keys, training still running: {still_training}): "
          f"p50 {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    print(f"training tokens/s: in app {in_app:,.0f}; headless Trainer.run() {before:,.0f} before, "
          f"{after:,.0f} after; ratio {in_app / headless:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=TIMEMACHINE)
    from engine.config import resolve

    defaults = resolve()
    parser.add_argument("--hidden", type=int, default=defaults.hidden)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--seconds", type=float, default=20.0, help="throughput window")
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing starts")
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="first-frame runs")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("app_bench needs tmux")
    if not args.corpus.is_file():
        raise SystemExit(f"{args.corpus}: not found; pass --corpus FILE")
    args.corpus = args.corpus.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"RNNPLAY_DATA_DIR": str(Path(tmp) / "data"), "RNNPLAY_HOME": str(Path(tmp) / "home")}
        print(f"rnnplay app benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
              f"hidden {args.hidden}, batch {args.batch}, steps {args.steps}, corpus {args.corpus.name}, "
              f"torch threads {APP_THREADS} (app and headless)")
        first_frame(args, env)
        app_under_training(args, env)
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
