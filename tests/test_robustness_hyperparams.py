"""Issue #7, hyperparameter rows: every bad value is one line naming it, from the engine and the CLI.

Covered elsewhere: TrainConfig's ranges one by one (tests/test_train.py::
test_config_validation_names_the_field), generate()'s num_chars / temperature / top_k checks
(tests/test_generate.py::test_bad_arguments_are_config_errors) and a negative temperature from the CLI
(tests/test_train_cli.py::test_generate_refuses_bad_sampling_options_before_writing).
"""
import math
from dataclasses import replace

import pytest
import torch

from engine import ConfigError, generate, resolve
from engine.device import resolve_device
from robustness_support import cli, fails_in_one_line, tiny_checkpoint, tiny_trainer


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the time traveller for so it will be convenient to speak of him " * 10)
    return str(path)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    return str(path)


# ------------------------------------------------------------------- engine ----

@pytest.mark.parametrize("field, value", [
    ("steps", "10"), ("batch", True), ("hidden", 2.0), ("epochs", None), ("epochs", 0), ("batch", -3),
    ("steps", 0), ("hidden", 10**9), ("lr", "0.1"), ("lr", -0.5), ("lr", math.inf), ("clip", None),
    ("clip", 0), ("clip", -math.inf), ("clip", math.nan)])
def test_non_numbers_and_non_positive_values_are_config_errors_naming_the_field(field, value):
    config = replace(resolve(), **{field: value})  # as a form or a file could hand them over
    with pytest.raises(ConfigError, match=f"^{field} {value!r}: ") as caught:
        config.validate()
    assert caught.value.field == field


def test_top_k_larger_than_the_vocabulary_samples_from_all_of_it():
    trainer = tiny_trainer()
    model, vocab = trainer.snapshot_model(), trainer.vocab
    runs = ["".join(generate(model, vocab, "the ", 40, temperature=1.0, top_k=k,
                             generator=torch.Generator().manual_seed(7))) for k in (None, len(vocab), 10**6)]
    assert runs[0] == runs[1] == runs[2]
    for k in (0, -1, 2.5):
        with pytest.raises(ConfigError, match="top-k"):
            generate(model, vocab, "the ", 5, temperature=1.0, top_k=k)


def test_cuda_without_cuda_is_a_clear_error_and_auto_falls_back_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0", "CUDA"):
        with pytest.raises(ConfigError, match="no usable CUDA device; use --device cpu or auto"):
            resolve_device(name)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="no usable CUDA"):
        tiny_trainer(device="cuda")


# ---------------------------------------------------------------------- CLI ----

@pytest.mark.parametrize("option", ["--steps", "--batch", "--hidden", "--epochs"])
@pytest.mark.parametrize("value", ["0", "-1", "x", "2.5", ""])
def test_train_size_options(capsys, corpus_file, option, value):
    err = fails_in_one_line(capsys, ["train", "--corpus", corpus_file, option, value], option.lstrip("-"))
    if value in ("0", "-1"):  # a number out of range: the engine's check
        assert err.startswith("rnnplay: error: ") and "whole number from 1" in err
    else:  # not a whole number: argparse, in one line naming the command
        assert err == f"rnnplay train: error: argument {option}: invalid int value: {value!r} " \
                      f"(see rnnplay train --help)"


@pytest.mark.parametrize("option, value", [("--lr", "0"), ("--lr", "-0.1"), ("--lr", "nan"), ("--lr", "inf"),
                                           ("--lr", "fast"), ("--clip", "0"), ("--clip", "-1"),
                                           ("--clip", "none"), ("--threads", "0"), ("--val-fraction", "1")])
def test_train_rate_and_clip_options(capsys, corpus_file, option, value):
    fails_in_one_line(capsys, ["train", "--corpus", corpus_file, option, value], option.lstrip("-").split("-")[0])


def test_train_on_cuda_without_cuda(capsys, corpus_file, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fails_in_one_line(capsys, ["train", "--corpus", corpus_file, "--device", "cuda"],
                      "--device cuda: this machine has no usable CUDA device; use --device cpu or auto")
    fails_in_one_line(capsys, ["train", "--corpus", corpus_file, "--device", "tpu"], "device")


@pytest.mark.parametrize("args, fragment", [
    (["--temperature", "-0.1"], "temperature"), (["--temperature", "nan"], "temperature"),
    (["--temperature", "hot"], "--temperature"), (["--top-k", "-1"], "top-k"), (["--top-k", "0"], "top-k"),
    (["--top-k", "3.5"], "--top-k"), (["--chars", "-1"], "number of characters"), (["--chars", "x"], "--chars")])
def test_generate_sampling_options(capsys, checkpoint, args, fragment):
    fails_in_one_line(capsys, ["generate", "--checkpoint", checkpoint, *args], fragment)
    assert capsys.readouterr().out == ""  # nothing written before the refusal


def test_generate_top_k_larger_than_the_vocabulary(capsys, checkpoint):
    outs = []
    for extra in ([], ["--top-k", "100000"]):
        assert cli(["generate", "--checkpoint", checkpoint, "--chars", "30", "--temperature", "1",
                    "--seed", "3", *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and len(outs[0]) == len("time traveller ") + 31


def test_usage_mistakes_are_one_line_naming_the_command(capsys):
    assert fails_in_one_line(capsys, ["frobnicate"], "invalid choice: 'frobnicate'").startswith("rnnplay: error: ")
    assert fails_in_one_line(capsys, ["generate", "--chars", "3", "--bogus"]) == \
        "rnnplay generate: error: unrecognized arguments: --bogus (see rnnplay generate --help)"
    assert fails_in_one_line(capsys, ["stats", "--token", "byte"]).startswith("rnnplay stats: error: argument")
    fails_in_one_line(capsys, ["train", "--steps"], "expected one argument", "rnnplay train --help")
    fails_in_one_line(capsys, ["--hidden", "many"], "rnnplay: error: argument --hidden")
    assert cli(["train", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: rnnplay train")
