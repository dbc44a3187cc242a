"""Issue #7, checkpoint rows: hostile, foreign or GPU files, full disks and killed savers.

Covered elsewhere (tests/test_checkpoint.py): truncated, zero-byte and random-byte files
(test_corrupt_and_truncated_files_are_one_line_errors), a pickle that would run code
(test_a_pickle_carrying_code_is_refused_without_running), another shape and a malformed vocabulary
(test_a_foreign_safetensors_file_or_a_mismatched_one_is_refused), a failed rename
(test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file).
"""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest
import torch

from engine import CheckpointError, ConfigError, Trainer
from engine.atomic import remove_stale_temporaries
from engine.checkpoint import load_model
from engine.checkpoint_file import read_checkpoint, write_checkpoint
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cli, fails_in_one_line, tiny_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rewrite(src, dst, change):
    """A copy of checkpoint ``src`` at ``dst`` with ``change(tensors, meta)`` applied."""
    tensors, meta = read_checkpoint(src)
    change(tensors, meta)
    write_checkpoint(dst, tensors, {k: v for k, v in meta.items() if k not in ("format", "version")})
    return dst


class _Payload:
    """Unpickling this creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------- hostile files ----

@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pt", "evil.ckpt"])
def test_pickles_never_run_even_when_torch_is_told_to_trust_them(tmp_path, capsys, monkeypatch, name):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    evil = tmp_path / name
    torch.save({"model": _Payload(marker), "W_xh": torch.zeros(2)}, evil)
    assert zipfile.is_zipfile(evil)  # torch's own format, which torch.load would unpickle
    for load in (load_model, Trainer.load):
        with pytest.raises(CheckpointError, match="not an rnnplay checkpoint"):
            load(evil)
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(evil)], "not an rnnplay checkpoint")
    fails_in_one_line(capsys, ["train", "--resume", str(evil)], "not an rnnplay checkpoint")
    assert not marker.exists()


def test_a_checkpoint_of_another_vocabulary_is_refused(tmp_path, capsys):
    path = tmp_path / "run.safetensors"
    trainer = tiny_checkpoint(path)
    bigger = rewrite(path, tmp_path / "bigger.safetensors",
                     lambda t, meta: meta.update(vocab=meta["vocab"] + ["\u00e9", "\u00e8"]))
    with pytest.raises(CheckpointError, match="parameter 'W_xh' is missing or does not match"):
        load_model(bigger)
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(bigger)], "does not match")
    # the same vocabulary size, other letters: the weights load, but not for another text
    renamed = rewrite(path, tmp_path / "renamed.safetensors",
                      lambda t, meta: meta.update(vocab=["<unk>"] + [v.upper() for v in meta["vocab"][1:]]))
    assert load_model(renamed)[1].idx_to_token[1:] == [v.upper() for v in trainer.vocab.idx_to_token[1:]]
    corpus, _ = corpus_from_text(TEXT)
    with pytest.raises(CheckpointError, match="not the one this run was trained on"):
        Trainer.load(path, corpus=corpus[::-1])


def test_a_run_trained_on_a_gpu_loads_and_resumes_on_the_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "run.safetensors"
    trainer = tiny_checkpoint(path)
    corpus, _ = corpus_from_text(TEXT)
    for device in ("cuda", "cuda:1"):
        gpu = rewrite(path, tmp_path / "gpu.safetensors", lambda t, meta: meta["config"].update(device=device))
        model, _, meta = load_model(gpu)
        assert meta["config"]["device"] == device
        assert all(p.device.type == "cpu" for p in model.params)
        best = trainer.state_dict()[0]
        assert all(torch.equal(p, best[f"best.{name}"]) for name, p in model.named_parameters())
        resumed = Trainer.load(gpu, corpus=corpus, changes={"epochs": 2})
        assert resumed.device == torch.device("cpu") and resumed.config.device == "auto"
        assert resumed.notice == f"the checkpoint was trained on {device}, which this machine lacks; continuing on cpu"
        assert resumed.global_step == trainer.global_step and len(list(resumed.run())) > 1
    # asking for CUDA explicitly is still an error, and the CLI prints the notice when it falls back
    with pytest.raises(ConfigError, match="no usable CUDA"):
        Trainer.load(gpu, corpus=corpus, changes={"device": "cuda"})
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    assert cli(["train", "--corpus", str(src), "--hidden", "8", "--steps", "5", "--batch", "4", "--epochs", "1",
                "--device", "cpu", "--save", str(path)]) == 0
    rewrite(path, gpu, lambda t, meta: meta["config"].update(device="cuda"))
    capsys.readouterr()
    assert cli(["train", "--resume", str(gpu), "--epochs", "2"]) == 0
    assert "trained on cuda, which this machine lacks; continuing on cpu" in capsys.readouterr().err


# ----------------------------------------------------------- failing disks ----

@pytest.mark.parametrize("where, error", [("os.fsync", errno.ENOSPC), ("tempfile.mkstemp", errno.EROFS),
                                          ("tempfile.mkstemp", errno.EACCES)])
def test_a_full_or_read_only_disk_is_an_error_and_the_previous_checkpoint_stays(tmp_path, monkeypatch,
                                                                                where, error):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    before = path.read_bytes()
    trainer = Trainer.load(path, corpus=corpus_from_text(TEXT)[0], changes={"epochs": 2})
    list(trainer.run())

    def fail(*args, **kwargs):
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(where, fail)
    with pytest.raises(CheckpointError, match=f"cannot write the checkpoint \\({os.strerror(error)}\\); free"):
        trainer.save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors"]
    assert trainer.dirty  # still unsaved
    monkeypatch.undo()
    trainer.save(path)
    assert Trainer.load(path, corpus=corpus_from_text(TEXT)[0]).epoch == 2


def test_rnnplay_train_goes_on_when_a_save_fails_and_says_so(tmp_path, capsys, monkeypatch):
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    path = tmp_path / "run.safetensors"
    args = ["train", "--corpus", str(src), "--hidden", "8", "--steps", "5", "--batch", "4", "--device", "cpu",
            "--save", str(path), "--json"]
    assert cli([*args, "--epochs", "1"]) == 0
    before = path.read_bytes()
    capsys.readouterr()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    assert cli([*args, "--epochs", "3"]) == 1  # every save fails: the run still trains all its epochs
    captured = capsys.readouterr()
    summary = json.loads(captured.out.splitlines()[-1])
    assert summary["epochs"] == 3 and summary["checkpoint"] is None
    errors = [line for line in captured.err.splitlines() if line.startswith("rnnplay: error:")]
    assert len(errors) == 3 and all("No space left on device" in line for line in errors)
    assert "training goes on" in errors[0] and "previous checkpoint, if any, is unchanged" in errors[-1]
    assert "Traceback" not in captured.err and path.read_bytes() == before


# ------------------------------------------------------------ killed savers ----

SAVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import torch
    torch.set_num_threads(1)
    from robustness_support import tiny_trainer
    trainer = tiny_trainer()
    list(trainer.run())
    trainer.save({path!r})
    print("saved", trainer.global_step, flush=True)
    while True:  # saves in a loop until killed: the kill lands inside one, or between two
        trainer.save({path!r})
""")


def test_a_saver_killed_mid_save_leaves_a_loadable_checkpoint_and_its_temporaries_are_cleaned(tmp_path):
    path = tmp_path / "run.safetensors"
    code = SAVER.format(tests=os.path.join(REPO, "tests"), path=str(path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = child.stdout.readline()
        assert line.startswith("saved"), line
        steps = int(line.split()[1])
        deadline = time.monotonic() + 10
        while not list(tmp_path.glob(".run.safetensors.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.001)  # kill it while a temporary file exists: inside a save
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert Trainer.load(path, corpus=corpus_from_text(TEXT)[0]).global_step == steps

    # what a kill between write and rename leaves, a live writer's file, and files that are not ours
    dead = [tmp_path / f".run.safetensors.{child.pid}.abc12_xy.tmp"]
    dead[0].write_bytes(b"half a checkpoint")
    dead += [p for p in tmp_path.glob(f".run.safetensors.{child.pid}.*.tmp") if p not in dead]
    live = tmp_path / f".run.safetensors.{os.getppid()}.abcdefgh.tmp"
    others = [tmp_path / ".run.safetensors.tmp", tmp_path / ".other.safetensors.99999999.abcdefgh.tmp",
              tmp_path / "notes.tmp", live]
    for other in others:
        other.write_bytes(b"keep me")
    before = set(tmp_path.iterdir())
    Trainer.load(path, corpus=corpus_from_text(TEXT)[0]).save(path)  # the next save cleans up
    assert set(tmp_path.iterdir()) == before - set(dead)
    assert all(p.read_bytes() == b"keep me" for p in others)
    assert remove_stale_temporaries(path) == []


@pytest.mark.parametrize("damage", [
    lambda t, m: t.update({"optim.0.exp_avg": torch.zeros(2)}), lambda t, m: t.pop("optim.3.exp_avg_sq"),
    lambda t, m: t.update({"optim.7.step": torch.zeros(())}),
    lambda t, m: t.update({"optim.4.step": torch.tensor(-505.0)}),  # found by scripts/fuzz_long.py
    lambda t, m: t.update({"state.h": torch.zeros(3, 3)}),
    lambda t, m: t.update({"rng.epoch": torch.zeros(4)}), lambda t, m: m["progress"].update(step_in_epoch=-2),
    lambda t, m: m["progress"].update(elapsed=float("nan")), lambda t, m: m["progress"].update(epoch="1")],
    ids=["adam-shape", "adam-missing", "adam-extra", "adam-step", "hidden-state", "rng", "position", "elapsed",
         "epoch-type"])
def test_a_damaged_training_state_fails_at_load_not_in_the_middle_of_the_run(tmp_path, damage):
    path = tmp_path / "run.safetensors"
    trainer = tiny_checkpoint(path, epochs=2, iterator="sequential")
    for record in trainer.run():  # save mid-epoch: every kind of state is in the file
        if getattr(record, "step", 0) == 3:
            break
    trainer.save(path)
    bad = rewrite(path, tmp_path / "bad.safetensors", damage)
    corpus = corpus_from_text(TEXT)[0]
    assert "state.h" in Trainer.load(path, corpus=corpus).state_dict()[0]
    with pytest.raises(CheckpointError, match="training state is incomplete or mismatched"):
        Trainer.load(bad, corpus=corpus)
