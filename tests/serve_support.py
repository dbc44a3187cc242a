"""Helpers for the ``rnnplay serve`` tests and benchmark: the real command on a free loopback port,
its app processes (one per session) found with psutil, a page's terminal read back through pyte,
and polling with a deadline."""
from __future__ import annotations

import asyncio
import http.client
import re
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

# The app options every served session gets: the tiny training configuration of the app tests.
TINY_OPTIONS = ("--hidden", "16", "--steps", "8", "--batch", "4", "--epochs", "1", "--device", "cpu")


class TerminalScreen:
    """What a page's terminal shows: the app's output replayed into pyte, a terminal emulator."""

    def __init__(self, width: int, height: int):
        import pyte

        self.screen = pyte.Screen(width, height)
        self.stream = pyte.ByteStream(self.screen)

    def feed(self, output: bytes) -> None:
        self.stream.feed(output)

    def resize(self, width: int, height: int) -> None:
        self.screen.resize(lines=height, columns=width)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    @property
    def columns(self) -> int:
        return self.screen.columns

    @property
    def lines(self) -> int:
        return self.screen.lines


async def read_until(websocket, screen: TerminalScreen, pattern: str, timeout: float = 60.0) -> None:
    """Replay a page's websocket into ``screen`` until ``pattern`` shows on it."""
    import aiohttp

    async def read() -> None:
        async for message in websocket:
            if message.type == aiohttp.WSMsgType.BINARY:
                screen.feed(message.data)
                if re.search(pattern, screen.text()):
                    return
        pytest.fail(f"the websocket closed before {pattern!r} showed; the terminal showed:\n{screen.text()}")

    try:
        await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {pattern!r}; the terminal showed:\n{screen.text()}")


async def open_session(client, served: Served, screen: TerminalScreen, pattern: str = "vocabulary"):
    """A page's websocket (``client``: an aiohttp ClientSession) at ``screen``'s size, once its app
    shows ``pattern``; with the session's app processes."""
    websocket = await client.ws_connect(f"{served.url}ws?width={screen.columns}&height={screen.lines}")
    await read_until(websocket, screen, pattern)
    return websocket, await asyncio.to_thread(served.wait_for_apps, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, what: str, timeout: float = 20.0, poll=lambda: time.sleep(0.05), shown=lambda: ""):
    """``predicate()``'s first true value; fail after ``timeout`` seconds, with what ``shown()`` says.
    ``poll`` waits between tries (a browser test passes one that lets the browser's events through)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}{shown()}")
        poll()


@dataclass
class Served:
    """A running ``rnnplay serve``."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, path: str = "/") -> tuple[int, str]:
        """The status and body of a GET (urllib is switched off in the tests)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def app_processes(self) -> list[psutil.Process]:
        """The sessions' app processes and their children (the server's descendants)."""
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for_apps(self, count: int, timeout: float = 20.0) -> list[psutil.Process]:
        """The app processes, once there are ``count`` (at least one) of them."""
        def counted():
            apps = self.app_processes()
            return apps if len(apps) == count else None

        return wait_until(counted, f"{count} app process(es)", timeout)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``processes`` still alive after ``timeout`` seconds."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


@contextmanager
def rnnplay_serve(tmp_path: Path, *options: str):
    """``rnnplay serve`` with ``options`` on a free port, ready to answer; afterwards stopped, and any
    process it left behind killed (a test asserts that there are none)."""
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--port", str(port), *options],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    served = Served(process, port, log)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"rnnplay serve exited with {process.returncode}:\n{served.log_text()}")
        try:
            return served.get()[0] == 200
        except OSError:
            return False

    try:
        wait_until(answers, "the server to answer")
        yield served
    finally:
        left = served.app_processes()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for orphan in gone(left, timeout=15):
            orphan.kill()
