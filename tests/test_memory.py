"""Issue #12, item 6, memory on the CPU: what a configuration would allocate is estimated and
refused before anything is built; an allocation that fails anyway is one line, as CUDA's is."""
import pytest
import torch
from app_support import TINY, wait_for, wait_for_stats

import engine.checkpoint
import engine.train
from engine import CheckpointError, ConfigError, Trainer, resolve
from engine.cells import build_model, count_parameters
from engine.checkpoint import load_model
from engine.checkpoint_file import MAX_CHECKPOINT_BYTES, read_checkpoint, write_checkpoint
from engine.memory import is_out_of_memory, parameter_count, training_estimate
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cpu_allocation_error, fails_in_one_line, tiny_checkpoint
from tui.app import create_app

HUGE_MODEL = dict(cell="lstm", hidden=8192, layers=16)  # ~8.6e9 parameters: no machine holds its training
# on a machine with SMALL bytes available: weights or one step's activations too large
SMALL = 50 * 10 ** 6
WIDE = dict(cell="lstm", hidden=2048, layers=2, batch=4, steps=8)   # 2 GB of weights and optimizer state
LONG = dict(cell="rnn", hidden=64, batch=2000, steps=64)            # 0.4 GB of activations


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("embed", [0, 5])
def test_the_parameter_count_is_the_built_models(cell, layers, embed):
    if embed and cell == "rnn":
        pytest.skip("the book's RNN reads one-hot vectors")
    model = build_model(cell, 11, 6, layers, embed=embed)
    assert parameter_count(cell, 11, 6, layers, embed) == count_parameters(model)


def never_built(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(engine.train, "build_model", refuse)
    monkeypatch.setattr(engine.checkpoint, "build_model", refuse)


@pytest.mark.parametrize("sizes, lower", [(WIDE, "lower --hidden or --layers"), (LONG, "lower --batch or --steps")])
def test_a_model_that_cannot_fit_is_refused_before_it_is_built_naming_what_to_lower(monkeypatch, sizes, lower):
    never_built(monkeypatch)
    monkeypatch.setattr(engine.train, "available_memory", lambda device: SMALL)
    corpus, vocab = corpus_from_text(TEXT * 1000)
    config = resolve(**sizes, epochs=1, device="cpu", val_fraction=0)
    with pytest.raises(ConfigError, match=f"this model needs about .* is available; {lower}"):
        Trainer(config, corpus, vocab)


def test_the_estimate_is_compared_with_the_memory_available(monkeypatch):
    corpus, vocab = corpus_from_text(TEXT)
    config = resolve(hidden=64, steps=5, batch=4, epochs=1, device="cpu")
    needed = training_estimate(config, len(vocab)).total
    monkeypatch.setattr(engine.train, "available_memory", lambda device: needed - 1)
    with pytest.raises(ConfigError, match=f"and {needed / 1e6 - 1e-6:.0f} MB is available"):
        Trainer(config, corpus, vocab)
    monkeypatch.setattr(engine.train, "available_memory", lambda device: needed)
    assert count_parameters(Trainer(config, corpus, vocab).model) == training_estimate(config, len(vocab)).parameters


def test_a_model_whose_checkpoint_would_pass_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(engine.train, "available_memory", lambda device: 10 ** 15)  # a machine that could
    never_built(monkeypatch)
    corpus, vocab = corpus_from_text(TEXT)
    config = resolve(cell="gru", hidden=4096, layers=4, batch=4, steps=8, epochs=1, device="cpu")
    assert training_estimate(config, len(vocab)).checkpoint_bytes > MAX_CHECKPOINT_BYTES
    with pytest.raises(ConfigError, match=f"over the {MAX_CHECKPOINT_BYTES:,}-byte cap for checkpoints; lower "
                                          f"--hidden or --layers"):
        Trainer(config, corpus, vocab)


def test_the_cpu_allocators_failure_is_recognised():
    assert is_out_of_memory(cpu_allocation_error()) and is_out_of_memory(torch.OutOfMemoryError("CUDA"))
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(ValueError("memory"))


def test_a_failed_allocation_while_building_is_one_line(monkeypatch, tmp_path):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    error = cpu_allocation_error()

    def no_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr(engine.train, "build_model", no_memory)
    monkeypatch.setattr(engine.checkpoint, "build_model", no_memory)
    corpus, vocab = corpus_from_text(TEXT)
    with pytest.raises(ConfigError, match="^out of memory while building the model; lower --hidden or --layers$"):
        Trainer(resolve(hidden=8, steps=5, batch=4, device="cpu"), corpus, vocab)
    with pytest.raises(ConfigError, match="^out of memory while building the checkpoint's model; use a machine"):
        load_model(path)


def test_a_small_file_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path, monkeypatch, capsys):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    tensors, meta = read_checkpoint(path)
    meta["config"].update(HUGE_MODEL)
    huge = write_checkpoint(tmp_path / "huge.safetensors", tensors,
                            {k: v for k, v in meta.items() if k not in ("format", "version")})
    assert huge.stat().st_size < 100_000
    never_built(monkeypatch)
    corpus, _ = corpus_from_text(TEXT)
    for load in (load_model, lambda p: Trainer.load(p, corpus=corpus)):
        with pytest.raises(ConfigError, match="this checkpoint's model needs about|resuming this checkpoint needs"):
            load(huge)
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(huge)], "use a machine with more memory")
    # a vocabulary over the cap is refused before anything else is looked at
    meta["config"]["hidden"], meta["config"]["layers"] = 12, 1
    meta["vocab"] = ["<unk>"] + [chr(0x4E00 + i) for i in range(30_000)]
    wide = write_checkpoint(tmp_path / "wide.safetensors", tensors,
                            {k: v for k, v in meta.items() if k not in ("format", "version")})
    with pytest.raises(CheckpointError, match="vocabulary has 30,001 entries, over the cap of 30,000"):
        load_model(wide)


def test_rnnplay_train_refuses_a_model_too_large_in_one_line(tmp_path, capsys):
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    fails_in_one_line(capsys, ["train", "--corpus", str(src), "--cell", "lstm", "--hidden", "8192", "--layers", "16",
                               "--batch", "4", "--steps", "8",
                               "--save", str(tmp_path / "run.safetensors")], "this model needs about", "--hidden")
    assert not (tmp_path / "run.safetensors").exists()


async def test_the_apps_form_goes_through_the_same_check(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        app.query_one("#field-cell").value = "lstm"
        await pilot.pause()
        app.query_one("#field-hidden").value, app.query_one("#field-layers").value = "8192", "16"
        await pilot.press("f5")
        await wait_for(pilot, lambda: "needs about" in str(app.query_one("#train-error").render()),
                       what="the refusal")
        assert app.trainer is None and not app.training.running and app.is_running
