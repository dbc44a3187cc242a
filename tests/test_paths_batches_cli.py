"""``rnnplay paths`` and ``rnnplay batches``, run in-process."""
import json

import pytest
import torch

from engine.checkpoint import load_model
from engine.corpus import read_source
from engine.gradient_paths import bptt_paths, corpus_row, truncation_dropped
from engine.minibatches import first_minibatches
from engine.vocab import corpus_from_text, encode_text
from tui.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["--corpus", "timemachine", "--max-tokens", "3000", "--hidden", "12", "--steps", "10", "--batch", "8",
         "--epochs", "1", "--device", "cpu"]


@pytest.fixture
def checkpoint(timemachine, tmp_path, capsys):
    path = tmp_path / "lstm.safetensors"
    assert main(["train", *SMALL, "--cell", "lstm", "--layers", "2", "--embed", "4", "--save", str(path),
                 "--json"]) == 0
    capsys.readouterr()
    return path


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_paths_json_is_C_for_the_corpus_row(checkpoint, capsys):
    code, out, err = cli(capsys, "paths", "--checkpoint", str(checkpoint), "--row", "3", "7", "--steps", "20",
                         "--layer", "0", "--truncate", "4", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert (data["cell"], data["layers"], data["layer"], data["steps"], data["truncate"]) == ("lstm", 2, 0, 20, 4)
    model, vocab, _ = load_model(checkpoint, device="cpu")
    tokens = torch.tensor(encode_text(read_source("timemachine").text, vocab))
    for got, row in zip(data["rows"], (3, 7)):
        X, Y = corpus_row(tokens, row, 20)
        C, _ = bptt_paths(model, X, Y, layer=0)
        assert got["row"] == row and got["start"] == row * 20
        torch.testing.assert_close(torch.tensor(got["C"]), C)
        per_t, dropped = truncation_dropped(C, 4)
        assert got["dropped"] == pytest.approx(dropped) and got["dropped_per_t"] == pytest.approx(per_t.tolist())
        assert len(got["text"]) == 20
    assert data["dropped"] == pytest.approx(sum(r["dropped"] for r in data["rows"]) / 2)


def test_paths_text_summary_uses_the_checkpoints_steps(checkpoint, capsys):
    code, out, _ = cli(capsys, "paths", "--checkpoint", str(checkpoint))
    assert code == 0
    assert "lstm · layer 1 of 2 · T = 10" in out and "row 0 (tokens 0-9)" in out
    assert "from losses more than 10 steps ahead: 0.0%" in out  # T = 10: no path is longer than 9 steps


@pytest.mark.parametrize("args,message", [
    (["--steps", "129"], "1 to 128 steps"), (["--layer", "2"], "has 2 layer(s)"),
    (["--row", "999999"], "rows of 10 steps"), (["--truncate", "-1"], "truncation -1"),
])
def test_paths_bad_options_are_one_line_errors(checkpoint, capsys, args, message):
    code, out, err = cli(capsys, "paths", "--checkpoint", str(checkpoint), *args)
    assert code == 2 and out == ""
    assert err.startswith("rnnplay: error: ") and message in err and err.count("\n") == 1


def test_batches_json_is_the_preview(timemachine, capsys):
    code, out, err = cli(capsys, "batches", "--corpus", "timemachine", "--batch", "3", "--steps", "12",
                         "--iter", "sequential", "--count", "4", "--seed", "5", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    corpus, vocab = corpus_from_text(read_source("timemachine").text)
    preview = first_minibatches(corpus, 3, 12, "sequential", 4, seed=5)
    assert data["minibatches"] == 4 and len(data["rows"]) == 12
    for got, row in zip(data["rows"], [row for minibatch in preview for row in minibatch]):
        assert (got["batch"], got["row"], got["start"], got["X"], got["Y"], got["continues"]) == (
            row.batch, row.row, row.start, row.X, row.Y, row.continues)
        assert got["X_text"] == "".join(vocab.to_tokens(row.X)) and got["Y_text"][:-1] == got["X_text"][1:]


def test_batches_text_marks_the_rows_that_continue(timemachine, capsys):
    code, out, _ = cli(capsys, "batches", "--batch", "2", "--steps", "6", "--iter", "sequential", "--count", "2")
    assert code == 0 and "carried" in out
    assert out.count("continues row") == 2 and "continues row 1 of minibatch 0" in out
    code, out, _ = cli(capsys, "batches", "--batch", "2", "--steps", "6", "--iter", "random", "--count", "2")
    assert code == 0 and "fresh (zero) hidden state" in out


@pytest.mark.parametrize("args,message", [
    (["--batch", "0"], "batch 0"), (["--steps", "-3"], "steps -3"), (["--count", "0"], "count 0"),
    (["--count", "1000"], "count 1000"), (["--batch", "100000", "--steps", "100"], "too few for one minibatch"),
])
def test_batches_bad_values_are_one_line_errors(timemachine, capsys, args, message):
    code, out, err = cli(capsys, "batches", *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
