"""Issue #12, item 5: --checkpoint with training flags, the layout under a dialog after a resize,
the checkpoint size cap, and form reads that catch only what the inputs can raise."""
import os

import pytest
from app_support import TINY, resize, wait_for, wait_for_stats

import engine.checkpoint_file
from engine import CheckpointError, Trainer
from engine.checkpoint import load_model
from engine.checkpoint_file import MAX_CHECKPOINT_BYTES
from engine.config import resolve
from engine.tokenfile import load_corpus
from robustness_support import cli, fails_in_one_line, tiny_checkpoint
from tui.app import create_app
from tui.panes.generate import GeneratePane
from tui.screens.dialogs import PathDialog, quit_dialog
from tui.screens.help import HelpScreen
from tui.widgets.train_form import FIELDS, TrainForm

TRIO = ("#corpus", "#training", "#generate")


def saved_run(corpus_file, path, steps: int = 3) -> Trainer:
    corpus, vocab = load_corpus(str(corpus_file))
    trainer = Trainer(resolve(TINY), corpus, vocab, corpus_name=str(corpus_file))
    run = trainer.run()
    for _ in range(steps):
        next(run)
    trainer.save(path)
    return trainer


# ------------------------------------------------------ --checkpoint + flags ----

@pytest.mark.parametrize("flags, named", [(["--hidden", "32"], "--hidden"),
                                          (["--lr", "0.1", "--iter", "sequential"], "--iter, --lr"),
                                          (["--mode", "raw"], "--mode"), (["--epochs", "2"], "--epochs")])
def test_checkpoint_with_training_flags_is_refused_naming_them(capsys, tmp_path, flags, named):
    path = tmp_path / "run.safetensors"
    tiny_checkpoint(path)
    fails_in_one_line(capsys, ["--checkpoint", str(path), *flags],
                      f"--checkpoint opens the run with its own configuration; drop {named}")


async def test_checkpoint_with_corpus_reads_the_moved_text(tiny_corpus, tmp_path):
    path = tmp_path / "run.safetensors"
    trained = saved_run(tiny_corpus, path)
    moved = tmp_path / "moved" / "tiny.txt"
    moved.parent.mkdir()
    tiny_corpus.rename(moved)
    app = create_app(checkpoint=str(path), corpus=str(moved))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.training.info is not None, what="the checkpoint")
        info = app.training.info
        assert info.global_step == trained.global_step and info.corpus_name == str(moved)
        await wait_for(pilot, lambda: app.corpus_text is not None and app.corpus_text.name == str(moved),
                       what="the moved text's statistics")
        await app.workers.wait_for_complete()
        await pilot.pause()


def test_resume_with_corpus_reads_the_moved_text_and_refuses_another(tiny_corpus, tmp_path, capsys):
    path = tmp_path / "run.safetensors"
    saved_run(tiny_corpus, path)
    moved = tmp_path / "moved.txt"
    tiny_corpus.rename(moved)
    fails_in_one_line(capsys, ["train", "--resume", str(path)], "the run's text cannot be read",
                      "if it moved, pass its new place with --corpus PATH")
    assert cli(["train", "--resume", str(path), "--corpus", str(moved), "--epochs", "1"]) == 0
    assert Trainer.load(path).corpus_name == str(moved)  # the next resume needs no --corpus
    other = tmp_path / "other.txt"
    other.write_text(moved.read_text()[::-1])
    fails_in_one_line(capsys, ["train", "--resume", str(path), "--corpus", str(other)], "resume with the original")


# ---------------------------------------------------- resize under a dialog ----

def trio_shown(app) -> list[bool]:
    return [app.query_one(s).display and app.query_one(s).region.area > 0 for s in TRIO]


DIALOGS = {"help": HelpScreen, "quit": lambda: quit_dialog("where"), "path": lambda: PathDialog("Save to:", "x")}


async def test_a_resize_under_a_dialog_reaches_the_main_screens_layout(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        main = app.screen
        for dialog in ("help", "quit", "path", "palette"):
            for size, classes, shown in [((80, 24), {"-narrow", "-short"}, [True, False, False]),
                                         ((130, 45), {"-wide", "-tall"}, [True, True, True]),
                                         ((120, 30), {"-wide", "-short"}, [True, False, False])]:
                if dialog == "palette":
                    app.action_command_palette()
                else:
                    app.push_screen(DIALOGS[dialog]())
                await wait_for(pilot, lambda: app.screen is not main, what=f"the {dialog} dialog")
                await resize(pilot, *size)
                # the main screen, under the dialog, takes the new size's layout at once
                await wait_for(pilot, lambda: classes <= main.classes and trio_shown(app) == shown,
                               what=f"{size} under the {dialog} dialog")
                app.pop_screen()
                await pilot.pause()
                assert app.screen is main and classes <= main.classes and trio_shown(app) == shown, (dialog, size)


# --------------------------------------------------------------- size cap ----

def test_a_checkpoint_over_the_cap_is_refused_without_being_read(tmp_path, capsys, monkeypatch):
    huge = tmp_path / "huge.safetensors"
    with open(huge, "wb") as fh:  # sparse: 3 GiB on paper, nothing on the disk
        fh.truncate(3 * 1024 ** 3)

    def no_read(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(os, "read", no_read)
    for load in (load_model, Trainer.load):
        with pytest.raises(CheckpointError, match=f"3,221,225,472 bytes is over the {MAX_CHECKPOINT_BYTES:,}-byte "
                                                  f"cap for checkpoints"):
            load(huge)
    monkeypatch.undo()
    fails_in_one_line(capsys, ["generate", "--checkpoint", str(huge)], "cap for checkpoints")
    # the cap is what decides: a real checkpoint over a lowered cap is refused the same way
    real = tmp_path / "real.safetensors"
    tiny_checkpoint(real)
    monkeypatch.setattr(engine.checkpoint_file, "MAX_CHECKPOINT_BYTES", real.stat().st_size - 1)
    with pytest.raises(CheckpointError, match="cap for checkpoints"):
        load_model(real)


# ----------------------------------------------------------- form reads ----

ODD = ["", "abc", "1e999", "nan", "-inf", "9" * 5000, "0x10", "1_0_", "١٢", " "]


async def test_any_text_in_a_number_field_is_a_one_line_error_or_a_value(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        form = app.query_one(TrainForm)
        for raw in ODD:
            for name, (_, choices) in FIELDS.items():
                if choices is not None:
                    continue
                form.query_one(f"#field-{name}").value = raw
                app.training.start()  # reads the form: a ConfigError is shown, anything else escapes
                error = str(app.query_one("#train-error").render())
                if error:
                    assert "\n" not in error and form.query_one(f"#field-{name}").has_class("-invalid-field"), \
                        (name, raw, error)
                    assert app.trainer is None and not app.training.running
                else:  # a value the form accepts (e.g. Arabic-Indic digits): a run starts; start over
                    await wait_for(pilot, lambda: app.trainer is not None, what="the run")
                    app.training.stop()
                    await wait_for(pilot, lambda: not app.training.running, what="stop")
                    app.training._discard()
                form.fill(resolve(TINY), TINY)


async def test_an_unexpected_error_in_the_forms_is_not_taken_for_a_bad_value(tiny_corpus, monkeypatch):
    def broken(self):
        raise RuntimeError("a bug, not a value")

    monkeypatch.setattr(TrainForm, "config", broken)
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    with pytest.raises(RuntimeError, match="a bug, not a value"):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_stats(pilot, app)
            await pilot.press("f5")
            await pilot.pause()
    monkeypatch.setattr(GeneratePane, "settings", lambda self: 1 / 0)
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    with pytest.raises(ZeroDivisionError):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_stats(pilot, app)
            await pilot.press("ctrl+g", "t", "enter")
            await pilot.pause()
