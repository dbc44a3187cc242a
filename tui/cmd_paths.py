"""``rnnplay paths``: the terms of backpropagation through time for corpus rows, headless.

C[t, s] = ||∂L_s/∂h_t|| (engine.gradient_paths) for a checkpoint's model on rows of its corpus,
with the share of each h_t's path norms that truncated BPTT with K steps would drop.
"""
from __future__ import annotations

import argparse
import json

PROFILE = 16  # distances s - t printed in the text summary


def add_parser(subparsers) -> argparse.ArgumentParser:
    from tui.options import add_source_arguments

    parser = subparsers.add_parser(
        "paths", help="the paths of backpropagation through time for corpus rows",
        description="For a checkpoint's model and rows of its corpus, compute C[t, s] = ||dL_s/dh_t||, "
                    "the part of the gradient reaching the hidden state h_t that comes from the loss of "
                    "step s (one backward per loss), and the share of each h_t's path norms that truncated "
                    "BPTT with K steps would drop (the paths with s - t > K).  Row N is the tokens "
                    "N*T ... N*T+T-1 of the text, read from a zero state.",
    )
    parser.add_argument("--checkpoint", metavar="PATH", required=True, help="a checkpoint from `rnnplay train`")
    parser.add_argument("--row", type=int, nargs="+", default=[0], metavar="N",
                        help="corpus row(s); with several, the shares are also averaged over them (default: 0)")
    parser.add_argument("--steps", type=int, default=None, metavar="T",
                        help="steps per row, at most 128 (default: the checkpoint's --steps)")
    parser.add_argument("--layer", type=int, default=-1, metavar="L",
                        help="whose hidden state: 0 the bottom layer, -1 the top (default: -1)")
    parser.add_argument("--truncate", type=int, default=10, metavar="K",
                        help="the truncation whose dropped share is reported (default: 10)")
    parser.add_argument("--corpus", metavar="SOURCE", default=None,
                        help="the text to cut into rows (default: the checkpoint's corpus)")
    parser.add_argument("--latest", action="store_true",
                        help="use the latest weights rather than the best-validation ones")
    add_source_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object, C included")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.checkpoint import load_model
    from engine.errors import CheckpointError
    from engine.gradient_paths import (bptt_paths, check_steps, corpus_row, layer_index, mean_by_distance,
                                       truncation_dropped)
    from engine.minibatches import tokens_text
    from engine.tokenfile import prepare
    from tui.progress import progress_bar

    model, vocab, meta = load_model(args.checkpoint, device="cpu", best=not args.latest)
    config = meta["config"]
    source = args.corpus or (meta.get("corpus") or {}).get("name")
    if not source:
        raise CheckpointError(f"{args.checkpoint}: the checkpoint does not name its corpus; pass --corpus")
    steps = check_steps(args.steps if args.steps is not None else config["steps"])
    layer = layer_index(model, args.layer)
    truncation_dropped(torch.zeros(1, 1), args.truncate)  # a bad K is refused before the work
    with progress_bar() as progress:  # the text at the run's token level and mode, read as its vocabulary
        prepared = prepare(source, config["token"], config.get("mode", "book"), encoding=args.encoding,
                           max_bytes=args.max_bytes, progress=progress)
    table = prepared.lookup(vocab)
    rows = []
    for row in args.row:
        X, Y = corpus_row(prepared.tokens, row, steps, table)
        C, _ = bptt_paths(model, X, Y, layer=layer)
        per_t, dropped = truncation_dropped(C, args.truncate)
        rows.append({"row": row, "start": row * steps, "text": tokens_text(vocab, X.tolist(), config["token"]),
                     "dropped": dropped, "dropped_per_t": per_t.tolist(),
                     "mean_by_distance": mean_by_distance(C).tolist(), "C": C.tolist()})
    summary = {"checkpoint": str(args.checkpoint), "cell": config["cell"], "layers": model.num_layers,
               "layer": layer, "steps": steps, "truncate": args.truncate,
               "dropped": sum(r["dropped"] for r in rows) / len(rows), "rows": rows}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        _print(summary)
    return 0


def _print(summary: dict) -> None:
    k = summary["truncate"]
    print(f"{summary['cell']} · layer {summary['layer']} of {summary['layers']} · T = {summary['steps']}: "
          f"C[t, s] = ||dL_s/dh_t||, shares of each h_t's path norms sum_s C[t, s]")
    for r in summary["rows"]:
        direct = r["mean_by_distance"][0]
        profile = " ".join(f"{d}:{m / direct:.2g}" for d, m in enumerate(r["mean_by_distance"][:PROFILE])) \
            if direct > 0 else "no gradient"
        print(f"row {r['row']} (tokens {r['start']:,}-{r['start'] + summary['steps'] - 1:,}) {r['text']!r}")
        print(f"  from losses more than {k} steps ahead: {r['dropped']:.1%}")
        print(f"  mean C by distance s - t, relative to s = t: {profile}")
    if len(summary["rows"]) > 1:
        print(f"mean over {len(summary['rows'])} rows: {summary['dropped']:.1%} from losses more than {k} "
              f"steps ahead")
