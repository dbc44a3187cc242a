"""corpus_stats and ``rnnplay stats``, run in-process."""
import argparse
import json
import math

import pytest

from engine.corpus import CorpusText
from engine.escape import json_line
from engine.errors import ConfigError, CorpusError
from engine.stats import corpus_stats
from tui.cli import main
from tui.cmd_stats import print_stats
from tui.options import byte_size


def run_cli(capsys, *argv):
    code = main(["stats", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.rstrip("\n").splitlines()[-1])


def test_json_char_level_on_timemachine(timemachine, capsys):
    code, out, err = run_cli(capsys, "--corpus", "timemachine", "--json")
    assert code == 0 and err == ""
    data = last_json(out)
    assert {"corpus", "tokens", "vocab_size", "top", "zipf", "ngram_baselines"} <= data.keys()
    assert data["corpus"] == "timemachine"
    assert (data["tokens"], data["vocab_size"]) == (173_427, 28)
    assert set(data["top"]) == set(data["zipf"]) == {"1", "2", "3"}
    assert [len(data["top"][n]) for n in "123"] == [10, 10, 10]
    assert data["top"]["1"][:2] == [[" ", 32_774], ["e", 17_838]]
    assert data["top"]["3"][0] == [" th", 3_949]
    assert all(alpha > 0 for alpha in data["zipf"].values())
    assert data["zipf"]["1"] > data["zipf"]["2"] > data["zipf"]["3"]
    baselines = data["ngram_baselines"]
    assert [(b["n"], b["alpha"]) for b in baselines] == [(n, a) for n in range(1, 6) for a in (1, 0.1, 0.01)]
    best = min(baselines, key=lambda b: b["val_perplexity"])
    assert (best["n"], best["alpha"]) == (5, 0.1)
    assert best["val_perplexity"] == pytest.approx(4.55, abs=0.01)


def test_json_word_level_matches_the_book(timemachine, capsys):
    code, out, _ = run_cli(capsys, "--corpus", "timemachine", "--token", "word", "--top", "5", "--json")
    data = last_json(out)
    assert code == 0
    assert (data["tokens"], data["vocab_size"]) == (32_775, 4_580)
    assert [gram for gram, _ in data["top"]["1"]] == ["the", "i", "and", "of", "a"]
    assert data["top"]["3"][0] == ["the time traveller", 59]
    assert data["top"]["2"][0] == ["of the", 309]
    assert 0.9 < data["zipf"]["1"] < 1.2  # Zipf's classic exponent near 1 for words


def test_tables_show_the_figures(timemachine, capsys):
    code, out, _ = run_cli(capsys, "--corpus", "timemachine")
    assert code == 0
    for text in ("timemachine", "178,979", "173,427", "28", "32,774", "unigram", "trigram",
                 "Zipf", "*4.552"):
        assert text in out


def test_offline_default_uses_python_docs_with_a_notice(capsys):
    code, out, err = run_cli(capsys, "--json", "--top", "3")
    assert code == 0
    assert last_json(out)["corpus"] == "python-docs"
    assert "timemachine is unavailable" in err and "python-docs" in err


def test_notice_is_printed_with_the_tables(capsys):
    stats = corpus_stats(text=CorpusText("tiny", "abcab " * 20, notice="a notice [not markup]"))
    print_stats(stats)
    assert "a notice [not markup]" in capsys.readouterr().out


def test_bad_path_is_exit_code_2_and_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "--corpus", str(tmp_path / "missing.txt"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no such file" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["--top", "0"], "(--top) must be at least 1"),
    (["--max-bytes", "10"], "over the 10-byte cap"),
    (["--encoding", "nope"], "unknown encoding"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    path = tmp_path / "t.txt"
    path.write_text("the time machine " * 10)
    code, _, err = run_cli(capsys, "--corpus", str(path), *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_user_file_in_raw_mode_keeps_case(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("Ab, Ab! " * 10, encoding="latin-1")
    code, out, _ = run_cli(capsys, "--corpus", str(path), "--mode", "raw", "--json", "--top", "2")
    data = last_json(out)
    assert code == 0 and data["corpus"] == str(path) and data["tokens"] == 80
    assert data["top"]["1"] == [["A", 20], ["b", 20]]


def test_too_short_corpus_is_refused():
    with pytest.raises(CorpusError, match="statistics need at least 41"):
        corpus_stats(text=CorpusText("short", "a b c d e f"))


def test_stats_object_for_the_app(timemachine):
    stats = corpus_stats("timemachine", token="char", top=3)
    assert stats.token == "char" and stats.notice == ""
    assert stats.best_baseline == min(stats.ngram_baselines, key=lambda b: b.val_perplexity)
    for n in (1, 2, 3):
        ranks, freqs = stats.zipf_curves[n]
        assert ranks[0] == 1 and freqs[0] == stats.top[n][0][1]
        assert freqs == sorted(freqs, reverse=True)


def test_an_exponent_that_cannot_be_fitted_is_null_in_json():
    stats = corpus_stats(text=CorpusText("same", "a" * 60))
    assert math.isnan(stats.zipf[2])
    data = json.loads(json_line(stats.to_json()))
    assert data["zipf"]["2"] is None


def test_top_below_one_is_a_config_error():
    with pytest.raises(ConfigError):
        corpus_stats(text=CorpusText("t", "abc " * 20), top=0)


def test_byte_size_parsing():
    assert byte_size("1000") == 1000
    assert byte_size("512K") == 512 * 1024
    assert byte_size("64m") == 64 * 1024 ** 2
    assert byte_size("2GB") == 2 * 1024 ** 3
    for bad in ("", "lots", "0", "-5M"):
        with pytest.raises(argparse.ArgumentTypeError):
            byte_size(bad)
