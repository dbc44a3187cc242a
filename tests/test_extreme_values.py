"""Issue #12, item 6: numbers at the ends of the float range and past 64 bits, and options that
were accepted and then ignored.  Each is refused in one line before any work, or works sanely;
JSON never carries NaN."""
import argparse
import json

import pytest

from engine.checkpoint_file import read_checkpoint
from engine.config import MAX_SEED
from engine.sysinfo import usable_cpus
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cli, fails_in_one_line, tiny_checkpoint
from tui.options import threads

TINY = ["--hidden", "8", "--steps", "5", "--batch", "4", "--epochs", "1", "--device", "cpu"]
EXTREMES = ["5e-324", "1e-300", "1e-38", "3.4e38", "1e308", "1.7976931348623157e308"]


def strict(line: str):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(line, parse_constant=refuse)


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return str(path)


@pytest.mark.parametrize("option", ["--lr", "--clip", "--weight-decay", "--time-budget", "--dropout"])
@pytest.mark.parametrize("value", EXTREMES)
def test_float_options_at_the_ends_of_the_range_are_refused_or_train_sanely(corpus_file, tmp_path, capsys, option,
                                                                          value):
    code = cli(["train", "--corpus", corpus_file, *TINY, option, value, "--save", str(tmp_path / "r.safetensors"),
                "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code == 2:  # refused before any work, naming the option and its range
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and option.lstrip("-").replace("-", "_") in lines[0] and "must be" in lines[0]
        assert not (tmp_path / "r.safetensors").exists()
    else:
        assert code == 0, captured.err
        summary = strict(captured.out.splitlines()[-1])
        assert summary["steps"] >= 1


def test_the_largest_values_allowed_train(corpus_file, capsys):
    for option, value in [("--lr", "1000"), ("--clip", "1e6"), ("--weight-decay", "100"),
                          ("--time-budget", "1000000"), ("--seed", str(MAX_SEED))]:
        code = cli(["train", "--corpus", corpus_file, *TINY, "--cell", "gru", "--dropout", "0.5", option, value,
                    "--json"])
        captured = capsys.readouterr()
        if code == 2:  # accepted, and then too much for this model: the divergence guard's one line
            assert "training diverged" in captured.err and len(captured.err.strip().splitlines()) == 1, option
        else:
            assert code == 0 and strict(captured.out.splitlines()[-1])["steps"] > 0, (option, captured.err)


@pytest.mark.parametrize("seed", [str(MAX_SEED + 1), str(2 ** 64), str(10 ** 30), "-1"])
def test_seeds_past_their_range_are_one_line_everywhere(corpus_file, tmp_path, capsys, seed):
    checkpoint = tmp_path / "run.safetensors"
    tiny_checkpoint(checkpoint)
    fails_in_one_line(capsys, ["train", "--corpus", corpus_file, *TINY, "--seed", seed], "seed")
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(checkpoint), "--temperature", "1", "--seed", seed],
                      "--seed")
    fails_in_one_line(capsys, ["forecast", "--seed", seed], "seed")
    fails_in_one_line(capsys, ["compare", "--cells", "rnn", "--budget", "1", "--corpus", corpus_file,
                               "--seed", seed], "seed")


@pytest.mark.parametrize("temperature", ["5e-324", "1e-300", "1e-45", "1e308"])
def test_any_positive_temperature_writes(tmp_path, capsys, temperature):
    checkpoint = tmp_path / "run.safetensors"
    tiny_checkpoint(checkpoint)
    assert cli(["generate", "--checkpoint", str(checkpoint), "--prefix", "the ", "--chars", "30",
                "--temperature", temperature, "--seed", "3"]) == 0
    out = capsys.readouterr().out.rstrip("\n")
    assert out.startswith("the ") and len(out) == 34 and "<unk>" not in out


@pytest.mark.parametrize("args", [["--sigma", "1e308"], ["--sigma", "100.5"], ["--sigma", "inf"], ["--sigma", "nan"]])
def test_forecast_noise_past_its_range_is_refused(capsys, args):
    fails_in_one_line(capsys, ["forecast", *args], "sigma must be a number from 0 to 100")


@pytest.mark.parametrize("args", [["--sigma", "5e-324"], ["--sigma", "100"],
                                  ["--tau", "50", "--max-steps", "200", "--steps", "1,200"]])
def test_forecast_json_is_strict(capsys, args):
    assert cli(["forecast", "--epochs", "2", *args, "--json"]) == 0
    result = strict(capsys.readouterr().out.splitlines()[-1])
    assert len(result["mse_by_horizon"]["mlp"]) == result["config"]["max_steps"]


def test_a_forecast_that_diverges_is_said_so_and_null_in_json(capsys):
    from tui.cmd_forecast import _mse

    assert _mse(float("nan")) == _mse(float("inf")) == "diverged" and _mse(0.25) == "0.2500"


# ------------------------------------------------------- options once ignored ----

def test_threads_beyond_the_cores_are_refused(corpus_file, capsys):
    cores = usable_cpus()
    assert threads(str(cores)) == cores
    for bad in (str(cores + 1), "0", str(10 ** 30)):
        with pytest.raises(argparse.ArgumentTypeError, match=f"use 1 to {cores}"):
            threads(bad)
    fails_in_one_line(capsys, ["train", "--corpus", corpus_file, *TINY, "--threads", str(cores + 1)],
                      "this machine gives rnnplay", f"use 1 to {cores}")
    fails_in_one_line(capsys, ["compare", "--corpus", corpus_file, "--threads", "100000"], f"use 1 to {cores}")


@pytest.mark.parametrize("budget", ["1e308", "inf", "1000001", "0", "-5"])
def test_a_compare_budget_past_its_range_is_refused(corpus_file, capsys, budget):
    fails_in_one_line(capsys, ["compare", "--corpus", corpus_file, "--budget", budget], "at most 1,000,000")


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_tokens_zero_or_less_is_the_whole_text_as_help_says(corpus_file, tmp_path, capsys, value):
    assert cli(["train", "--help"]) == 0
    assert "(default: all of them; so does 0 or less)" in " ".join(capsys.readouterr().out.split())
    path = tmp_path / "run.safetensors"
    assert cli(["train", "--corpus", corpus_file, *TINY, "--max-tokens", value, "--save", str(path)]) == 0
    assert read_checkpoint(path)[1]["corpus"]["tokens"] == len(corpus_from_text(TEXT)[0])


def test_the_train_summary_is_strict_json_even_holding_nan(corpus_file, monkeypatch, capsys):
    import tui.cmd_train

    real = tui.cmd_train.Tally.summary
    monkeypatch.setattr(tui.cmd_train.Tally, "summary",
                        lambda self, path: {**real(self, path), "train_perplexity": float("nan"),
                                            "grad_norm_mean": float("inf")})
    assert cli(["train", "--corpus", corpus_file, *TINY, "--json"]) == 0
    summary = strict(capsys.readouterr().out.splitlines()[-1])
    assert summary["train_perplexity"] is None and summary["grad_norm_mean"] is None and summary["steps"] > 0
