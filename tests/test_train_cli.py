"""``rnnplay train`` and ``rnnplay generate`` end to end, in process."""
import json
import os
import signal
import threading
import time

import pytest

from tui.cli import main

SMALL = ["--corpus", "timemachine", "--max-tokens", "3000", "--hidden", "16", "--steps", "10", "--batch", "8",
         "--device", "cpu"]
KEYS = {"epochs", "steps", "seconds", "tokens_per_sec", "train_perplexity", "val_perplexity", "grad_norm_mean",
        "clipped_fraction", "sample"}


def train_json(capsys, *args):
    code = main(["train", *SMALL, "--json", *args])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_train_json_summary_then_generate(timemachine, tmp_path, capsys):
    path = tmp_path / "tm.safetensors"
    code, summary = train_json(capsys, "--epochs", "3", "--save", str(path))
    assert code == 0 and KEYS <= set(summary)
    assert summary["epochs"] == 3 and summary["steps"] > 0 and summary["sample"].startswith("time traveller ")
    assert 0 <= summary["clipped_fraction"] <= 1 and summary["val_perplexity"] > 1
    assert path.is_file()

    assert main(["generate", "--checkpoint", str(path), "--prefix", "the tiMe ", "--chars", "25"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("the tiMe ") and len(captured.out.rstrip("\n")) == len("the tiMe ") + 25
    assert "'M'" in captured.err  # the unknown character is reported


def test_resume_continues_to_more_epochs(timemachine, tmp_path, capsys):
    path = tmp_path / "tm.safetensors"
    train_json(capsys, "--epochs", "2", "--save", str(path))
    code = main(["train", "--resume", str(path), "--epochs", "3", "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["epochs"] == 3
    assert main(["train", "--resume", str(path), "--hidden", "32"]) == 2
    assert "--resume keeps" in capsys.readouterr().err


def test_default_save_path_is_in_the_checkpoint_folder(timemachine, capsys):
    from engine.paths import checkpoint_dir

    code, summary = train_json(capsys, "--epochs", "1")
    assert code == 0 and summary["checkpoint"] == str(checkpoint_dir() / "timemachine-char.safetensors")
    assert main(["generate", "--chars", "5"]) == 0  # the newest checkpoint by default
    assert capsys.readouterr().out.startswith("time traveller ")


@pytest.mark.parametrize("args, message", [(["--hidden", "0"], "hidden"), (["--lr", "-1"], "lr"),
                                           (["--val-fraction", "0.7"], "val_fraction"),
                                           (["--corpus", "/no/such/file.txt"], "no such file")])
def test_bad_options_are_one_line_errors(timemachine, capsys, args, message):
    assert main(["train", *SMALL, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_generate_without_a_checkpoint_is_a_one_line_error(capsys):
    assert main(["generate", "--chars", "5"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_saves(timemachine, tmp_path, capsys):
    path = tmp_path / "tm.safetensors"
    original = signal.getsignal(signal.SIGINT)

    def interrupt():
        deadline = time.monotonic() + 30
        while signal.getsignal(signal.SIGINT) is original and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    code = main(["train", *SMALL, "--epochs", "100000", "--save", str(path), "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 130 and 0 < summary["steps"] and summary["epochs"] < 100000
    assert signal.getsignal(signal.SIGINT) is original
    from engine import Trainer
    assert Trainer.load(path).global_step == summary["steps"]


def test_train_options_fill_a_train_config():
    import argparse

    from engine import ConfigError, resolve
    from tui.options import add_train_arguments, train_config_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert train_config_from_args(parser.parse_args([])) == resolve()
    config = train_config_from_args(parser.parse_args(
        ["--iter", "sequential", "--optimizer", "sgd", "--hidden", "512", "--steps", "35", "--batch", "32",
         "--max-tokens", "10000", "--val-fraction", "0", "--time-budget", "60", "--device", "cpu"]))
    assert (config.iterator, config.optimizer, config.lr, config.hidden, config.steps, config.batch) == \
           ("sequential", "sgd", 1.0, 512, 35, 32)
    assert (config.max_tokens, config.val_fraction, config.time_budget, config.device) == (10000, 0, 60, "cpu")
    assert train_config_from_args(parser.parse_args(["--lr", "0.01"])).lr == 0.01
    with pytest.raises(ConfigError, match="steps"):
        train_config_from_args(parser.parse_args(["--steps", "0"]))


def test_generate_refuses_bad_sampling_options_before_writing(timemachine, tmp_path, capsys):
    path = tmp_path / "tm.safetensors"
    train_json(capsys, "--epochs", "1", "--save", str(path))
    assert main(["generate", "--checkpoint", str(path), "--temperature", "-1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "temperature" in captured.err


def test_an_lr_without_optimizer_is_the_books_sgd_recipe():
    import argparse

    from tui.options import add_train_arguments, train_config_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert train_config_from_args(parser.parse_args([])).optimizer == "adam"
    book = train_config_from_args(parser.parse_args(["--lr", "1"]))
    assert (book.optimizer, book.lr) == ("sgd", 1.0)
    chosen = train_config_from_args(parser.parse_args(["--lr", "0.01", "--optimizer", "adam"]))
    assert (chosen.optimizer, chosen.lr) == ("adam", 0.01)
