"""The training records as TensorBoard scalars (``rnnplay train --tensorboard DIR``), through
``torch.utils.tensorboard``, which needs the ``tensorboard`` package: an optional extra
(``pip install 'rnnplay[tensorboard]'``; it brings numpy and protobuf, which rnnplay otherwise
does without).
"""
from __future__ import annotations

from dataclasses import asdict

from .errors import RnnplayError
from .records import EpochRecord, RunInfo, StepRecord

MISSING = ("--tensorboard needs the tensorboard package, which is not installed: "
           "pip install 'rnnplay[tensorboard]' (or use --log PATH, which needs nothing)")
STEP_SCALARS = ("loss", "perplexity", "grad_norm", "lr", "tokens_per_sec")
EPOCH_SCALARS = ("train_perplexity", "val_perplexity", "tokens_per_sec")


class TensorboardMissing(RnnplayError):
    """--tensorboard without the tensorboard package."""


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or TensorboardMissing saying how to get it."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard's own message would only name a version)
    except ImportError:
        raise TensorboardMissing(MISSING) from None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter


class TensorboardScalars:
    """Writes each record's numbers as scalars under ``logdir`` (x axis: the global step):
    ``step/NAME`` per minibatch, ``epoch/NAME`` per epoch, and a run's configuration as text."""

    def __init__(self, logdir):
        self.writer = summary_writer_class()(str(logdir))

    def write(self, record) -> None:
        if isinstance(record, RunInfo):
            config = ", ".join(f"{k}={v}" for k, v in asdict(record.config).items())
            self.writer.add_text("run", f"{record.corpus_name} on {record.device}: {config}", record.global_step)
        elif isinstance(record, StepRecord):
            if not record.skipped:
                for name in STEP_SCALARS:
                    self.writer.add_scalar(f"step/{name}", getattr(record, name), record.global_step)
        elif isinstance(record, EpochRecord):
            for name in EPOCH_SCALARS:
                value = getattr(record, name)
                if value is not None:
                    self.writer.add_scalar(f"epoch/{name}", value, record.global_step)

    def close(self) -> None:
        self.writer.close()
