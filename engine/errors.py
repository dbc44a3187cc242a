"""The project's own error type.

Every failure a user can cause (a bad file, a bad hyperparameter, a corrupt
checkpoint) raises a subclass of :class:`RnnplayError` whose message is one
line saying what went wrong and what to do.  The CLI and the TUI show that
line; anything else escaping is a bug.
"""


class RnnplayError(Exception):
    """Base class: a user-facing problem with a one-line explanation."""


class CorpusError(RnnplayError):
    """A corpus source that cannot be read, downloaded or used."""


class ConfigError(RnnplayError):
    """A hyperparameter or option outside its valid range; ``field`` names the TrainConfig field
    (or other option) it is about, when there is one, so a form can mark it."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class CheckpointError(RnnplayError):
    """A checkpoint that cannot be written, or is corrupt, foreign or mismatched."""


class TrainingError(RnnplayError):
    """Training that cannot go on (diverged, out of memory)."""
