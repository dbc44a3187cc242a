"""The settings of the sine-forecast experiment (d2l 8.1), checked before any work starts.

Kept free of torch so that the CLI's argument defaults and the TUI's controls can
validate what a person typed without loading it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import MAX_SEED
from .errors import ConfigError

# The experiment is meant to stay interactive on a laptop CPU.
MAX_T = 100_000
# The signal's amplitude is 1: noise far above it is no experiment, and near the float range's
# end the series, the MLP's loss and every error are inf or NaN.
MAX_SIGMA = 100.0


@dataclass(frozen=True)
class ForecastConfig:
    """x_t = sin(0.01 t) + Normal(0, sigma), t = 1..T; the book's values are the defaults.

    tau: window length (features x_{t-tau}..x_{t-1}); n_train: feature-label pairs
    used for training; max_steps: the longest horizon of the k-step table.
    """

    T: int = 1000
    sigma: float = 0.2
    tau: int = 4
    n_train: int = 600
    max_steps: int = 64
    epochs: int = 5
    seed: int = 0

    def __post_init__(self):
        for name in ("T", "tau", "n_train", "max_steps", "epochs", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)) \
                or not 0 <= self.sigma <= MAX_SIGMA:
            raise ConfigError(f"sigma must be a number from 0 to {MAX_SIGMA:g}, got {self.sigma!r}")
        if self.T > MAX_T:
            raise ConfigError(f"T must be at most {MAX_T}, got {self.T}")
        if self.tau < 1:
            raise ConfigError(f"tau must be at least 1, got {self.tau}")
        if self.n_train <= self.tau:
            raise ConfigError(f"n_train ({self.n_train}) must be greater than tau ({self.tau}); "
                              f"raise n_train or lower tau")
        if self.n_train + self.tau >= self.T:
            raise ConfigError(f"n_train + tau ({self.n_train} + {self.tau}) must be less than T "
                              f"({self.T}) to leave points to forecast; lower n_train")
        if not 1 <= self.max_steps <= self.T - self.tau:
            raise ConfigError(f"max_steps must be between 1 and T - tau = {self.T - self.tau}, "
                              f"got {self.max_steps}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be between 0 and {MAX_SEED:,}, got {self.seed}")

    def as_dict(self) -> dict:
        return asdict(self)


def parse_horizons(text: str, max_steps: int) -> tuple[int, ...]:
    """'1,4,16,64' -> (1, 4, 16, 64): the horizons to show, each in 1..max_steps."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("give at least one horizon, e.g. 1,4,16,64")
    horizons = []
    for part in parts:
        try:
            k = int(part)
        except ValueError:
            raise ConfigError(f"horizon {part!r} is not a whole number; use e.g. 1,4,16,64") from None
        if not 1 <= k <= max_steps:
            raise ConfigError(f"horizon {k} is outside 1..max_steps ({max_steps})")
        if k not in horizons:
            horizons.append(k)
    return tuple(horizons)
