"""``rnnplay prepare`` and the delayed progress bar every command shows while it prepares."""
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import engine.tokenfile as tokenfile
from engine.tokenfile import Progress
from robustness_support import cli, fails_in_one_line
from tui.progress import DelayedBar


def run_json(capsys, *argv):
    assert cli(["prepare", *argv, "--json"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out.splitlines()[-1]), err


def test_prepare_says_where_it_wrote(timemachine, capsys):
    assert cli(["prepare", "--corpus", "timemachine"]) == 0
    out = capsys.readouterr().out
    assert "prepared timemachine (char, book mode): 173,427 tokens, vocabulary 28, uint8" in out
    paths = [Path(line.split(": ", 1)[1]) for line in out.splitlines() if line.startswith(("tokens:", "header:"))]
    assert [p.suffix for p in paths] == [".tokens", ".json"] and all(p.is_file() for p in paths)
    assert paths[0].parent == tokenfile.tokens_dir()


def test_prepare_json_and_reuse(timemachine, capsys, monkeypatch):
    first, err = run_json(capsys, "--corpus", "timemachine", "--token", "word", "--mode", "raw")
    assert err == ""
    assert (first["token"], first["mode"], first["dtype"], first["tokens"]) == ("word", "raw", "uint16", 32_306)
    assert Path(first["tokens_path"]).stat().st_size == 2 * first["tokens"]

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again")

    monkeypatch.setattr(tokenfile, "count_tokens", no_tokenising)
    assert run_json(capsys, "--corpus", "timemachine", "--token", "word", "--mode", "raw")[0] == first
    # every command finds what prepare made
    assert cli(["stats", "--corpus", "timemachine", "--token", "word", "--mode", "raw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["tokens"] == 32_306


def test_offline_prepare_falls_back_to_python_docs_with_a_notice(capsys):
    data, err = run_json(capsys)
    assert data["corpus"] == "python-docs" and "timemachine is unavailable" in err


@pytest.mark.parametrize("argv,message", [
    (["--corpus", "missing.txt"], "no such file"),
    (["--corpus", "t.txt", "--max-bytes", "10"], "over the 10-byte cap"),
    (["--corpus", "t.txt", "--encoding", "nope"], "unknown encoding"),
    (["--corpus", "t.txt", "--encoding", "zlib"], "not a text encoding"),
    (["--corpus", "digits.txt"], "no tokens after preprocessing"),
])
def test_bad_input_is_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    Path("t.txt").write_text("the time machine " * 10)
    Path("digits.txt").write_text("1234 5678 " * 10)
    fails_in_one_line(capsys, ["prepare", *argv], message)


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_the_bar_appears_on_a_terminal_once_the_work_is_slow():
    console, out = terminal()
    bar = DelayedBar(console, show_after=0.0)
    bar(Progress("counting tokens", 10, 100))
    bar(Progress("writing tokens", 50, 100))
    bar.close()
    assert "writing tokens" in out.getvalue()


def test_quick_work_and_pipes_get_no_bar():
    console, out = terminal()
    quick = DelayedBar(console, show_after=3600.0)
    quick(Progress("counting tokens", 10, 100))
    quick.close()
    assert out.getvalue() == ""
    pipe = io.StringIO()
    piped = DelayedBar(Console(file=pipe, force_terminal=False), show_after=0.0)
    piped(Progress("counting tokens", 10, 100))
    piped.close()
    assert pipe.getvalue() == ""
