"""``rnnplay forecast``: the training log, the horizon table, the JSON line and one-line errors."""
import json
import subprocess
import sys

import pytest

from tui.cli import main


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """The command sets torch to one thread; give the rest of the test session its count back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_json_line_has_the_loss_and_every_horizon(capsys):
    assert main(["forecast", "--T", "300", "--n-train", "200", "--max-steps", "8", "--epochs", "2",
                 "--steps", "2,8", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[0] for line in out[:2]] == ["epoch 1/2", "epoch 2/2"]
    data = json.loads(out[-1])
    assert set(data) >= {"train_loss", "mse_by_horizon"}
    assert len(data["train_loss"]) == 2 and all(loss > 0 for loss in data["train_loss"])
    assert set(data["mse_by_horizon"]) == {"mlp", "linear"}
    assert all(len(errors) == 8 for errors in data["mse_by_horizon"].values())
    table = "\n".join(out[2:-1])
    for k in (2, 8):  # the --steps rows show the JSON's numbers to 4 places
        row = next(line for line in table.splitlines() if line.strip("│ ").startswith(f"{k} "))
        assert f"{data['mse_by_horizon']['mlp'][k - 1]:.4f}" in row
        assert f"{data['mse_by_horizon']['linear'][k - 1]:.4f}" in row


def test_defaults_reproduce_the_books_picture(capsys):
    assert main(["forecast", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    assert len(data["train_loss"]) == 5
    mlp = data["mse_by_horizon"]["mlp"]
    assert len(mlp) == len(data["mse_by_horizon"]["linear"]) == 64
    assert mlp[0] < 0.07 and mlp[3] < 0.1 and mlp[63] > 3 * mlp[0]
    assert "sigma^2 = 0.0400" in "\n".join(out)


def test_without_json_there_is_no_json(capsys):
    assert main(["forecast", "--T", "200", "--n-train", "100", "--max-steps", "4", "--epochs", "1",
                 "--steps", "1,4"]) == 0
    assert "{" not in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--tau", "600"], "n_train (600) must be greater than tau (600)"),
    (["--T", "100"], "must be less than T (100)"),
    (["--max-steps", "997"], "max_steps must be between 1 and T - tau = 996"),
    (["--sigma", "-1"], "sigma must be a number from 0 to 100"),
    (["--steps", "1,65"], "horizon 65 is outside 1..max_steps (64)"),
    (["--steps", "one"], "'one' is not a whole number"),
    (["--epochs", "0"], "epochs must be at least 1"),
])
def test_bad_parameters_exit_2_with_one_line(capsys, argv, words):
    assert main(["forecast", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any training
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnplay: error:") and words in lines[0]


def test_help_lists_forecast_without_loading_torch():
    code = ("import sys, contextlib, io\n"
            "from tui.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
            "    main(['forecast', '--help'])\n"
            "print('--max-steps' in out.getvalue(), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
