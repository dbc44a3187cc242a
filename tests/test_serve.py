"""``rnnplay serve`` without a browser: the served command, the safety checks, the session cap,
and no app process outliving its session or the server."""
import asyncio
import shlex
import signal
import subprocess
import sys

import psutil
import pytest

from tests.serve_support import (TINY_OPTIONS, TerminalScreen, free_port, gone, open_session, read_until,
                                 rnnplay_serve, wait_until)
from tui.cli import main
from tui.parser import build_parser
from tui.cmd_serve import served_command

# Every app option with a value other than its default; paths with a space, a quote, a leading dash.
APP_OPTIONS = ["--checkpoint=-my model's.safetensors", "--corpus", "/tmp/a corpus.txt",
               "--token", "word", "--mode", "raw", "--iter", "sequential", "--cell", "lstm", "--hidden", "32", "--layers", "2",
               "--dropout", "0.25", "--embed", "8", "--weight-decay", "0.01", "--steps", "12", "--batch", "6",
               "--lr", "0.125", "--schedule", "cosine", "--clip", "2.5", "--optimizer", "adam", "--epochs", "3",
               "--max-tokens", "5000", "--val-fraction", "0.2", "--time-budget", "30", "--seed", "7",
               "--device", "cpu"]


def test_served_command_passes_every_app_option_through():
    app = build_parser()
    serve_args = app.parse_args(["serve", "--port", "8123", "--max-sessions", "3", *APP_OPTIONS])
    words = shlex.split(served_command(serve_args))
    assert words[:4] == ["exec", sys.executable, "-m", "tui.served"]
    served = app.parse_args(words[4:])  # the bare `rnnplay` reads what the tab's process gets
    typed = app.parse_args(APP_OPTIONS)
    app_dests = {dest for dest, value in vars(app.parse_args([])).items()
                 if value is None and dest not in ("command", "version")}
    assert {dest for dest in app_dests if getattr(typed, dest) is None} == set(), "APP_OPTIONS misses an option"
    assert {dest: getattr(served, dest) for dest in app_dests} == {dest: getattr(typed, dest) for dest in app_dests}


def test_served_command_passes_only_the_options_given():
    args = build_parser().parse_args(["serve", "--host", "127.0.0.1", "--hidden", "16"])
    assert shlex.split(served_command(args))[4:] == ["--hidden=16"]


@pytest.fixture
def serve_extra():
    pytest.importorskip("textual_serve", reason="the serve extra is not installed")


@pytest.fixture
def no_serving(serve_extra, monkeypatch):
    """``rnnplay serve`` up to the point where it would listen; the server it built, recorded."""
    from tui.serve import RnnplayServer

    built = []
    monkeypatch.setattr(RnnplayServer, "serve", lambda self: built.append(self))
    return built


def test_loopback_by_default_and_a_warning_otherwise(no_serving, capsys):
    assert main(["serve"]) == 0
    assert no_serving[0].host == "127.0.0.1" and no_serving[0].max_sessions >= 1
    assert "warning" not in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--max-sessions", "2", "--public-url", "http://class:8000"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "warning" in err[0] and "anyone who can reach this port" in err[0]
    assert no_serving[1].public_url == "http://class:8000" and no_serving[1].max_sessions == 2


@pytest.mark.parametrize("argv, says", [
    (["serve", "--max-sessions", "0"], "--max-sessions must be at least 1"),
    (["serve", "--port", "70000"], "--port must be between 1 and 65535"),
    (["serve", "--hidden", "0"], "hidden 0"),
    (["serve", "--corpus", "/no/such/corpus.txt"], "/no/such/corpus.txt: no such file"),
    (["serve", "--checkpoint", "/no/such.safetensors"], "/no/such.safetensors: no such checkpoint"),
])
def test_bad_options_are_one_line(no_serving, capsys, argv, says):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1
    assert no_serving == []


def test_missing_textual_serve_says_what_to_install(monkeypatch, capsys):
    # as if not installed: importing textual_serve or any of its modules (cached ones too) fails
    for name in [name for name in sys.modules if name.split(".")[0] == "textual_serve"] + ["textual_serve"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "tui.serve", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[serve]"' in err


def test_default_cap_follows_the_available_memory(serve_extra, monkeypatch):
    import tui.serve

    # psutil reads the same kernel figure (MemAvailable) its own way; it moves between the two reads
    assert tui.serve.available_memory() == pytest.approx(psutil.virtual_memory().available, rel=0.05)
    for free, sessions in [(0, 1), (tui.serve.SESSION_BYTES - 1, 1), (10 * tui.serve.SESSION_BYTES + 1, 10)]:
        monkeypatch.setattr(tui.serve, "available_memory", lambda: free)
        assert tui.serve.default_max_sessions() == sessions


def test_a_taken_port_is_one_line(serve_extra):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tui", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"rnnplay: error: cannot listen on 127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1


async def test_an_app_that_ignores_quit_is_killed(serve_extra, monkeypatch):
    from textual_serve.download_manager import DownloadManager

    import tui.serve
    from tui.serve import AppSession

    monkeypatch.setattr(tui.serve, "QUIT_GRACE_S", 0.5)

    async def ignore(*args):
        pass

    # `sleep` reads no quit message, like an app stuck in a long step
    session = AppSession("exec sleep 60", write_bytes=ignore, write_str=ignore, close=ignore,
                         download_manager=DownloadManager())
    await session.start(80, 24)
    process = psutil.Process(session.process.pid)
    assert process.is_running()
    await asyncio.wait_for(session.stop(), 10)
    assert session.process.returncode == -signal.SIGKILL
    assert gone([process], timeout=1) == []


async def test_the_session_over_the_cap_is_refused_and_a_tab_closed_while_training_ends_its_app(
        serve_extra, tiny_corpus, tmp_path):
    import aiohttp

    options = ("--corpus", str(tiny_corpus), *TINY_OPTIONS, "--epochs", "1000")
    with rnnplay_serve(tmp_path, "--max-sessions", "1", *options) as served:
        async with aiohttp.ClientSession() as client:
            screen = TerminalScreen(120, 40)
            first, apps = await open_session(client, served, screen)
            await first.send_json(["stdin", "\x1b[15~"])  # F5, as the page sends it
            await read_until(first, screen, r"training · epoch 1/1000 · step \d+")

            status, page = await asyncio.to_thread(served.get)
            assert status == 503 and "All sessions are in use: this server runs at most 1 session at once" in page

            second = await client.ws_connect(served.url + "ws?width=120&height=40")
            await read_until(second, TerminalScreen(120, 40), "rnnplay: All sessions are in use")
            assert served.app_processes() == apps  # no second app was started
            await second.close()

            await first.close()  # as a closed tab does, while its app trains
            assert await asyncio.to_thread(gone, apps, 15) == [], "the app outlived its session"
        # the slot is free again once the server has seen its app end
        await asyncio.to_thread(wait_until, lambda: served.get()[0] == 200, "the session's slot to be freed", 10)
        assert served.process.poll() is None
        assert "did not quit" not in served.log_text()  # it quit when asked; nothing had to be killed


@pytest.mark.parametrize("end", ["ctrl+c", "killed"])
async def test_no_app_outlives_its_server(serve_extra, tiny_corpus, tmp_path, end):
    import aiohttp

    with rnnplay_serve(tmp_path, "--max-sessions", "2", "--corpus", str(tiny_corpus), *TINY_OPTIONS) as served:
        async with aiohttp.ClientSession() as client:
            _, apps = await open_session(client, served, TerminalScreen(120, 40))
            if end == "ctrl+c":
                served.process.send_signal(signal.SIGINT)  # the server ends its sessions, then exits
                assert await asyncio.to_thread(served.process.wait, 30) == 0
            else:
                served.process.kill()  # no chance to: each app sees its parent gone
                await asyncio.to_thread(served.process.wait)
            assert await asyncio.to_thread(gone, apps, 10) == [], f"an app outlived its server ({end})"


def test_serve_benchmark_prints_a_row_per_configuration(serve_extra, tiny_corpus, capsys):
    from benchmarks.serve_bench import main as serve_bench

    assert serve_bench(["--seconds", "0.3", "--only", "rnn, hidden 32", "--corpus", str(tiny_corpus)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| rnn, hidden 32 |")]
    assert len(rows) == 1
    idle_mb, peak_mb, gone_s = (float(cell) for cell in rows[0].strip("|").split("|")[1:])
    assert 0 < idle_mb <= peak_mb and 0 < gone_s < 30
