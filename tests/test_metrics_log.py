"""The metrics log (engine/metrics_log.py): every record written is read back equal, from the
engine and from ``rnnplay train --log``; ``rnnplay log`` summarises it or turns it into CSV; what
is not a log is never written over; and the optional TensorBoard writer."""
import csv
import errno
import io
import json
import math
import sys

import pytest

from engine import Trainer, resolve
from engine.metrics_log import LogError, MetricsLog, read_log, summarise, write_csv
from engine.records import EpochRecord, RunInfo, StepRecord
from engine.vocab import corpus_from_text
from robustness_support import TEXT, cli, fails_in_one_line

pytestmark = pytest.mark.usefixtures("one_thread")
TRAIN = ["train", "--hidden", "8", "--steps", "5", "--batch", "4", "--device", "cpu", "--json"]


def trainer(**options) -> Trainer:
    corpus, vocab = corpus_from_text(TEXT)
    return Trainer(resolve({"hidden": 8, "steps": 5, "batch": 4, "epochs": 2, "device": "cpu", **options}), corpus,
                   vocab, corpus_name="text")


def logged(path, run) -> list:
    """Write ``run``'s info and records to the log at ``path``; the records, as written."""
    log, written = MetricsLog(path), [run.info()]
    log.write(written[0])
    for record in run.run():
        log.write(record)
        written.append(record)
    log.close()
    return written


def test_records_written_are_records_read(tmp_path):
    path = tmp_path / "run.jsonl"
    first = trainer(cell="gru", embed=4, iterator="sequential")
    written = logged(path, first)
    assert [type(r) for r in written[:2]] == [RunInfo, StepRecord] and isinstance(written[-1], EpochRecord)
    assert read_log(path) == written
    assert read_log(path)[0].config == first.config  # a frozen TrainConfig again, not a dict
    # a second run (a resumed one, say) goes on in the same file
    written += logged(path, trainer(time_budget=0.05))
    assert read_log(path) == written
    assert [s.info.config.cell for s in summarise(written)] == ["gru", "rnn"]


def test_non_finite_numbers_come_back_as_themselves(tmp_path):
    path = tmp_path / "nan.jsonl"
    info = trainer().info()
    skipped = StepRecord(1, 1, 9, 1, math.nan, math.inf, math.nan, False, 0.0, 0.1, skipped=True, lr=1.0)
    log = MetricsLog(path)
    log.write(info)
    log.write(skipped)
    log.close()
    back = read_log(path)[1]
    assert math.isnan(back.loss) and back.perplexity == math.inf and back.skipped
    assert "NaN" in path.read_text().splitlines()[1]  # Python's json extension, which pandas reads too


def test_a_line_cut_short_by_a_crash_is_left_out_and_any_other_bad_line_is_named(tmp_path):
    path = tmp_path / "run.jsonl"
    written = logged(path, trainer(epochs=1))
    with open(path, "a") as f:
        f.write('{"kind": "step", "epoch": 2, "st')  # killed as it wrote
    assert read_log(path) == written
    lines = path.read_text().splitlines()
    lines[3] = "not json"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LogError, match="line 4 is not a metrics-log record"):
        read_log(path)


@pytest.mark.parametrize("kind", ["checkpoint", "text", "folder"])
def test_what_is_not_a_metrics_log_is_refused_before_training_and_left_alone(tmp_path, capsys, kind):
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    target = tmp_path / "target"
    if kind == "checkpoint":
        assert cli([*TRAIN, "--corpus", str(src), "--epochs", "1", "--save", str(target)]) == 0
    elif kind == "text":
        target = src
    else:
        target.mkdir()
    before = target.read_bytes() if target.is_file() else None
    capsys.readouterr()
    save = tmp_path / "new.safetensors"
    fails_in_one_line(capsys, [*TRAIN, "--corpus", str(src), "--save", str(save), "--log", str(target)], "--log")
    assert not save.exists()  # nothing trained
    assert (target.read_bytes() if target.is_file() else None) == before


def test_rnnplay_train_log_then_rnnplay_log_and_csv(tmp_path, capsys):
    src, save, path = tmp_path / "text.txt", tmp_path / "run.safetensors", tmp_path / "logs" / "run.jsonl"
    src.write_text(TEXT)
    assert cli([*TRAIN, "--corpus", str(src), "--epochs", "2", "--save", str(save), "--log", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert cli(["train", "--resume", str(save), "--epochs", "3", "--log", str(path), "--json"]) == 0
    capsys.readouterr()
    records = read_log(path)
    runs = summarise(records)
    assert [r.info.global_step for r in runs] == [0, summary["steps"]]  # the resumed run starts where it was
    assert runs[0].steps == summary["steps"] and [r.epochs for r in runs] == [2, 1]
    steps = [r for r in records if isinstance(r, StepRecord)]
    assert [s.global_step for s in steps] == list(range(1, len(steps) + 1))

    assert cli(["log", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run 1 of 2: ") and "run 2 of 2: " in out and f"{summary['steps']:,} steps" in out
    best = min((r for r in records if isinstance(r, EpochRecord)), key=lambda r: r.val_perplexity)
    assert f"best validation perplexity {best.val_perplexity:.3f} (epoch {best.epoch})" in out

    assert cli(["log", str(path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(records) - 2 and {r["run"] for r in rows} == {"1", "2"}
    assert [float(r["loss"]) for r in rows if r["kind"] == "step"] == [s.loss for s in steps]
    assert [r["val_perplexity"] for r in rows if r["kind"] == "epoch"] == \
           [repr(r.val_perplexity) for r in records if isinstance(r, EpochRecord)]


def test_rnnplay_log_of_a_missing_or_foreign_file_is_one_line(tmp_path, capsys):
    fails_in_one_line(capsys, ["log", str(tmp_path / "none.jsonl")], "cannot read the metrics log")
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"kind": "step", "epoch": 1}) + "\n")
    fails_in_one_line(capsys, ["log", str(other)], "is this an rnnplay log")


def test_a_log_that_cannot_be_written_any_more_stops_and_training_goes_on(tmp_path, capsys, monkeypatch):
    src, save, path = tmp_path / "text.txt", tmp_path / "run.safetensors", tmp_path / "run.jsonl"
    src.write_text(TEXT)
    real, count = MetricsLog.write, {"n": 0}

    def full_disk_at_the_fifth(self, record):
        count["n"] += 1
        if count["n"] == 5:
            self._file.write = lambda line: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        return real(self, record)

    monkeypatch.setattr(MetricsLog, "write", full_disk_at_the_fifth)
    assert cli([*TRAIN, "--corpus", str(src), "--epochs", "2", "--save", str(save), "--log", str(path)]) == 0
    err = capsys.readouterr().err
    assert err.count("could not be written (No space left on device); logging stopped") == 1
    assert save.is_file() and len(read_log(path)) == 4  # the lines before the disk filled up


def test_without_tensorboard_the_option_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    src = tmp_path / "text.txt"
    src.write_text(TEXT)
    fails_in_one_line(capsys, [*TRAIN, "--corpus", str(src), "--save", str(tmp_path / "run.safetensors"),
                               "--tensorboard", str(tmp_path / "tb")],
                      "--tensorboard needs the tensorboard package", "pip install 'rnnplay[tensorboard]'")


def test_tensorboard_scalars(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason="the optional tensorboard extra is not installed "
                                              "(pip install 'rnnplay[tensorboard]'); the test venv has no numpy")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    src, folder = tmp_path / "text.txt", tmp_path / "tb"
    src.write_text(TEXT)
    assert cli([*TRAIN, "--corpus", str(src), "--epochs", "2", "--save", str(tmp_path / "run.safetensors"),
                "--tensorboard", str(folder), "--log", str(tmp_path / "run.jsonl")]) == 0
    events = EventAccumulator(str(folder))
    events.Reload()
    steps = [r for r in read_log(tmp_path / "run.jsonl") if isinstance(r, StepRecord)]
    assert [e.value for e in events.Scalars("step/loss")] == pytest.approx([s.loss for s in steps])
    assert len(events.Scalars("epoch/val_perplexity")) == 2


def test_write_csv_leaves_a_field_a_record_lacks_empty():
    info = trainer().info()
    epoch = EpochRecord(1, 5.0, None, None, False, 100.0, 1.0, 3)
    out = io.StringIO()
    assert write_csv([info, epoch], out) == 1
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["kind"], row["val_perplexity"], row["loss"], row["global_step"]) == ("epoch", "", "", "3")
