"""Issue #12, item 6: the console script without a terminal, and a Ctrl+C while it still imports."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.parser import interrupts_held

REPO = Path(__file__).resolve().parents[1]
# what the `rnnplay` console script that pip writes does, with a line when Python has started
ENTRY = "import sys\nprint('started', flush=True)\nfrom tui.cli import main\nsys.exit(main())\n"


def rnnplay(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ENTRY, *args], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("stdin", [None, subprocess.DEVNULL])
def test_the_app_without_a_terminal_says_so_in_one_line(tiny_corpus, stdin):
    proc = rnnplay("--corpus", str(tiny_corpus), stdin=stdin)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == "started\n"
    assert err.splitlines() == [
        "rnnplay: the app needs a terminal (its input or output is not one); for scripts and pipes use rnnplay "
        "prepare, train, log, generate, stats, forecast, compare or info (see rnnplay --help)"]


# From "started", Python still finds and runs the few lines of tui/cli.py before main() begins (a
# millisecond; a Ctrl+C before that is Python's own, as for any program); the delays land after
# that, while main() imports argparse, the engine, Textual and torch (whose C++ initialisation
# would lose or abort on a KeyboardInterrupt: tui.parser.interrupts_held holds it back).
@pytest.mark.parametrize("delay", [0.05, 0.15])
@pytest.mark.parametrize("command", [["train", "--corpus", "python-docs", "--epochs", "1"], []], ids=["train", "app"])
def test_ctrl_c_while_starting_is_one_line(delay, command):
    proc = rnnplay(*command)
    assert proc.stdout.readline() == "started\n"  # Python is up; the imports begin
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    if proc.returncode == 130:  # in the imports: one line; or already training: stopped and saved
        assert err.strip().splitlines()[-1] == "rnnplay: interrupted" or "stopping after this minibatch" in err, err
    else:  # the app had already found no terminal, and the signal came as Python was exiting
        assert command == [] and proc.returncode in (2, -signal.SIGINT) and "needs a terminal" in err, \
            (proc.returncode, err, out)


def test_a_ctrl_c_inside_torchs_import_is_held_until_the_import_is_done():
    before = signal.getsignal(signal.SIGINT)
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now, and raised nothing
            finished = True
    assert finished and signal.getsignal(signal.SIGINT) is before
    with interrupts_held():  # nothing held: nothing raised
        pass
