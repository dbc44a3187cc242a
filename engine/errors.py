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
    """A hyperparameter or option outside its valid range."""


class CheckpointError(RnnplayError):
    """A checkpoint that cannot be written, or is corrupt, foreign or mismatched."""


class TrainingError(RnnplayError):
    """Training that cannot go on (diverged, out of memory)."""
