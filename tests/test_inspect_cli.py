"""``rnnplay inspect``: the engine's numbers for a checkpoint, headless, and one-line errors."""
import json

import pytest
import torch

from engine.beam import beam_search
from engine.checkpoint import load_model
from engine.config import resolve
from engine.corpus import read_source
from engine.inspect import read_text
from engine.saliency import saliency_of
from engine.train import Trainer
from engine.unit_features import gate_saturation, rank_units, text_features, top_per_feature
from engine.vocab import corpus_from_text, text_tokens
from tui.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

TEXT = "the time traveller smiled and said so"


@pytest.fixture
def checkpoint(timemachine, tmp_path):
    """A tiny LSTM trained for one epoch on the first 2,000 characters of The Time Machine."""
    config = resolve(cell="lstm", hidden=8, embed=4, layers=1, dropout=0.0, steps=8, batch=4, epochs=1,
                         max_tokens=2000, optimizer="sgd", lr=1.0, device="cpu")
    corpus, vocab = corpus_from_text(read_source("timemachine").text, max_tokens=2000)
    trainer = Trainer(config, corpus, vocab, corpus_name="timemachine")
    for _ in trainer.run():
        pass
    path = tmp_path / "tiny.safetensors"
    trainer.save(path)
    return path


def run_json(capsys, *args):
    code = main(["inspect", *args, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out.strip().splitlines()[-1]), out


def test_the_json_holds_the_engines_numbers(checkpoint, capsys):
    report, out = run_json(capsys, "--checkpoint", str(checkpoint), "--text", TEXT, "--top", "3",
                           "--unit", "l1.c:5", "--rank", "--saturation", "--saliency", "10",
                           "--beam", "3", "--chars", "12")
    model, vocab, _ = load_model(checkpoint, device="cpu")
    reading = read_text(model, vocab, TEXT, k=3)
    assert report["tokens"] == list(TEXT) and report["cell"] == "lstm"
    assert report["loss"] == pytest.approx(reading.loss, rel=1e-6)
    assert report["next"]["probs_true"] == pytest.approx(reading.log_probs_true.exp().tolist(), rel=1e-5)
    assert [[tok for tok, _ in row] for row in report["next"]["top"]] == \
        [vocab.to_tokens(row) for row in reading.topk_idx.tolist()]
    assert report["unit"]["values"] == pytest.approx(torch.tanh(reading.acts["l1.c"][:, 5]).tolist(), abs=1e-6)
    best = top_per_feature(rank_units(reading.acts, text_features(TEXT)), 3)
    assert report["rank"] == [s._asdict() for scores in best.values() for s in scores]
    assert set(report["saturation"]) == {"l1.i", "l1.f", "l1.o"}
    assert report["saturation"]["l1.f"]["high"] == pytest.approx(gate_saturation(reading.acts)["l1.f"][1].tolist())
    assert report["saliency"]["values"] == pytest.approx(saliency_of(model, reading, 10).tolist(), rel=1e-5)
    found = beam_search(model, vocab, TEXT, 12, 3)
    assert [c["text"] for c in report["beam"]] == [c.text for c in found]
    assert report["beam"][0]["log_prob"] >= report["greedy"]["log_prob"] - 1e-4
    # and for a person: the strip under the text, the ranking table, the candidates
    assert TEXT in out.replace("\n", "") or "the time traveller" in out
    assert "units ranked by |Pearson r|" in out and "beam search, width 3" in out


def test_a_corpus_span_is_read_as_trained_on(checkpoint, capsys):
    report, _ = run_json(capsys, "--checkpoint", str(checkpoint), "--from-corpus", "100:40")
    assert "".join(report["tokens"]) == "".join(text_tokens(read_source("timemachine").text)[100:140])
    assert len(report["tokens"]) == 40


def test_unknown_characters_are_read_as_unk_and_named(checkpoint, capsys):
    code = main(["inspect", "--checkpoint", str(checkpoint), "--text", "The Time!", "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert "read as <unk>: '!' 'T'" in captured.err
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert report["tokens"][0] == "<unk>" and report["unknown"] == [0, 4, 8]


@pytest.mark.parametrize("args,message", [
    (["--text", "a" * 20_001], "at most 20,000"),
    (["--text", TEXT, "--unit", "l1.h:8"], "l1.h has units 0 to 7"),
    (["--text", TEXT, "--unit", "l1.z:0"], "no quantity 'l1.z'"),
    (["--text", TEXT, "--unit", "l1.h"], "use KEY:N"),
    (["--text", TEXT, "--unit", "l1.h:x"], "not a whole number"),
    (["--text", TEXT, "--saliency", str(len(TEXT) - 1)], "position"),
    (["--text", TEXT, "--beam", "33"], "beam width 33"),
    (["--text", TEXT, "--top", "29"], "vocabulary size, 28"),
    (["--text", TEXT, "--rank", "--quantity", "l2.h"], "no quantity 'l2.h'"),
    (["--from-corpus", "99999999:10"], "span start"),
    (["--from-corpus", "5"], "START:LEN"),
    (["--text", ""], "no tokens"),
    (["--text", TEXT, "--threads", "0"], "--threads 0"),
])
def test_bad_input_is_a_one_line_error(checkpoint, capsys, args, message):
    assert main(["inspect", "--checkpoint", str(checkpoint), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_no_checkpoint_is_a_one_line_error(capsys):
    assert main(["inspect", "--text", TEXT]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and err.count("\n") == 1
