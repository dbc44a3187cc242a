"""``rnnplay inspect``: what a checkpoint predicts next, what its units track, which inputs it leans on.

The numbers of the Inspect pane, headless: the next-token strip, one unit's activations, units
ranked by text features, gate saturation, saliency for one position, beam search.  With --json
the last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys

SHADES = " ░▒▓█"   # a value from its scale's low end to its high end, in a row under the text
ROW = 64           # tokens per row at char level; word rows are cut at about ROW * 2 characters


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inspect", help="look inside a trained checkpoint: next-token guesses, units, saliency, beam search",
        description="Read a text with a trained model (teacher forcing) and show its next-token guesses, "
                    "a unit's activations, the units that track simple features of the text, gate "
                    "saturation, saliency for one position, and beam-search continuations.",
    )
    parser.add_argument("--checkpoint", metavar="PATH", default=None,
                        help="a checkpoint from `rnnplay train` (default: the newest in the checkpoint folder)")
    parser.add_argument("--latest", action="store_true",
                        help="use the latest weights rather than the best-validation ones")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="TEXT", help="the text to read")
    source.add_argument("--from-corpus", metavar="START:LEN",
                        help="tokens START to START+LEN of the checkpoint's corpus, as it was trained on")
    parser.add_argument("--top", type=int, default=5, metavar="K",
                        help="next-token candidates per position (default: 5)")
    parser.add_argument("--unit", metavar="KEY:N", help="one unit's activations, e.g. l1.h:17 or l1.f:3")
    parser.add_argument("--rank", action="store_true", help="the units that track simple features of the text best")
    parser.add_argument("--quantity", metavar="KEY", help="rank only this quantity's units, e.g. l1.c (default: all)")
    parser.add_argument("--per-feature", type=int, default=3, metavar="N", help="units shown per feature (default: 3)")
    parser.add_argument("--saturation", action="store_true", help="how often each gate is below 0.1 or above 0.9")
    parser.add_argument("--saliency", type=int, metavar="T",
                        help="which inputs the prediction after position T leans on")
    parser.add_argument("--beam", type=int, metavar="W", help="continue the text by beam search of width W (1-32)")
    parser.add_argument("--chars", type=int, default=60, metavar="N",
                        help="tokens the beam search writes (default: 60)")
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads for torch (default: 1)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    parser.set_defaults(run=run)
    return parser


def _pair(value: str, option: str, example: str) -> tuple[str, str]:
    from engine.errors import ConfigError

    left, sep, right = value.rpartition(":")
    if not sep or not left or not right:
        raise ConfigError(f"{option} {value!r}: use {example}")
    return left, right


def _whole(text: str, option: str, example: str) -> int:
    from engine.errors import ConfigError

    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a whole number; use {example}") from None


def parse_unit(value: str) -> tuple[str, int]:
    """``"l1.h:17"`` -> ``("l1.h", 17)``."""
    key, unit = _pair(value, "--unit", "KEY:N, e.g. l1.h:17")
    return key, _whole(unit, "--unit", "KEY:N, e.g. l1.h:17")


def parse_span(value: str) -> tuple[int, int]:
    """``"1000:500"`` -> ``(1000, 500)``."""
    start, length = _pair(value, "--from-corpus", "START:LEN, e.g. 1000:500")
    return _whole(start, "--from-corpus", "START:LEN"), _whole(length, "--from-corpus", "START:LEN")


def shade(value: float, lo: float, hi: float) -> str:
    """One of SHADES for ``value`` on the scale lo..hi (clipped)."""
    x = min(max((value - lo) / (hi - lo), 0.0), 1.0)
    return SHADES[min(int(x * len(SHADES)), len(SHADES) - 1)]


def shown(token: str) -> str:
    return {"\n": "⏎", "\t": "⇥"}.get(token, token)


def rows(tokens: list[str], lines: list[tuple[list[str], bool]], gap: str) -> str:
    """The tokens in rows of about ROW characters (``gap`` between tokens), each row followed by
    one row per ``(cells, fill)`` of ``lines``: one string per token, cut or padded to the token's
    width, or with ``fill`` one character repeated across it."""
    limit = ROW * (2 if gap else 1)
    out, start = [], 0
    while start < len(tokens):
        end, width = start + 1, len(shown(tokens[start]))
        while end < len(tokens) and width + len(gap) + len(shown(tokens[end])) <= limit:
            width += len(gap) + len(shown(tokens[end]))
            end += 1
        widths = [len(shown(tok)) for tok in tokens[start:end]]
        out.append(gap.join(shown(tok) for tok in tokens[start:end]))
        for cells, fill in lines:
            out.append(gap.join(cell * w if fill else shown(cell)[:w].ljust(w)
                                for cell, w in zip(cells[start:end], widths)).rstrip())
        out.append("")
        start = end
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.checkpoint import load_model
    from engine.errors import ConfigError
    from engine.inspect import read_text

    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: must be at least 1")
    torch.set_num_threads(args.threads)
    unit = parse_unit(args.unit) if args.unit else None
    span = parse_span(args.from_corpus) if args.from_corpus else None
    from engine.paths import newest_checkpoint

    path = args.checkpoint or newest_checkpoint()
    model, vocab, meta = load_model(path, device="cpu", best=not args.latest)
    token = meta["config"]["token"]
    text = args.text if span is None else _corpus_text(meta, token, *span)
    reading = read_text(model, vocab, text, k=args.top)
    report = {"checkpoint": str(path), "cell": meta["config"]["cell"], "tokens": reading.tokens,
              "unknown": reading.unknown, "loss": reading.loss, "perplexity": reading.perplexity}
    gap = "" if token == "char" else " "
    if reading.unknown:
        unknown = sorted(set(_source_tokens(text, token, reading)))
        print(f"rnnplay: not in the vocabulary, read as <unk>: {' '.join(map(repr, unknown))}", file=sys.stderr)
    print(f"{len(reading.tokens):,} tokens, loss {reading.loss:.3f} nats/token, perplexity {reading.perplexity:.2f} "
          f"({meta['config']['cell']} {meta['config']['hidden']}x{meta['config']['layers']}, {path})")
    _next_tokens(reading, vocab, gap, report)
    if unit:
        _unit(reading, *unit, gap, report)
    if args.rank:
        _rank(reading, text, token, args.quantity, args.per_feature, report)
    if args.saturation:
        _saturation(reading, report)
    if args.saliency is not None:
        _saliency(model, reading, args.saliency, gap, report)
    if args.beam is not None:
        _beam(model, vocab, text, args.beam, args.chars, token, report)
    if args.json:
        print(json.dumps(report))
    return 0


def _corpus_text(meta: dict, token: str, start: int, length: int) -> str:
    from engine.errors import CheckpointError
    from engine.inspect import corpus_span
    from engine.tokenfile import prepare

    name = (meta.get("corpus") or {}).get("name")
    if not name:
        raise CheckpointError("the checkpoint does not name its corpus; use --text instead of --from-corpus")
    return corpus_span(prepare(name, token, meta["config"].get("mode", "book")), start, length)


def _source_tokens(text: str, token: str, reading) -> list[str]:
    from engine.generate import prefix_tokens

    words = prefix_tokens(text, token)
    return [words[t] for t in reading.unknown]


def _next_tokens(reading, vocab, gap: str, report: dict) -> None:
    guesses = vocab.to_tokens(reading.topk_idx[:, 0].tolist())
    probs = reading.log_probs_true.exp().tolist()
    shades = [" "] + [shade(p, 0, 1) for p in probs]  # the first token has no prediction
    print("under each token: the model's likeliest next token; then the probability it gave this token "
          f"({SHADES[1]} low ... {SHADES[-1]} high)\n")
    print(rows(reading.tokens, [(guesses, False), (shades, True)], gap))
    report["next"] = {"probs_true": probs, "top": [
        [[vocab.to_tokens(i), p] for i, p in zip(idx, ps)]
        for idx, ps in zip(reading.topk_idx.tolist(), reading.topk_p.tolist())]}


def _unit(reading, key: str, unit: int, gap: str, report: dict) -> None:
    from engine.inspect import shown_values

    values, lo, hi = shown_values(reading.acts, key, unit)
    label = f"tanh({key})" if key.endswith(".c") else key
    print(f"unit {key}:{unit} ({label} from {lo:g} to {hi:g}): min {values.min():.3f}, "
          f"mean {values.mean():.3f}, max {values.max():.3f}\n")
    print(rows(reading.tokens, [([shade(v, lo, hi) for v in values.tolist()], True)], gap))
    report["unit"] = {"key": key, "unit": unit, "low": lo, "high": hi, "values": values.tolist()}


def _rank(reading, text: str, token: str, quantity: str | None, per_feature: int, report: dict) -> None:
    from engine.errors import ConfigError
    from engine.unit_features import rank_units, text_features, top_per_feature

    if per_feature < 1:
        raise ConfigError(f"--per-feature {per_feature}: must be at least 1")
    ranked = rank_units(reading.acts, text_features(text, token), [quantity] if quantity else None)
    best = top_per_feature(ranked, per_feature)
    print(f"units ranked by |Pearson r| with features of the text ({'all quantities' if not quantity else quantity}):")
    print(f"  {'feature':<14} {'quantity':<11} {'unit':>5} {'r':>7}")
    for feature, scores in best.items():
        for s in scores:
            print(f"  {feature:<14} {s.key:<11} {s.unit:>5} {s.r:>+7.3f}")
    if not best:
        print("  (every feature is constant on this text: give a longer or more varied one)")
    print()
    report["rank"] = [s._asdict() for scores in best.values() for s in scores]


def _saturation(reading, report: dict) -> None:
    from engine.unit_features import gate_saturation

    fractions = gate_saturation(reading.acts)
    if not fractions:
        print("saturation: the RNN has no gates (use a gru or lstm checkpoint)\n")
    else:
        print("gate saturation (fraction of steps below 0.1 / above 0.9, averaged over units; "
              "units saturated more than half the time):")
    for key, (low, high) in fractions.items():
        print(f"  {key:<6} left {low.mean():.3f}  right {high.mean():.3f}   "
              f"{int((low > 0.5).sum())} units mostly left, {int((high > 0.5).sum())} mostly right "
              f"(of {low.numel()})")
    if fractions:
        print()
    report["saturation"] = {key: {"low": low.tolist(), "high": high.tolist()} for key, (low, high) in fractions.items()}


def _saliency(model, reading, t: int, gap: str, report: dict) -> None:
    from engine.saliency import saliency_of

    values = saliency_of(model, reading, t)
    top = max(float(values.max()), 1e-12)
    print(f"saliency for position {t} (predicting {reading.tokens[t + 1]!r}): ||d log p / d input|| of "
          f"every earlier token, largest {top:.3g}\n")
    print(rows(reading.tokens[:t + 1], [([shade(v, 0, top) for v in values.tolist()], True)], gap))
    order = values.argsort(descending=True)[:5].tolist()
    print("  most salient: " + ", ".join(f"{s} {reading.tokens[s]!r} {values[s]:.3g}" for s in order) + "\n")
    report["saliency"] = {"t": t, "values": values.tolist()}


def _beam(model, vocab, text: str, width: int, n: int, token: str, report: dict) -> None:
    from engine.beam import beam_search, sequence_log_prob
    from engine.generate import generate

    found = beam_search(model, vocab, text, n, width, token=token)
    greedy = "".join(generate(model, vocab, text, n, token=token))
    greedy_score = sequence_log_prob(model, vocab, text, greedy, token=token)
    print(f"beam search, width {width}, {n} tokens (total log-probability):")
    for candidate in found:
        print(f"  {candidate.log_prob:9.3f}  {candidate.text!r}")
    print(f"  greedy: {greedy_score:9.3f}  {greedy!r}\n")
    report["beam"] = [{"text": c.text, "log_prob": c.log_prob} for c in found]
    report["greedy"] = {"text": greedy, "log_prob": greedy_score}
