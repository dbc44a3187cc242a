"""Greedy generation at batch 1: microseconds per character, and the latency of the first
character after a 15-character prefix (model side: no terminal, no app).

For the RNN three ways are timed in turn: a lean loop on raw tensors (the floor for this model in
eager PyTorch), the book's predict (../shared/bench/tm_common.predict_greedy) and rnnplay's
engine.generate; for the GRU and the LSTM (at the app's depth and embedding for the cell,
engine.config.CELL_DEFAULTS) rnnplay's engine.generate.  Weights are random: the cost of a step does
not depend on them.

    python -m benchmarks.generation --hidden 512 --threads 1 2
    python -m benchmarks.generation --cells rnn lstm gru --clock cpu --threads 1
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator

import torch

from engine.cells import build_model
from engine.config import CELL_DEFAULTS
from engine.generate import generate

from .common import clock, load_references, median, num_threads
from .train_throughput import engine_corpus, reference_corpus

PREFIX = "time traveller "  # 15 characters, the book's prompt


@torch.inference_mode()
def lean_greedy(params, prefix_ids: list[int], num_chars: int) -> Iterator[int]:
    """Warm the state on the prefix, then yield the argmax token num_chars times.  A few ops a
    token, into fixed buffers: the bias folded into the input rows, and one product h [W_hh | W_hq]
    giving the next hidden term and the logits together."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    H = W_hh.shape[0]
    rows = (W_xh + b_h).split(1)  # rows[i] = x_i W_xh + b_h, a (1, H) view
    W, b = torch.cat([W_hh, W_hq], 1), torch.cat([torch.zeros_like(b_h), b_q])
    h = torch.zeros(1, H, dtype=W.dtype, device=W.device)
    out = torch.addmm(b, h, W)
    hidden_term, logits = out[:, :H], out[0, H:]
    for index in prefix_ids:
        torch.addmm(b, torch.add(hidden_term, rows[index], out=h).tanh_(), W, out=out)
    for _ in range(num_chars):
        index = int(logits.argmax())
        yield index
        torch.addmm(b, torch.add(hidden_term, rows[index], out=h).tanh_(), W, out=out)


def time_stream(make_stream, num_chars: int, now=time.perf_counter) -> tuple[float, float]:
    """(seconds to the first item, seconds per later item) of a fresh stream."""
    start = now()
    stream = make_stream()
    next(stream)
    first = now() - start
    count = sum(1 for _ in stream)
    if count != num_chars - 1:
        raise RuntimeError(f"the stream gave {count + 1} of {num_chars} items")
    return first, (now() - start - first) / max(count, 1)


def time_book_predict(refs, model, vocab, num_chars: int, now=time.perf_counter) -> tuple[float, float]:
    """The book's predict returns the whole text at once: the first character's latency is a
    call for 1 character, the cost of each later one is the extra of num_chars over 1."""
    def seconds(n):
        start = now()
        refs.tm.predict_greedy(model, vocab, PREFIX, n)
        return now() - start

    first = seconds(1)
    return first, (seconds(num_chars) - first) / (num_chars - 1)


def measure(*, hidden: int = 512, threads: int | None = None, num_chars: int = 200,
            repeats: int = 7, timer: str = "wall", cell: str = "rnn") -> dict:
    """Median first-character latency and per-character cost of each way, interleaved, on the
    wall clock or (``timer`` "cpu", one thread) the thread's CPU time."""
    with num_threads(threads):
        now = clock(timer)
        _, vocab = engine_corpus()
        layers, embed = CELL_DEFAULTS[cell]["layers"], CELL_DEFAULTS[cell]["embed"]
        model = build_model(cell, len(vocab), hidden, layers, embed=embed, generator=torch.Generator().manual_seed(0))
        model.requires_grad_(False)
        model.eval()
        prefix_ids = vocab[list(PREFIX)]
        ways = {}  # timed in this order, round after round (the RNN's as before: lean, rnnplay, d2l)
        if cell == "rnn":
            params = [p.detach() for p in model.params]
            ways["lean"] = lambda: time_stream(lambda: lean_greedy(params, prefix_ids, num_chars), num_chars, now)
        ways["rnnplay"] = lambda: time_stream(lambda: generate(model, vocab, PREFIX, num_chars), num_chars, now)
        refs = load_references() if cell == "rnn" else None
        if refs is not None:
            _, ref_vocab = reference_corpus()
            torch.manual_seed(0)
            book_model = refs.d2l.ScratchRNN(len(ref_vocab), hidden)
            ways["d2l"] = lambda: time_book_predict(refs, book_model, ref_vocab, num_chars, now)
        times = {name: [] for name in ways}
        for _ in range(repeats + 1):  # the first round warms up and is dropped
            for name, way in ways.items():
                times[name].append(way())
        return {
            "cell": cell, "hidden": hidden, "layers": layers, "embed": embed, "threads": torch.get_num_threads(),
            "chars": num_chars, "repeats": repeats, "clock": "cpu" if now is time.thread_time else "wall",
            "us_per_char": {n: round(median([t[1] for t in v[1:]]) * 1e6, 2) for n, v in times.items()},
            "first_char_ms": {n: round(median([t[0] for t in v[1:]]) * 1e3, 3) for n, v in times.items()},
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[512])
    parser.add_argument("--cells", nargs="+", choices=["rnn", "gru", "lstm"], default=["rnn"])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chars", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: time 1-thread runs by the thread's CPU time (a loaded machine)")
    args = parser.parse_args(argv)
    for threads in args.threads:
        for cell in args.cells:
            for hidden in args.hidden:
                print(json.dumps(measure(hidden=hidden, threads=threads, num_chars=args.chars, repeats=args.repeats,
                                         timer=args.clock, cell=cell)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
