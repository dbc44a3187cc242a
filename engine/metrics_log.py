"""The metrics log: every record of a training run as one JSON line, to read back, summarise or
convert afterwards (``rnnplay train --log PATH``, the app's runs, ``rnnplay log PATH``).

A run starts with a ``run`` line (its RunInfo: configuration, corpus, vocabulary size, device,
where it starts), then one ``step`` line per minibatch and one ``epoch`` line per epoch, each
holding its record's fields.  A resumed run appends to the same file: a new ``run`` line, then
its records.  Non-finite numbers (a skipped step's loss) are written as JSON's common extension
``NaN`` / ``Infinity``, which Python's json (and pandas) read back.  No torch here: reading a
log is instant.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .config import resolve
from .errors import ConfigError, RnnplayError
from .records import EpochRecord, RunInfo, StepRecord

KINDS = {"run": RunInfo, "step": StepRecord, "epoch": EpochRecord}
FLUSH_EVERY = 1.0  # seconds: a crash loses at most this much of the log


class LogError(RnnplayError):
    """A metrics log that cannot be written or read."""


def _line(record) -> str:
    kind = next(k for k, cls in KINDS.items() if isinstance(record, cls))
    values = asdict(record)
    if kind == "run":
        values["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")  # when it started; read_log ignores it
    return json.dumps({"kind": kind, **values}) + "\n"


def _is_log(path: Path) -> bool:
    """Whether ``path`` starts with a metrics log's ``run`` line (an empty file counts)."""
    with open(path, "rb") as f:
        first = f.readline(1 << 16)
    if not first:
        return True
    try:
        return json.loads(first).get("kind") == "run"
    except (ValueError, AttributeError):  # not JSON, or JSON that is not an object
        return False


class MetricsLog:
    """Appends records to ``path``: a new file, or an existing metrics log (a resumed run goes
    on in the same file); anything else (a folder, a checkpoint, the corpus) is refused before
    training starts.  A write that fails later (a full disk) stops the log, not the training:
    that write returns why (and ``error`` keeps it)."""

    def __init__(self, path):
        self.path = Path(path)
        self.error: str | None = None
        if self.path.exists() and not self.path.is_file():
            raise LogError(f"--log {self.path}: not a regular file; give a file name")
        try:
            if self.path.is_file() and not _is_log(self.path):
                raise LogError(f"--log {self.path}: the file exists and is not an rnnplay metrics log; give a new "
                               f"file name (or an existing log, to add to it)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise LogError(f"--log {self.path}: cannot write there ({exc.strerror or exc}); give another path") \
                from None
        self._flushed = time.monotonic()

    def write(self, record) -> str | None:
        """One record (a RunInfo, StepRecord or EpochRecord) as one line; returns ``error`` when
        this write is the one that failed."""
        if self._file is None:
            return None
        try:
            self._file.write(_line(record))
            now = time.monotonic()
            if not isinstance(record, StepRecord) or now - self._flushed >= FLUSH_EVERY:
                self._file.flush()
                self._flushed = now
        except OSError as exc:
            self.error = f"the metrics log {self.path} could not be written ({exc.strerror or exc}); logging stopped"
            self.close()
            return self.error
        return None

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:  # the last buffered lines could not be written
                self.error = self.error or f"the metrics log {self.path} could not be written ({exc.strerror or exc})"


def _record(values: dict):
    kind = values.pop("kind", None)
    cls = KINDS.get(kind)
    if cls is None:
        raise ValueError(kind)
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in values.items() if k in names}  # a newer version's extra fields
    if cls is RunInfo:
        values["config"] = resolve(values["config"], saved=True)
    return cls(**values)


def read_log(path) -> list:
    """The records of a metrics log, in order.  A last line cut short (the run was killed as it
    wrote) is left out; any other line that is not a record is a LogError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LogError(f"{path}: cannot read the metrics log ({reason})") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(_record(json.loads(line)))
        except (ValueError, TypeError, KeyError, AttributeError, ConfigError):
            if number == len(lines) and not text.endswith("\n"):
                break  # cut short by a crash
            raise LogError(f"{path}: line {number} is not a metrics-log record; is this an rnnplay log "
                           f"(rnnplay train --log)?") from None
    if records and not isinstance(records[0], RunInfo):
        raise LogError(f"{path}: does not start with a run line; is this an rnnplay log (rnnplay train --log)?")
    return records


@dataclass
class RunSummary:
    """One run (a ``run`` line and the records after it) of a metrics log."""

    info: RunInfo
    steps: int = 0
    skipped: int = 0
    epochs: int = 0
    last_step: StepRecord | None = None
    best: EpochRecord | None = None    # the epoch with the lowest validation perplexity
    last_epoch: EpochRecord | None = None
    speeds: list[float] | None = None  # tokens/s of each epoch

    def lines(self) -> list[str]:
        cfg, info = self.info.config, self.info
        start = f"from epoch {info.epoch + 1}, step {info.global_step + 1}" if info.global_step else "from the start"
        end = self.last_step or self.last_epoch
        seconds = (end.elapsed - info.elapsed) if end else 0.0
        out = [f"{info.corpus_name or 'corpus'} ({cfg.mode} {cfg.token}s, vocabulary {info.vocab_size:,}) on "
               f"{info.device}: {cfg.cell} {cfg.hidden}x{cfg.layers}, {cfg.optimizer} lr {cfg.lr:g} {cfg.schedule}, "
               f"batch {cfg.batch} x {cfg.steps}; {start}",
               f"  {self.steps:,} steps ({self.skipped:,} skipped), {self.epochs:,} epochs, {seconds:,.1f} s of "
               f"training" + (f", {statistics.median(self.speeds):,.0f} tok/s (median epoch)" if self.speeds else "")]
        if self.last_step is not None:
            out.append(f"  last step {self.last_step.global_step:,}: train perplexity "
                       f"{self.last_step.perplexity:.3f}, lr {self.last_step.lr:.3g}")
        if self.last_epoch is not None:
            out.append(f"  last epoch {self.last_epoch.epoch:,}: train perplexity "
                       f"{self.last_epoch.train_perplexity:.3f}, validation {_fmt(self.last_epoch.val_perplexity)}")
        if self.best is not None:
            out.append(f"  best validation perplexity {self.best.val_perplexity:.3f} (epoch {self.best.epoch:,})")
        return out


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summarise(records: list) -> list[RunSummary]:
    """One RunSummary per run of the log."""
    runs: list[RunSummary] = []
    for record in records:
        if isinstance(record, RunInfo):
            runs.append(RunSummary(record, speeds=[]))
            continue
        run = runs[-1]
        if isinstance(record, StepRecord):
            run.steps += 1
            run.skipped += record.skipped
            run.last_step = record
        else:
            run.epochs += 1
            run.last_epoch = record
            run.speeds.append(record.tokens_per_sec)
            val = record.val_perplexity
            if val is not None and math.isfinite(val) and (run.best is None or val < run.best.val_perplexity):
                run.best = record
    return runs


CSV_COLUMNS = ("run", "kind", *dict.fromkeys(f.name for cls in (StepRecord, EpochRecord) for f in fields(cls)))


def write_csv(records: list, out) -> int:
    """The step and epoch records as CSV rows on ``out`` (``run`` counts the log's runs from 1;
    a field a kind of record lacks is empty); returns the number of rows."""
    writer = csv.DictWriter(out, CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    run = rows = 0
    for record in records:
        if isinstance(record, RunInfo):
            run += 1
            continue
        kind = "step" if isinstance(record, StepRecord) else "epoch"
        writer.writerow({"run": run, "kind": kind, **{k: "" if v is None else v for k, v in asdict(record).items()}})
        rows += 1
    return rows
