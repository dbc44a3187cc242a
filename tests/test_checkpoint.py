"""Checkpoints: round trips, atomic writes, and refusal of corrupt, foreign or hostile files."""
import json
import os

import pytest
import torch

from engine import CheckpointError, Trainer, resolve
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, safetensors_bytes, write_checkpoint
from engine.vocab import corpus_from_text

TEXT = "the time traveller for so it will be convenient to speak of him was expounding " * 6


pytestmark = pytest.mark.usefixtures("one_thread")


def trained(tmp_path, **overrides):
    corpus, vocab = corpus_from_text(TEXT)
    values = dict(hidden=12, steps=5, batch=4, epochs=1, device="cpu", optimizer="adam", lr=0.01)
    values.update(overrides)
    trainer = Trainer(resolve(**values), corpus, vocab, corpus_name="")
    list(trainer.run())
    path = tmp_path / "run.safetensors"
    trainer.save(path)
    return trainer, path, corpus


def test_round_trip_keeps_weights_vocabulary_configuration_and_progress(tmp_path):
    trainer, path, corpus = trained(tmp_path)
    assert not trainer.dirty
    model, vocab, meta = load_model(path, best=False)
    assert vocab.idx_to_token == trainer.vocab.idx_to_token
    assert meta["config"]["hidden"] == 12 and meta["config"]["optimizer"] == "adam"
    assert all(torch.equal(p, q) for p, q in zip(model.params, trainer.model.params))
    best, _, _ = load_model(path)
    tensors, _ = trainer.state_dict()
    assert all(torch.equal(p, tensors[f"best.{name}"]) for name, p in best.named_parameters())
    again = Trainer.load(path, corpus=corpus)
    assert (again.epoch, again.global_step, again.best_val_perplexity) == \
           (trainer.epoch, trainer.global_step, trainer.best_val_perplexity)
    state, saved = again.optimizer.state_dict()["state"], trainer.optimizer.state_dict()["state"]
    assert all(torch.equal(state[i]["exp_avg_sq"], saved[i]["exp_avg_sq"]) for i in saved)


def test_resume_reads_a_builtin_corpus_again_and_checks_it(timemachine, tmp_path):
    from engine.tokenfile import load_corpus

    corpus, vocab = load_corpus("timemachine", max_tokens=2000)
    config = resolve(hidden=8, steps=5, batch=4, epochs=1, max_tokens=2000, device="cpu")
    trainer = Trainer(config, corpus, vocab, corpus_name="timemachine")
    trainer.save(tmp_path / "tm.safetensors")
    assert Trainer.load(tmp_path / "tm.safetensors").corpus_name == "timemachine"
    with pytest.raises(CheckpointError, match="not the one"):
        Trainer.load(tmp_path / "tm.safetensors", corpus=corpus.flip(0))


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    _, path, corpus = trained(tmp_path)
    before = path.read_bytes()
    trainer = Trainer.load(path, corpus=corpus, changes={"epochs": 2})
    list(trainer.run())

    def crash(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CheckpointError, match="cannot write"):
        trainer.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]
    assert trainer.dirty


def test_corrupt_and_truncated_files_are_one_line_errors(tmp_path):
    _, path, _ = trained(tmp_path)
    data = path.read_bytes()
    cases = {"truncated": data[: len(data) // 2], "empty": b"", "short": b"abc",
             "garbage": os.urandom(4096), "bad header": data[:8] + b"{" * 50 + data[58:],
             "huge length": (10 ** 15).to_bytes(8, "little") + data[8:]}
    for name, content in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        for load in (load_model, Trainer.load):
            with pytest.raises(CheckpointError) as info:
                load(bad)
            assert "\n" not in str(info.value) and bad.name in str(info.value), name
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")


def test_a_foreign_safetensors_file_or_a_mismatched_one_is_refused(tmp_path):
    _, path, _ = trained(tmp_path)
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(safetensors_bytes({"w": torch.zeros(2)}))
    with pytest.raises(CheckpointError, match="not an rnnplay checkpoint"):
        load_model(foreign)

    tensors, meta = read_checkpoint(path)
    meta["config"]["hidden"] = 99  # shapes no longer match the configuration
    write_checkpoint(tmp_path / "mismatch.safetensors", tensors, {k: v for k, v in meta.items()
                                                                 if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="does not match"):
        load_model(tmp_path / "mismatch.safetensors")

    meta["config"]["hidden"] = 12
    meta["vocab"] = ["a", "b"]
    write_checkpoint(tmp_path / "vocab.safetensors", tensors, {k: v for k, v in meta.items()
                                                              if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="vocabulary"):
        load_model(tmp_path / "vocab.safetensors")

    meta["vocab"] = json.loads(json.dumps(["<unk>"] + list("abc")))
    meta["version"] = 99
    fake = tmp_path / "future.safetensors"
    fake.write_bytes(safetensors_bytes({"w": torch.zeros(1)}, metadata={"rnnplay": json.dumps(meta)}))
    with pytest.raises(CheckpointError, match="version 99"):
        load_model(fake)


class _Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_carrying_code_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    torch.save({"model": _Payload(marker)}, evil)
    assert not marker.exists()
    for load in (load_model, Trainer.load):
        with pytest.raises(CheckpointError, match="not an rnnplay checkpoint"):
            load(evil)
    assert not marker.exists()
