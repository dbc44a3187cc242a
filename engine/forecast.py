"""Forecast a noisy sine wave one step and many steps ahead (d2l 8.1; seed notes 1.3-1.5).

The call::

    from engine import forecast
    result = forecast.run_forecast(forecast.ForecastConfig(tau=4, sigma=0.2),
                                   on_epoch=lambda epoch, loss: print(epoch, loss))

draws x_t = sin(0.01 t) + Normal(0, sigma) for t = 1..T from a generator seeded with
``config.seed``, turns it into the T - tau feature-label pairs ``[x_{t-tau}, ..., x_{t-1}] -> x_t``,
trains the book's MLP (calling ``on_epoch(epoch, train_mse)`` after each epoch) and fits the
linear AR(tau) baseline on the first ``n_train`` pairs, then predicts with both models
("mlp", "linear"): one step ahead over the whole series, recursively from t = n_train + tau
on, and the k-step table for k = 1..max_steps with its MSE against the observed series per
horizon.  It returns a :class:`ForecastResult`; a bad config raises ``ConfigError`` when the
:class:`ForecastConfig` is built.

Indices below are 0-based positions in the series tensor; position i holds time t = i + 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .forecast_config import ForecastConfig, parse_horizons
from .forecast_models import EpochCallback, LinearAR, fit_linear_ar, train_mlp

__all__ = ["ForecastConfig", "ForecastResult", "MODELS", "parse_horizons", "run_forecast",
           "sine_series", "make_features", "onestep_predict", "multistep_predict",
           "kstep_table", "mse_by_horizon"]

MODELS = ("mlp", "linear")

# A forecaster: windows (n, tau), oldest value first -> the n next values.
Predictor = Callable[[torch.Tensor], torch.Tensor]


def sine_series(T: int, sigma: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """time = 1..T and x_t = sin(0.01 t) + Normal(0, sigma), both float32 of length T."""
    time = torch.arange(1, T + 1, dtype=torch.float32)
    return time, torch.sin(0.01 * time) + torch.normal(0.0, sigma, (T,), generator=generator)


def make_features(x: torch.Tensor, tau: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The T - tau pairs: row i is x[i:i + tau], its label x[i + tau]."""
    return x.unfold(0, tau, 1)[:-1], x[tau:]


def onestep_predict(predictor: Predictor, x: torch.Tensor, tau: int) -> torch.Tensor:
    """Predictions of x[tau:], each from the true window before it."""
    return predictor(make_features(x, tau)[0])


def multistep_predict(predictor: Predictor, x: torch.Tensor, tau: int, start: int) -> torch.Tensor:
    """Predictions of x[start:], fed back as inputs: after position start, only the
    model's own outputs are used, so the error compounds (the book's lesson)."""
    preds = torch.empty_like(x)
    preds[:start] = x[:start]
    for i in range(start, len(x)):
        preds[i] = predictor(preds[i - tau:i].reshape(1, -1)).reshape(())
    return preds[start:]


def kstep_table(predictor: Predictor, x: torch.Tensor, tau: int, max_steps: int) -> torch.Tensor:
    """The seed's k-step table: one row per start point, T - tau - max_steps + 1 rows.

    Row r starts from the true window x[r:r + tau] (columns 0..tau-1); column tau + i - 1
    holds the i-step-ahead prediction, predicted from the tau columns before it, of
    x[r + tau + i - 1].  Rows stop where the max_steps-ahead target would pass the end of
    the series, so column tau + i - 1 lines up with positions tau + i - 1 .. T - max_steps + i - 1.
    """
    rows = len(x) - tau - max_steps + 1
    table = torch.empty(rows, tau + max_steps, dtype=x.dtype)
    for i in range(tau):
        table[:, i] = x[i:i + rows]
    for i in range(tau, tau + max_steps):
        table[:, i] = predictor(table[:, i - tau:i])
    return table


def mse_by_horizon(table: torch.Tensor, x: torch.Tensor, tau: int) -> list[float]:
    """MSE of each column k = 1..max_steps of a k-step table against the series it predicts."""
    rows, width = table.shape
    return [torch.mean((table[:, col] - x[col:col + rows]) ** 2).item() for col in range(tau, width)]


@dataclass(frozen=True)
class ForecastResult:
    """Everything one run produced; per-model entries are keyed by ``MODELS``."""

    config: ForecastConfig
    time: torch.Tensor  # (T,) 1..T
    x: torch.Tensor  # (T,) the observed noisy series
    onestep: dict[str, torch.Tensor]  # (T - tau,) predictions of x at onestep_time
    multistep: dict[str, torch.Tensor]  # (T - n_train - tau,) predictions at multistep_time
    kstep: dict[str, torch.Tensor]  # the k-step tables, see kstep_table
    mse_by_horizon: dict[str, list[float]]  # horizon k = 1..max_steps
    train_loss: list[float]  # the MLP's training-set MSE after each epoch
    linear: LinearAR  # the fitted baseline's coefficients

    @property
    def onestep_time(self) -> torch.Tensor:
        return self.time[self.config.tau:]

    @property
    def multistep_time(self) -> torch.Tensor:
        return self.time[self.config.n_train + self.config.tau:]

    def kstep_time(self, k: int) -> torch.Tensor:
        """Times of the k-step-ahead predictions."""
        c = self.config
        return self.time[c.tau + k - 1:c.T - c.max_steps + k]

    def kstep_predictions(self, model: str, k: int) -> torch.Tensor:
        return self.kstep[model][:, self.config.tau + k - 1]


def run_forecast(config: ForecastConfig, *, on_epoch: EpochCallback | None = None) -> ForecastResult:
    """Generate, train, fit and predict as the module docstring describes."""
    c = config
    generator = torch.Generator().manual_seed(c.seed)
    time, x = sine_series(c.T, c.sigma, generator)
    features, labels = make_features(x, c.tau)
    net, train_loss = train_mlp(features[:c.n_train], labels[:c.n_train], epochs=c.epochs,
                                generator=generator, on_epoch=on_epoch)
    linear = fit_linear_ar(features[:c.n_train], labels[:c.n_train])
    predictors = {"mlp": lambda windows: net(windows).reshape(-1), "linear": linear}
    with torch.no_grad():
        onestep = {m: onestep_predict(p, x, c.tau) for m, p in predictors.items()}
        multistep = {m: multistep_predict(p, x, c.tau, c.n_train + c.tau) for m, p in predictors.items()}
        kstep = {m: kstep_table(p, x, c.tau, c.max_steps) for m, p in predictors.items()}
    return ForecastResult(
        config=c, time=time, x=x, onestep=onestep, multistep=multistep, kstep=kstep,
        mse_by_horizon={m: mse_by_horizon(table, x, c.tau) for m, table in kstep.items()},
        train_loss=train_loss, linear=linear,
    )
