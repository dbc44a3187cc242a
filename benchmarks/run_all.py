"""Every rnnplay benchmark in one command: one table on stdout, the figures as JSON in
benchmarks/results/ (git-ignored).

    python -m benchmarks.run_all                # the full suite, ~5 minutes on 2 cores
    python -m benchmarks.run_all --device cuda  # training throughput on a GPU (see gpu_check.sh)

Training rates are medians of interleaved windows (see train_throughput.py); quote the
ratios, which hold up on a busy machine, rather than the absolute rates.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from engine.device import resolve_device

from . import convergence, generation, memory, train_throughput
from .common import RESULTS, machine

SECTIONS = ("check", "sweep", "epoch", "generation", "memory", "convergence")


def table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def throughput_table(cells: list[dict]) -> str:
    names = list(cells[0]["tokens_per_sec"])
    ratio_names = list(cells[0]["ratios"])
    rows = [[c["threads"], c["hidden"], c["batch"], *(c["tokens_per_sec"][n] for n in names),
             *(c["ratios"][r] for r in ratio_names), f"{c['quiet_windows']}/{c['repeats']}"] for c in cells]
    return table(["threads", "hidden", "batch", *names, *ratio_names, "quiet"], rows)


def report(results: dict) -> str:
    m = results["machine"]
    out = [f"rnnplay benchmarks: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
           f"device {m['device']}{', ' + m['gpu'] if 'gpu' in m else ''}"]
    if "check" in results:
        c = results["check"]
        diffs = ", ".join(f"{k} {v:.1e}" for k, v in c["max_abs_loss_difference"].items())
        out.append(f"\nSame loss as the d2l autograd reference, hidden {c['hidden']}, "
                   f"{c['steps_compared']} SGD steps: max |loss difference| {diffs}")
    for key, title in (("sweep", "Training tokens/s (median of the quiet interleaved windows)"),
                       ("epoch", "Training tokens/s over whole epochs (median of the quiet ones)")):
        if results.get(key):
            cell = results[key][0]
            out.append(f"\n{title}: {cell['steps']} steps, {cell['mode']}, {cell['repeats']} repeats")
            out.append(throughput_table(results[key]))
    if results.get("generation"):
        gen = results["generation"]
        ways = list(gen[0]["us_per_char"])
        out.append(f"\nGreedy generation, batch 1, {gen[0]['chars']} chars after a 15-char prefix "
                   f"(us/char; first char in ms)")
        out.append(table(["threads", "hidden", *(f"{w} us/char" for w in ways), *(f"{w} first ms" for w in ways)],
                         [[g["threads"], g["hidden"], *g["us_per_char"].values(), *g["first_char_ms"].values()]
                          for g in gen]))
    if "memory" in results:
        mem = results["memory"]
        out.append(f"\nPeak RSS of {mem['what']} (hidden {mem['hidden']}, {mem['epochs']} epoch): "
                   f"{mem['peak_rss_mb']:.0f} MB")
    if "convergence" in results:
        conv = results["convergence"]
        reached = conv["seconds_to_target"]
        cfg = conv["config"]
        out.append(f"\nDefaults (hidden {cfg['hidden']}, steps {cfg['steps']}, batch {cfg['batch']}, "
                   f"{cfg['optimizer']} lr {cfg['lr']:g}, {cfg['iterator']} minibatches), "
                   f"{conv['budget_s']:g} s budget: best validation perplexity "
                   f"{conv['best_val_perplexity']:.3f} after {conv['epochs_done']} epochs; "
                   + (f"<= {conv['target_val_perplexity']} at {reached:.1f} s" if reached is not None
                      else f"never <= {conv['target_val_perplexity']}"))
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[32])
    parser.add_argument("--candidates", nargs="+", default=None,
                        help="default: d2l nn_rnn scratch rnnplay on the CPU, cudnn scratch rnnplay on CUDA")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", type=int, default=20, help="minibatches per timed window")
    parser.add_argument("--epoch-hidden", type=int, default=512)
    parser.add_argument("--epoch-threads", type=int, default=2)
    parser.add_argument("--epoch-repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=-1, help="truncate the corpus (smoke runs)")
    parser.add_argument("--gen-hidden", type=int, default=512)
    parser.add_argument("--gen-chars", type=int, default=200)
    parser.add_argument("--budget", type=float, default=90.0, help="seconds for the convergence run")
    parser.add_argument("--skip", nargs="+", choices=SECTIONS, default=[])
    parser.add_argument("--json-out", type=Path, default=None,
                        help="default: benchmarks/results/run-YYYYmmdd-HHMMSS.json")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    cpu = device.type == "cpu"
    names = args.candidates or train_throughput.default_candidates(device)
    sections = [s for s in SECTIONS if s not in args.skip
                and (cpu or s in ("sweep", "epoch"))]  # the rest measure the CPU path
    if "d2l" not in names:
        sections = [s for s in sections if s != "check"]
    results = {"machine": machine(device), "command": vars(args) | {"json_out": str(args.json_out)},
               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    cell = dict(steps=35, device=device, max_tokens=args.max_tokens)
    if "check" in sections:
        results["check"] = train_throughput.loss_trajectory_check(hidden=min(args.hidden))
    if "sweep" in sections:
        results["sweep"] = [
            train_throughput.measure_cell(names, hidden=h, batch=b, threads=t, repeats=args.repeats,
                                          window=args.window, **cell)
            for t in args.threads for b in args.batch for h in args.hidden]
    if "epoch" in sections:
        results["epoch"] = [
            train_throughput.measure_cell(names, hidden=args.epoch_hidden, batch=b, threads=args.epoch_threads,
                                          repeats=args.epoch_repeats, window=None, **cell)
            for b in args.batch]
    if "generation" in sections:
        results["generation"] = [generation.measure(hidden=args.gen_hidden, threads=t, num_chars=args.gen_chars,
                                                    repeats=args.repeats) for t in args.threads]
    if "memory" in sections:
        results["memory"] = memory.measure(hidden=args.epoch_hidden, max_tokens=args.max_tokens)
    if "convergence" in sections:
        results["convergence"] = convergence.measure(budget=args.budget, max_tokens=args.max_tokens,
                                                     threads=args.epoch_threads)
    text = report(results)
    print(text)
    results["table"] = text
    path = args.json_out or RESULTS / time.strftime("run-%Y%m%d-%H%M%S.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
