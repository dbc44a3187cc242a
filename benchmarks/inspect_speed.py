"""The Inspect views on one text: seconds for each and in all (the issue's bound: 2,000 tokens at
hidden 512, one layer, within 0.5 s on this CPU).

Each repeat times, in turn: the model's own fused forward over the text (the floor any reading
costs), ``read_text`` (the next-token strip and every activation, one step-by-step pass),
``rank_units`` over every quantity, ``gate_saturation``, and the saliency of the last position
from the reading (a hand-derived backward pass); then ``saliency(model, vocab, text, t)`` on its
own (which reads the text first).  Medians of wall-clock and CPU seconds; weights are random (the
cost of a step does not depend on them).  With ``--word-vocab N`` a one-hot model over an N-word
vocabulary is timed too (the (T, V) logits and the gradient norms over V dominate there).

    python -m benchmarks.inspect_speed --hidden 512 --tokens 2000 --threads 1 --repeats 5
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from engine.cells import build_model
from engine.inspect import corpus_span, read_text
from engine.saliency import saliency, saliency_of
from engine.tokenfile import prepare
from engine.unit_features import gate_saturation, rank_units, text_features
from engine.vocab import Vocab

from .common import corpus_source, machine, median, num_threads


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def stages(model, vocab, text: str, token: str) -> dict[str, tuple[float, float]]:
    """One timing of every view, in order; (wall, cpu) seconds each."""
    X = torch.tensor([vocab[list(text) if token == "char" else text.split()]])
    out = {}
    with torch.inference_mode():
        _, *out["fused forward (reference)"] = timed(lambda: model(X, model.begin_state(1)))
    reading, *out["read_text"] = timed(lambda: read_text(model, vocab, text))
    features = text_features(text, token)
    _, *out["rank_units"] = timed(lambda: rank_units(reading.acts, features))
    _, *out["gate_saturation"] = timed(lambda: gate_saturation(reading.acts))
    t = len(reading.tokens) - 2
    _, *out["saliency_of (from the reading)"] = timed(lambda: saliency_of(model, reading, t))
    _, *out["saliency (reads the text first)"] = timed(lambda: saliency(model, vocab, text, t))
    return out


def measure(model, vocab, text: str, token: str, repeats: int) -> dict:
    runs = [stages(model, vocab, text, token) for _ in range(repeats + 1)][1:]  # the first warms up
    names = list(runs[0])
    everything = ("read_text", "rank_units", "gate_saturation", "saliency_of (from the reading)")
    result = {name: {"wall_s": median([r[name][0] for r in runs]), "cpu_s": median([r[name][1] for r in runs])}
              for name in names}
    result["everything (read, rank, saturation, saliency)"] = {
        kind: median([sum(r[name][i] for name in everything) for r in runs])
        for i, kind in enumerate(("wall_s", "cpu_s"))}
    return result


def print_table(title: str, result: dict) -> None:
    print(f"\n{title}")
    print(f"  {'view':<46} {'wall s':>8} {'cpu s':>8}")
    for name, t in result.items():
        print(f"  {name:<46} {t['wall_s']:8.3f} {t['cpu_s']:8.3f}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="lstm", choices=("rnn", "gru", "lstm"))
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--embed", type=int, default=64, help="embedding width (0: one-hot; the LSTM default 64)")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--word-vocab", type=int, default=0, metavar="N",
                        help="also time a one-hot GRU over an N-word vocabulary (e.g. 30000)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    text = corpus_span(prepare(corpus_source(), "char"), 10_000, args.tokens)
    vocab = Vocab(sorted(set(text)))
    embed = args.embed if args.cell != "rnn" else 0
    results = {"machine": machine(torch.device("cpu")), "load_average": os.getloadavg(), "threads": args.threads}
    with num_threads(args.threads):
        model = build_model(args.cell, len(vocab), args.hidden, args.layers, 0.0, embed=embed).eval()
        title = (f"{args.cell} {args.hidden}x{args.layers}, embedding {embed}, {args.tokens} characters, "
                 f"{args.threads} thread(s), median of {args.repeats}")
        results["char"] = measure(model, vocab, text, "char", args.repeats)
        print_table(title, results["char"])
        if args.word_vocab:
            words = corpus_span(prepare(corpus_source(), "word"), 0, args.tokens)
            word_vocab = Vocab(words.split() + [f"w{i}" for i in range(args.word_vocab)])
            word_model = build_model("gru", len(word_vocab), 256, 2, 0.0).eval()
            results["word"] = measure(word_model, word_vocab, words, "word", max(1, args.repeats // 2))
            print_table(f"one-hot gru 256x2 over {len(word_vocab):,} words, {args.tokens} words", results["word"])
    m = results["machine"]
    print(f"\n{m['cpu']} ({m['cores']} cores), torch {m['torch']}, Python {m['python']}; "
          f"load average {results['load_average'][0]:.2f} (other work on the machine slows every figure)")
    if args.json:
        print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
