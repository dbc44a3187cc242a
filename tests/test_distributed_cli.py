"""``rnnplay train`` as data-parallel processes: under --nproc (torchrun), as two torchrun "nodes" on
127.0.0.1, and the bad cases: a batch the processes cannot share, a process that dies or stalls, a
failed save on rank 0, ranks whose texts differ.  Every refusal is one line on every process."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from distributed_support import REPO, finish, free_port, launch, rank_environment
from engine.checkpoint import load_model
from engine.train import Trainer
from tui.cli import main as cli

TEXT = ("the time traveller for so it will be convenient to speak of him was expounding a recondite "
        "matter to us his grey eyes shone and twinkled and his usually pale face was flushed and animated ") * 6
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def train_args(text, save, *more):
    return ["train", "--corpus", str(text), "--hidden", "8", "--steps", "5", "--batch", "4", "--device", "cpu",
            "--save", str(save), "--json", *more]


def one_line_errors(err: str) -> list[str]:
    assert "Traceback" not in err, err[-2000:]
    return [line for line in err.splitlines() if line.startswith("rnnplay: error:")]


def test_nproc_trains_through_torchrun_one_process_prints_and_the_checkpoint_resumes_alone(text, tmp_path):
    save, log = tmp_path / "run.safetensors", tmp_path / "run.jsonl"
    run = subprocess.run([sys.executable, "-m", "tui.cli", *train_args(text, save, "--epochs", "2", "--nproc", "2",
                                                                       "--log", str(log))],
                         cwd=REPO, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 1  # one JSON summary: the other process is quiet
    summary = json.loads(lines[0])
    assert summary["epochs"] == 2 and summary["checkpoint"] == str(save)
    assert run.stderr.count("data-parallel: 2 processes, 2 rows of each minibatch each") == 1
    kinds = [json.loads(line)["kind"] for line in log.read_text().splitlines()]  # written by one process
    assert kinds.count("run") == 1 and kinds.count("epoch") == 2 and kinds.count("step") == summary["steps"]
    # the checkpoint is a single process's: the global batch's carried rows, and it resumes alone
    _, _, meta = load_model(save)
    assert meta["config"]["batch"] == 4 and meta["progress"]["epoch"] == 2
    resumed = Trainer.load(save)
    assert resumed.global_step == summary["steps"]
    assert cli(["train", "--resume", str(save), "--epochs", "3", "--json"]) == 0
    assert Trainer.load(save).epoch == 3


def test_nproc_is_refused_under_torchrun(text, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli(train_args(text, tmp_path / "x.safetensors", "--nproc", "2")) == 2
    assert one_line_errors(capsys.readouterr().err) == [
        "rnnplay: error: --nproc starts torchrun itself: leave it out of a command that torchrun runs"]


def test_a_batch_the_processes_cannot_share_is_one_line_on_every_rank(text, tmp_path):
    args = ["-m", "tui.cli", *train_args(text, tmp_path / "x.safetensors", "--batch", "5")]
    for rc, out, err in finish(launch(args)):
        assert rc == 2 and out == ""
        assert one_line_errors(err) == ["rnnplay: error: --batch 5 cannot be shared evenly by 2 workers; use a "
                                        "multiple of 2 (--batch is the global minibatch)"]
    assert not (tmp_path / "x.safetensors").exists()


def test_ranks_with_different_texts_are_refused_on_every_rank(text, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text(TEXT.replace("time", "tide"))
    args = lambda rank: ["-m", "tui.cli", *train_args(text if rank == 0 else other, tmp_path / "x.safetensors")]
    for rc, _, err in finish(launch(args)):
        assert rc == 2
        [line] = one_line_errors(err)
        assert "rank(s) 1 have a different token file" in line


def _wait_for(path, text: str, timeout: float = 120) -> None:
    start = time.monotonic()
    while text not in path.read_text():
        assert time.monotonic() - start < timeout, path.read_text()[-2000:]
        time.sleep(0.1)


@pytest.mark.parametrize("how, message", [(signal.SIGKILL, "by peer"),  # closed or reset
                                          (signal.SIGSTOP, "Timed out")])
def test_a_rank_that_dies_or_stalls_ends_the_run_on_the_other_with_one_line(text, tmp_path, how, message):
    save, timeout = tmp_path / "run.safetensors", 4
    args = ["-m", "tui.cli", *train_args(text, save, "--epochs", "100000", "--dist-timeout", str(timeout))]
    procs = launch(args, stdout=subprocess.DEVNULL, stderr=lambda rank: (tmp_path / f"err{rank}").open("w"))
    try:
        _wait_for(tmp_path / "err0", "epoch    2")
        procs[1].send_signal(how)
        start = time.monotonic()
        rc = procs[0].wait(timeout=timeout + 60)
        waited = time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert rc == 2 and waited < timeout + 30
    [line] = one_line_errors((tmp_path / "err0").read_text())
    assert line.startswith("rnnplay: error: rank 0: lost the other workers") and message in line
    Trainer.load(save)  # the checkpoint of an earlier epoch is whole


def test_a_failed_save_on_rank_0_is_one_line_on_every_rank_and_the_checkpoint_stays(text, tmp_path):
    save = tmp_path / "run.safetensors"
    assert cli(train_args(text, save, "--epochs", "1")) == 0
    before = save.read_bytes()
    args = ["tests/distributed_support.py", "full-disk-on-rank0", "train", "--resume", str(save), "--epochs", "3",
            "--json"]
    results = finish(launch(args))
    for rank, (rc, out, err) in enumerate(results):
        assert rc == 1, err[-2000:]  # every save failed; both processes trained every epoch and say so
        errors = one_line_errors(err)
        assert len(errors) == 2 and all("No space left on device" in line for line in errors)
        assert "training goes on" in errors[0] and "previous checkpoint, if any, is unchanged" in errors[-1]
        assert (json.loads(out)["epochs"] == 3) if rank == 0 else out == ""
    assert save.read_bytes() == before


def test_two_torchrun_nodes_on_loopback_train_together(text, tmp_path):
    """Two machines, as two torchrun launches of one process each meeting at 127.0.0.1:PORT; each
    prepares its own token file (its own data folder); node 0 writes the checkpoint and the log."""
    save, log, port = tmp_path / "run.safetensors", tmp_path / "run.jsonl", free_port()
    launches = []
    for node in range(2):
        env = {**os.environ, "RNNPLAY_DATA_DIR": str(tmp_path / f"node{node}")}
        launches.append(subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
             "--nproc-per-node", "1", "--rdzv-backend", "static", "--rdzv-endpoint", f"127.0.0.1:{port}",
             "-m", "tui.cli", *train_args(text, save, "--epochs", "1", "--metrics-log", str(log))],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    (rc0, out0, err0), (rc1, out1, err1) = finish(launches)
    assert rc0 == 0 and rc1 == 0, err0[-2000:] + err1[-2000:]
    assert json.loads(out0)["epochs"] == 1 and out1 == ""
    assert "data-parallel: 2 processes" in err0
    assert all((tmp_path / f"node{node}" / "tokens").is_dir() for node in range(2))
    assert Trainer.load(save).epoch == 1
    # torchrun's own parser reads --log as an abbreviation of its --log-dir: --metrics-log gets through
    assert [json.loads(line)["kind"] for line in log.read_text().splitlines()].count("epoch") == 1


def test_a_time_budget_ends_every_rank_after_the_same_step(text, tmp_path):
    """Each process measures its own time: they agree (the run's clock is averaged with the gradients,
    the budget is checked by all together), or one would wait for the other until the timeout."""
    save = tmp_path / "run.safetensors"
    args = ["-m", "tui.cli", *train_args(text, save, "--time-budget", "1", "--schedule", "cosine", "--dist-timeout",
                                         "30")]
    (rc0, out0, err0), (rc1, out1, err1) = finish(launch(args))
    assert rc0 == 0 and rc1 == 0, err0[-2000:] + err1[-2000:]
    summary = json.loads(out0)
    assert summary["seconds"] >= 1 and Trainer.load(save).global_step == summary["steps"]


def test_sigterm_to_one_rank_stops_both_after_the_same_minibatch_and_saves(text, tmp_path):
    save = tmp_path / "run.safetensors"
    args = ["-m", "tui.cli", *train_args(text, save, "--epochs", "100000", "--dist-timeout", "30")]
    procs = launch(args, stderr=lambda rank: (tmp_path / f"err{rank}").open("w"))
    try:
        _wait_for(tmp_path / "err0", "epoch    2")
        procs[1].send_signal(signal.SIGTERM)  # only rank 1 is asked: they agree at the next minibatch
        (rc0, out0, _), (rc1, out1, _) = finish(procs, timeout=60)
    finally:
        for p in procs:
            p.kill()
    assert (rc0, rc1) == (0, 128 + signal.SIGTERM)
    summary = json.loads(out0)
    assert out1 == "" and summary["checkpoint"] == str(save)
    assert Trainer.load(save).global_step == summary["steps"]  # saved at the minibatch both stopped after
    assert "Traceback" not in (tmp_path / "err0").read_text() + (tmp_path / "err1").read_text()


def test_a_rank_that_never_comes_ends_the_rendezvous_with_one_line(text, tmp_path):
    start = time.monotonic()  # rank 0 of 2, alone: rank 1 is never started
    run = subprocess.run([sys.executable, "-m", "tui.cli", *train_args(text, tmp_path / "x.safetensors",
                                                                       "--dist-timeout", "3")],
                         env=rank_environment(0, 2, free_port()), cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    rc, err = run.returncode, run.stderr
    assert rc == 2 and time.monotonic() - start < 40
    [line] = one_line_errors(err)
    assert line.startswith("rnnplay: error: rank 0: could not join the other 1 worker(s) at 127.0.0.1:")
