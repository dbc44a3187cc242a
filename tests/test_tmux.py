"""Drive the real ``rnnplay`` command in tmux: statistics, F5 to train, a streamed prefix, save on quit."""
import shlex
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One tmux server on a private socket, one 120x40 session."""

    def __init__(self, socket: str):
        self.base = ["tmux", "-S", socket]

    def __call__(self, *args: str) -> str:
        return subprocess.run(self.base + list(args), capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "app")

    def alive(self) -> bool:
        return subprocess.run(self.base + ["has-session", "-t", "app"], capture_output=True).returncode == 0

    def wait(self, predicate, what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; the screen was:\n{self.screen()}")


@pytest.fixture
def tmux(tmp_path):
    server = Tmux(str(tmp_path / "tmux.socket"))  # inside tmp_path: nothing is left behind
    yield server
    server("kill-server")


def test_rnnplay_in_tmux(tmux, timemachine, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(timemachine.read_text(encoding="utf-8")[:6000], encoding="utf-8")
    home = tmp_path / "home"
    rnnplay = shutil.which("rnnplay")
    command = [rnnplay] if rnnplay else [sys.executable, "-m", "tui"]
    command += ["--corpus", str(corpus), "--hidden", "16", "--steps", "8", "--batch", "4", "--epochs", "1",
                "--device", "cpu"]
    env = f"RNNPLAY_DATA_DIR={shlex.quote(str(timemachine.parent))} RNNPLAY_HOME={shlex.quote(str(home))}"
    # pytest may export COLUMNS/LINES, which would override the 120x40 window
    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40",
         f"env -u COLUMNS -u LINES {env} {shlex.join(command)}")

    screen = tmux.wait(lambda s: "vocabulary" in s, "the corpus statistics")
    assert "Corpus" in screen and "Training" in screen and "Generate" in screen

    tmux("send-keys", "-t", "app", "F5")
    tmux.wait(lambda s: "finished" in s and "tok/s" in s, "training to finish")

    tmux("send-keys", "-t", "app", "C-g")
    tmux("send-keys", "-t", "app", "-l", "time traveller ")
    tmux("send-keys", "-t", "app", "Enter")
    tmux.wait(lambda s: "300 characters" in s, "the generated text")

    tmux("send-keys", "-t", "app", "C-q")
    tmux.wait(lambda s: "not saved" in s, "the save question")
    tmux("send-keys", "-t", "app", "Enter")  # "Save and quit" has the focus
    deadline = time.monotonic() + 15
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), f"rnnplay did not exit; the screen was:\n{tmux.screen()}"
    assert (home / "checkpoints" / "tiny-char.safetensors").is_file()
