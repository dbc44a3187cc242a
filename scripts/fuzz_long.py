#!/usr/bin/env python
"""Fuzz the corpus reader and the checkpoint loader for longer than CI does.

The targets are tests/test_fuzz.py's (any input: a result or an RnnplayError, nothing else).
With atheris installed (``pip install atheris``) they run under libFuzzer, coverage-guided,
starting from a real checkpoint; without it, tests/test_fuzz.py's hypothesis strategies run
in rounds until the time is up.  A failure exits non-zero and says how to reproduce it.

    python scripts/fuzz_long.py checkpoint --seconds 600
    python scripts/fuzz_long.py corpus --seconds 120 --engine hypothesis
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
EXAMPLES_PER_ROUND = 500


def run_atheris(target: str, seconds: int, artifacts: Path) -> int:
    import atheris

    with atheris.instrument_imports(include=["engine"]):  # coverage of our code, not of torch
        import test_fuzz

    # libFuzzer ends the process itself, so its scratch folder lives with the artifacts
    work = artifacts / f"work-{target}"
    shutil.rmtree(work, ignore_errors=True)
    seeds = work / "seeds"
    seeds.mkdir(parents=True)
    corpus = test_fuzz.seed_checkpoint(seeds / "seed.safetensors")
    (seeds / "text.txt").write_bytes("The Time Traveller (for so it will be convenient\n".encode())
    scratch = work / "input"

    def one_input(data: bytes) -> None:
        if target == "corpus":
            fdp = atheris.FuzzedDataProvider(data)
            encoding = fdp.PickValueInList(test_fuzz.ENCODINGS)
            test_fuzz.read_corpus_bytes(fdp.ConsumeBytes(fdp.remaining_bytes()), encoding, scratch)
        else:
            test_fuzz.load_checkpoint_bytes(data, scratch, corpus)

    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=30", "-rss_limit_mb=4096",
                   f"-artifact_prefix={artifacts}/", "-print_final_stats=1", str(seeds)], one_input)
    atheris.Fuzz()  # exits the process: non-zero with the crashing input saved under artifacts
    return 0


def run_hypothesis(target: str, seconds: int, work: Path) -> int:
    os.environ["RNNPLAY_FUZZ_EXAMPLES"] = str(EXAMPLES_PER_ROUND)
    import test_fuzz

    if target == "corpus":
        tests = [(test_fuzz.test_corpus_reader_on_any_bytes, {"tmp_path": work})]
    else:
        path = work / "seed.safetensors"
        corpus = test_fuzz.seed_checkpoint(path)
        seed = (path.read_bytes(), corpus)
        tests = [(test, {"tmp_path": work, "seed": seed}) for test in (
            test_fuzz.test_checkpoint_loader_on_random_bytes, test_fuzz.test_checkpoint_loader_on_damaged_checkpoints,
            test_fuzz.test_checkpoint_loader_on_well_formed_files_with_odd_contents)]
    deadline, rounds = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        for test, kwargs in tests:  # each call draws new random examples
            test(**kwargs)
        rounds += 1
    print(f"{target}: {rounds} rounds of {len(tests)} x {EXAMPLES_PER_ROUND} examples, no failure")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["corpus", "checkpoint"])
    parser.add_argument("--seconds", type=int, default=300, help="how long to fuzz (default: 300)")
    parser.add_argument("--engine", choices=["auto", "atheris", "hypothesis"], default="auto",
                        help="auto: atheris when it is installed (default)")
    parser.add_argument("--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "rnnplay-fuzz",
                        help="where atheris keeps its scratch files and saves crashing inputs")
    args = parser.parse_args()
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
    import torch

    torch.set_num_threads(1)
    print(f"fuzzing the {args.target} loader with {engine} for {args.seconds} s", flush=True)
    if engine == "atheris":
        return run_atheris(args.target, args.seconds, args.artifacts)
    with tempfile.TemporaryDirectory(prefix="rnnplay-fuzz-") as work:
        return run_hypothesis(args.target, args.seconds, Path(work))


if __name__ == "__main__":
    sys.exit(main())
