"""Every cell through the trainer, the gradient-flow readout, checkpoints, generation and the CLI."""
import json

import pytest
import torch

from engine import CheckpointError, ConfigError, Trainer, resolve
from engine.cells import MODELS, build_model
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.config import CELL_DEFAULTS
from engine.generate import generate
from engine.metrics import evaluate_perplexity
from engine.train import split_corpus
from engine.vocab import corpus_from_text
from tui.cli import main

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 4
CELLS = ("rnn", "gru", "lstm")


pytestmark = pytest.mark.usefixtures("one_thread")


def make_trainer(cell, **overrides):
    values = dict(cell=cell, hidden=12, layers=2, dropout=0.2, steps=5, batch=4, epochs=1, device="cpu", seed=1)
    values.update(overrides)
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(resolve(**values), corpus, vocab, corpus_name="")


@pytest.mark.parametrize("cell", CELLS)
def test_trainer_trains_each_cell_with_dropout_off_while_validating(cell):
    trainer = make_trainer(cell)
    assert isinstance(trainer.model, MODELS[cell]) and trainer.model.num_layers == 2
    before = [p.detach().clone() for p in trainer.model.params]
    records = list(trainer.run())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.params))
    epoch = records[-1]
    assert epoch.val_perplexity is not None and 1 < epoch.val_perplexity < 40
    trainer.model.eval()  # the validation figure is deterministic: no dropout in it
    _, val = split_corpus(corpus_from_text(TEXT)[0], trainer.config.val_fraction)
    assert evaluate_perplexity(trainer.model, val, trainer.device) == pytest.approx(epoch.val_perplexity)


@pytest.mark.parametrize("cell", CELLS)
def test_sequential_state_is_carried_and_checkpointed_for_each_cell(cell, tmp_path):
    trainer = make_trainer(cell, iterator="sequential", epochs=2)
    run = trainer.run()
    for _ in range(3):
        next(run)
    run.close()
    carried = {k: v for k, v in trainer.state_dict()[0].items() if k.startswith("state.")}
    assert sorted(carried) == (["state.c", "state.h"] if cell == "lstm" else ["state.h"])
    assert all(not s.requires_grad for s in carried.values())
    path = tmp_path / f"{cell}.safetensors"
    trainer.save(path)
    again = Trainer.load(path, corpus=corpus_from_text(TEXT)[0])
    for key, value in carried.items():
        assert torch.equal(value, again.state_dict()[0][key])
    for (name, p), (name2, q) in zip(trainer.model.named_parameters(), again.model.named_parameters()):
        assert name == name2 and torch.equal(p, q)
    assert list(trainer.run())[-1].val_perplexity == pytest.approx(list(again.run())[-1].val_perplexity)


def test_weight_decay_shrinks_the_weights():
    norms = []
    for decay in (0.0, 0.5):
        trainer = make_trainer("gru", weight_decay=decay, dropout=0.0)
        list(trainer.run())
        norms.append(float(torch.sqrt(sum((p.detach() ** 2).sum() for p in trainer.model.params))))
    assert norms[1] < 0.99 * norms[0]


def test_a_checkpoint_whose_cell_or_depth_is_wrong_is_a_clear_error(tmp_path):
    trainer = make_trainer("lstm", layers=1)
    list(trainer.run())
    trainer.save(tmp_path / "lstm.safetensors")
    tensors, meta = read_checkpoint(tmp_path / "lstm.safetensors")
    body = {k: v for k, v in meta.items() if k not in ("format", "version")}
    for field, value, says in (("cell", "gru", "gru with 1 layer"), ("layers", 3, "lstm with 3 layer")):
        body["config"] = {**meta["config"], field: value}
        write_checkpoint(tmp_path / "wrong.safetensors", tensors, body)
        with pytest.raises(CheckpointError, match=f"says {says}.*holds the weights of lstm with 1 layer"):
            load_model(tmp_path / "wrong.safetensors")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_saved_deep_gated_model_writes(cell, tmp_path):
    trainer = make_trainer(cell)
    list(trainer.run())
    trainer.save(tmp_path / "m.safetensors")
    model, vocab, meta = load_model(tmp_path / "m.safetensors")
    assert type(model) is MODELS[cell] and meta["config"]["cell"] == cell and not model.training
    text = "".join(generate(model, vocab, "the time ", 20, temperature=1.0,
                            generator=torch.Generator().manual_seed(0)))
    assert len(text) == 20
    greedy = "".join(generate(model, vocab, "the time ", 20))
    assert greedy == "".join(generate(trainer.snapshot_model(best=True), vocab, "the time ", 20))


def test_gradient_flow_reaches_further_back_in_gated_cells_at_the_books_initialisation():
    """With N(0, 0.01^2) weights each RNN step keeps ~8% of the gradient (dH_t/dH_(t-1) ~ W_hh),
    while a gate at sigma(0) = 0.5 passes half of it on: the GRU's H_t directly, the LSTM's through
    its memory cell C_t.  Over 9 steps that is a gap of many orders of magnitude."""
    from engine.metrics import gradient_flow

    X = torch.randint(0, 20, (4, 10), generator=torch.Generator().manual_seed(0))
    reach = {}
    for cell in CELLS:
        norms = gradient_flow(build_model(cell, 20, 64, generator=torch.Generator().manual_seed(0)), X, X)
        assert len(norms) == 10 and all(n > 0 for n in norms)
        reach[cell] = norms[0] / norms[-1]
    assert reach["rnn"] < 1e-8
    assert reach["lstm"] > 1e4 * reach["rnn"] and reach["gru"] > 1e4 * reach["rnn"]


def test_cell_defaults_and_validation():
    for cell, defaults in CELL_DEFAULTS.items():
        config = resolve(cell=cell)
        assert all(getattr(config, k) == v for k, v in defaults.items())
    assert resolve(cell="lstm", hidden=64).hidden == 64 and resolve().cell == "rnn"
    for field, value in (("cell", "tree"), ("layers", 0), ("dropout", 1.0), ("dropout", -0.1),
                         ("weight_decay", -1.0)):
        with pytest.raises(ConfigError, match=field):
            resolve(**{field: value}).validate()


SMALL = ["--corpus", "timemachine", "--max-tokens", "3000", "--hidden", "16", "--steps", "10", "--batch", "8",
         "--device", "cpu"]


def test_train_cli_with_a_deep_lstm_then_generate(timemachine, tmp_path, capsys):
    path = tmp_path / "lstm.safetensors"
    code = main(["train", *SMALL, "--cell", "lstm", "--layers", "2", "--dropout", "0.1", "--weight-decay", "0.01",
                 "--epochs", "1", "--json", "--save", str(path)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["val_perplexity"] > 1
    config = read_checkpoint(path)[1]["config"]
    assert (config["cell"], config["layers"], config["dropout"], config["weight_decay"]) == ("lstm", 2, 0.1, 0.01)
    assert main(["generate", "--checkpoint", str(path), "--prefix", "the ", "--chars", "10"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n")) == len("the ") + 10
    assert main(["train", *SMALL, "--cell", "lstm", "--dropout", "1.5"]) == 2
    assert "dropout" in capsys.readouterr().err


def test_compare_cli_json(tmp_path, capsys):
    text = tmp_path / "small.txt"
    text.write_text(TEXT * 10)
    code = main(["compare", "--cells", "rnn,lstm", "--budget", "0.5", "--corpus", str(text), "--json"])
    out = capsys.readouterr()
    result = json.loads(out.out.strip().splitlines()[-1])
    assert code == 0 and [r["cell"] for r in result["results"]] == ["rnn", "lstm"]
    for row in result["results"]:
        assert row["params"] > 0 and row["tokens_per_sec"] > 0 and row["val_perplexity"] > 1
    assert result["ngram_best"]["n"] in range(1, 6) and result["ngram_best"]["val_perplexity"] > 1
    with pytest.raises(SystemExit) as usage:
        main(["compare", "--cells", "rnn,tree"])
    assert usage.value.code == 2 and "'rnn,tree': give a comma-separated list" in capsys.readouterr().err
