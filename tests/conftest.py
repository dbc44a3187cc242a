"""Shared fixtures: a hermetic data directory holding *The Time Machine*.

Tests never touch the network: ``RNNPLAY_DATA_DIR`` points at a temporary
folder into which the shared copy of the corpus is copied, and ``RNNPLAY_HOME``
at another, so no user file is read or written.
"""
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RNNPLAY_SHARED_DIR", REPO.parent / "shared"))
TIMEMACHINE_SRC = SHARED / "corpora" / "timemachine.txt"


@pytest.fixture(autouse=True)
def hermetic_dirs(tmp_path_factory, monkeypatch):
    """Every test gets empty data and home directories and no network download."""
    data = tmp_path_factory.mktemp("data")
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("RNNPLAY_DATA_DIR", str(data))
    monkeypatch.setenv("RNNPLAY_HOME", str(home))

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return data


@pytest.fixture
def timemachine(hermetic_dirs):
    """The data directory with a cached, verified timemachine.txt."""
    if not TIMEMACHINE_SRC.is_file():
        pytest.fail(f"missing {TIMEMACHINE_SRC}: the tests need ../shared/corpora/timemachine.txt "
                    f"(or RNNPLAY_SHARED_DIR pointing at a shared/ folder)")
    shutil.copy(TIMEMACHINE_SRC, hermetic_dirs / "timemachine.txt")
    return hermetic_dirs / "timemachine.txt"


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread: a second only adds waiting, and a shared machine's
    cores stay free.  Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["portable", "onednn"])
def kernels_backend(request):
    """Run the recurrences on the portable kernels, or on oneDNN's at every size (not only from
    a million multiply-adds per product, as by default)."""
    from engine import kernels
    from engine.kernels import onednn

    if request.param == "portable":
        chosen = kernels.PORTABLE
    elif onednn.available():
        chosen = onednn.OneDNN(min_macs=0)
    else:
        pytest.skip("this torch or CPU has no working oneDNN linear")
    with kernels.using(chosen):
        yield request.param


@pytest.fixture
def tiny_corpus(timemachine, tmp_path):
    """The first 6,000 characters of The Time Machine as a file (about 170 minibatches of 4 x 8)."""
    path = tmp_path / "tiny.txt"
    path.write_text(timemachine.read_text(encoding="utf-8")[:6000], encoding="utf-8")
    return path


@pytest.fixture
def ui_thread_guard(monkeypatch):
    """The runtime half of "the UI reads no trainer": any attribute of a Trainer read on the main
    (UI) thread by a method of a widget, screen or app fails the test (tests/test_architecture.py
    is the static half).  Thread workers, the engine itself and the test's own checks may read it."""
    import sys
    import threading

    from textual.dom import DOMNode

    from engine.train import Trainer

    main, reads = threading.main_thread(), []

    def guarded(self, name):
        if threading.current_thread() is main:
            caller = sys._getframe(1)
            if f"{os.sep}tui{os.sep}" in caller.f_code.co_filename \
                    and issubclass(type(caller.f_locals.get("self")), DOMNode):
                reads.append(f"{name} in {caller.f_code.co_name} ({caller.f_code.co_filename})")
        return object.__getattribute__(self, name)

    monkeypatch.setattr(Trainer, "__getattribute__", guarded)
    yield reads
    assert not reads, f"the UI thread read the trainer: {reads[:5]}"
