"""What the benchmarks share: the reference trainers, the corpus, thread settings, the machine."""
from __future__ import annotations

import importlib
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RNNPLAY_SHARED_DIR", REPO.parent / "shared"))
SHARED_BENCH = SHARED / "bench"
CORPUS = SHARED / "corpora" / "timemachine.txt"
RESULTS = REPO / "benchmarks" / "results"


def load_references() -> SimpleNamespace | None:
    """The independent trainers of ../shared/bench (tm_common, ref_d2l_style, ref_nn_rnn),
    or None where that folder is absent."""
    if not (SHARED_BENCH / "tm_common.py").is_file():
        return None
    if str(SHARED_BENCH) not in sys.path:
        sys.path.insert(0, str(SHARED_BENCH))
    return SimpleNamespace(tm=importlib.import_module("tm_common"),
                           d2l=importlib.import_module("ref_d2l_style"),
                           nn_rnn=importlib.import_module("ref_nn_rnn"))


def corpus_source() -> str:
    """The shared copy of The Time Machine when present, else the engine's cached download."""
    return str(CORPUS) if CORPUS.is_file() else "timemachine"


@contextmanager
def num_threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def clock(kind: str = "wall"):
    """The timer to read: the wall clock, or with ``cpu`` the calling thread's CPU time, which
    other processes on a loaded machine barely change; a CPU clock only counts one thread's work,
    so it stands for the wall clock only where torch runs on one thread (else the wall clock)."""
    if kind == "cpu" and torch.get_num_threads() == 1:
        return time.thread_time
    return time.perf_counter


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median(values) -> float:
    return statistics.median(values) if values else float("nan")


def machine(device: torch.device) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "default_threads": torch.get_num_threads(),
            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
