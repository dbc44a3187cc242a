"""The gated cells' embedding option: configuration, checkpoints (old ones included), CLI."""
import pytest
import torch

from engine import ConfigError, Trainer, resolve
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.vocab import corpus_from_text
from tui.parser import build_parser
from tui.options import train_config_from_args

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 6

pytestmark = pytest.mark.usefixtures("one_thread")


def trainer(**overrides):
    values = dict(cell="lstm", hidden=16, steps=5, batch=4, epochs=1, device="cpu", seed=1)
    values.update(overrides)
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(resolve(**values), corpus, vocab)


def test_gated_cells_default_to_an_embedding_and_the_rnn_refuses_one():
    assert resolve(cell="lstm").embed == 64 and resolve(cell="gru").embed == resolve().embed == 0
    assert trainer(embed=8).model.W_e.shape == (len(corpus_from_text(TEXT)[1]), 8)
    assert not hasattr(trainer(embed=0).model, "W_e")
    with pytest.raises(ConfigError, match="embed 8: the book's RNN reads one-hot vectors"):
        resolve(cell="rnn", embed=8).validate()
    with pytest.raises(ConfigError, match="embed -1: must be a whole number"):
        resolve(cell="gru", embed=-1).validate()


def test_a_checkpoint_keeps_its_embedding_and_one_from_before_the_option_loads_as_one_hot(tmp_path):
    run = trainer(embed=8)
    list(run.run())
    run.save(tmp_path / "embed.safetensors")
    model, _, meta = load_model(tmp_path / "embed.safetensors")
    assert meta["config"]["embed"] == 8 and torch.equal(model.W_e, run.model.W_e)

    old = trainer(embed=0, schedule="constant")
    list(old.run())
    old.save(tmp_path / "old.safetensors")
    tensors, meta = read_checkpoint(tmp_path / "old.safetensors")
    for field in ("embed", "schedule"):  # as written before these options existed
        del meta["config"][field]
    write_checkpoint(tmp_path / "old.safetensors", tensors, meta)
    corpus, _ = corpus_from_text(TEXT)
    resumed = Trainer.load(tmp_path / "old.safetensors", corpus=corpus)
    assert resumed.config.embed == 0 and resumed.config.schedule == "constant"
    assert all(torch.equal(p, q) for p, q in zip(resumed.model.params, old.model.params))


def test_the_cli_option():
    parser = build_parser()
    assert train_config_from_args(parser.parse_args(["train", "--cell", "gru", "--embed", "0"])).embed == 0
    assert train_config_from_args(parser.parse_args(["train", "--cell", "lstm", "--embed", "32"])).embed == 32
