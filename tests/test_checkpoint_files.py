"""Issue #12, item 6: checkpoint files that are not what they claim, and where a save may go."""
import os
import stat
import threading

import pytest
import torch

from engine import CheckpointError, Trainer
from engine.checkpoint import load_model
from engine.checkpoint_file import check_save_target, newest_checkpoint, read_checkpoint, write_checkpoint
from engine.paths import checkpoint_dir
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cli, fails_in_one_line, tiny_checkpoint

SPECIAL = ["/dev/zero", "/dev/null", "/dev/urandom"]


def rewrite(src, dst, change):
    tensors, meta = read_checkpoint(src)
    change(tensors, meta)
    return write_checkpoint(dst, tensors, {k: v for k, v in meta.items() if k not in ("format", "version")})


def finishes(fn, seconds: float = 10.0):
    """``fn()``'s result, or a failure if it blocks (a FIFO read would hang forever)."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(value=_outcome(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return result["value"]


def _outcome(fn):
    try:
        return fn()
    except CheckpointError as exc:
        return exc


# ------------------------------------------------------------------- reading ----

@pytest.mark.parametrize("kind", ["fifo", "folder", *SPECIAL])
def test_only_regular_files_are_opened_as_checkpoints(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.safetensors"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path / "dir.safetensors"
        path.mkdir()
    else:
        path = kind
        if not os.path.exists(path):
            pytest.skip(f"no {path} here")
    for load in (load_model, Trainer.load):
        error = finishes(lambda: load(path))
        assert isinstance(error, CheckpointError) and "not a checkpoint file; give a .safetensors file" in str(error)
        assert {"fifo": "a FIFO", "folder": "a folder"}.get(kind, "a character device") in str(error)


def test_a_symlink_to_a_checkpoint_is_followed_and_a_dangling_one_is_passed_over(tmp_path, capsys):
    folder = checkpoint_dir()
    folder.mkdir(parents=True)
    real = tmp_path / "real.safetensors"
    tiny_checkpoint(real)
    (folder / "linked.safetensors").symlink_to(real)
    assert load_model(folder / "linked.safetensors")[1].idx_to_token == load_model(real)[1].idx_to_token
    os.utime(real, (1, 1))  # older than what follows
    (folder / "gone.safetensors").symlink_to(tmp_path / "missing.safetensors")
    os.mkfifo(folder / "pipe.safetensors")
    (folder / "dir.safetensors").mkdir()
    assert newest_checkpoint(folder) == folder / "linked.safetensors"
    assert finishes(lambda: cli(["generate", "--chars", "5"])) == 0
    assert capsys.readouterr().out.startswith("time traveller ")
    (folder / "linked.safetensors").unlink()
    assert newest_checkpoint(folder) is None
    fails_in_one_line(capsys, ["generate", "--chars", "5"], "no checkpoint in")


@pytest.mark.parametrize("prefix", ["model.", "best."])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_weights_that_are_not_finite_are_refused_in_one_line(tmp_path, capsys, prefix, value):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    assert {"best.W_hq", "model.W_hq"} <= read_checkpoint(path)[0].keys()  # the file has both kinds of weights

    def poison(tensors, meta):
        tensors[prefix + "W_hq"] = tensors[prefix + "W_hq"].clone()
        tensors[prefix + "W_hq"][0, 1] = value

    bad = rewrite(path, tmp_path / "bad.safetensors", poison)
    with pytest.raises(CheckpointError, match=f"parameter {prefix}W_hq holds NaN or infinite values"):
        load_model(bad, best=prefix == "best.")
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        Trainer.load(bad, corpus=corpus_from_text(TEXT)[0])
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(bad), "--chars", "3"] +
                      (["--latest"] if prefix == "model." else []), "holds NaN or infinite values")


def test_a_vocabulary_of_nothing_but_unk_is_refused(tmp_path):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    bad = rewrite(path, tmp_path / "bad.safetensors", lambda t, meta: meta.update(vocab=["<unk>"]))
    with pytest.raises(CheckpointError, match="vocabulary is missing or malformed"):
        load_model(bad)


# -------------------------------------------------------------------- saving ----

@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def train_args(corpus_file, save):
    return ["train", "--corpus", str(corpus_file), "--hidden", "8", "--steps", "5", "--batch", "4", "--epochs", "1",
            "--device", "cpu", "--save", str(save)]


def test_a_save_onto_a_fifo_a_device_a_folder_or_the_corpus_is_refused_before_training(tmp_path, corpus_file,
                                                                                     capsys, monkeypatch):
    import engine.train

    def no_training(self):
        raise AssertionError("training started")

    monkeypatch.setattr(engine.train.Trainer, "run", no_training)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    before = corpus_file.read_bytes()
    for target, says in [(fifo, "a FIFO, not a file"), ("/dev/null", "a character device, not a file"),
                         (folder, "a folder; give a file name in it"),
                         (corpus_file, "this is the training text; save the checkpoint under another name")]:
        fails_in_one_line(capsys, train_args(corpus_file, target), says)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert corpus_file.read_bytes() == before


def test_a_save_onto_another_file_or_into_a_file_or_unwritable_folder_is_refused(tmp_path, corpus_file, capsys,
                                                                               monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    fails_in_one_line(capsys, train_args(corpus_file, notes), "exists and is not an rnnplay checkpoint")
    assert notes.read_text() == "my notes"
    fails_in_one_line(capsys, train_args(corpus_file, notes / "run.safetensors"), "cannot save there (Not a directory)")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as a user without write permission sees it
    fails_in_one_line(capsys, train_args(corpus_file, tmp_path / "new" / "run.safetensors"),
                      "cannot write in this folder")


def test_a_name_too_long_for_the_temporary_file_is_refused_before_training(tmp_path, corpus_file, capsys):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    room = name_max - len(f".{'x'}.{os.getpid()}.12345678.tmp") + 1  # the longest name that still works
    fails_in_one_line(capsys, train_args(corpus_file, tmp_path / ("x" * (room + 1))), "the file name is too long")
    assert cli(train_args(corpus_file, tmp_path / ("x" * room))) == 0
    assert (tmp_path / ("x" * room)).is_file()


def test_replacing_a_checkpoint_is_said_before_training_and_a_new_folder_is_made(tmp_path, corpus_file, capsys):
    path = tmp_path / "a" / "b" / "run.safetensors"
    assert cli(train_args(corpus_file, path)) == 0
    assert "will replace" not in capsys.readouterr().err
    assert cli(train_args(corpus_file, path)) == 0
    err = capsys.readouterr().err
    assert f"rnnplay: {path} exists: this run's checkpoint will replace it" in err.splitlines()
    # resuming saves over its own file: nothing to warn about
    assert cli(["train", "--resume", str(path), "--epochs", "2"]) == 0
    assert "will replace" not in capsys.readouterr().err
    assert check_save_target(path) and check_save_target(tmp_path / "fresh.safetensors") == ""


async def test_the_apps_save_dialog_checks_the_path_and_asks_before_replacing(tiny_corpus, tmp_path):
    from app_support import TINY, train_to_end, wait_for

    from tui.app import create_app

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    existing = tmp_path / "old.safetensors"
    tiny_checkpoint(existing)
    before = existing.read_bytes()
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)

        async def save_to(path):
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen.query("#path-input"), what="the save dialog")
            app.screen.query_one("#path-input").value = str(path)
            await pilot.press("enter")
            await pilot.pause()

        await save_to(fifo)
        await wait_for(pilot, lambda: any("a FIFO, not a file" in n.message for n in app._notifications),
                       what="the refusal")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode) and app.trainer.dirty
        await save_to(existing)
        assert "will replace it" in str(app.screen.query_one("Label").render())  # asked first
        await pilot.click("#cancel")
        assert existing.read_bytes() == before and app.trainer.dirty
        await save_to(existing)
        await pilot.click("#replace")
        await wait_for(pilot, lambda: not app.trainer.dirty, what="the save")
        assert existing.read_bytes() != before and torch.equal(
            load_model(existing, best=False)[0].W_hq, app.trainer.model.W_hq)
