"""How far the default configuration gets in a time budget: validation perplexity per epoch
against seconds of training (the Trainer's own clock, validation included).

    python -m benchmarks.convergence --budget 90 --target 4.9
"""
from __future__ import annotations

import argparse
import json

from engine.config import resolve
from engine.train import EpochRecord, Trainer

from .common import num_threads
from .train_throughput import engine_corpus


def measure(*, budget: float = 90.0, target: float = 4.9, threads: int | None = None,
            max_tokens: int = -1, hidden: int | None = None) -> dict:
    config = resolve(device="cpu", time_budget=budget)
    if hidden is not None:
        config.hidden = hidden
    with num_threads(threads):
        corpus, vocab = engine_corpus(max_tokens)
        trainer = Trainer(config, corpus, vocab, corpus_name="timemachine")
        curve = [(round(r.elapsed, 2), r.val_perplexity and round(r.val_perplexity, 4))
                 for r in trainer.run() if isinstance(r, EpochRecord)]
    reached = next((s for s, ppl in curve if ppl is not None and ppl <= target), None)
    return {"budget_s": budget, "target_val_perplexity": target, "threads": threads,
            "config": {k: getattr(config, k) for k in ("hidden", "steps", "batch", "optimizer", "lr",
                                                       "iterator", "epochs")},
            "epochs_done": len(curve), "best_val_perplexity": trainer.best_val_perplexity,
            "seconds_to_target": reached, "curve": curve}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=90.0)
    parser.add_argument("--target", type=float, default=4.9)
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    args = parser.parse_args(argv)
    print(json.dumps(measure(budget=args.budget, target=args.target, threads=args.threads or None)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
