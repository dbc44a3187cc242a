"""The sine forecast engine (d2l 8.1, seed notes 1.3-1.5) against hand-built tables and formulas."""
import math

import pytest
import torch

from engine import forecast
from engine.errors import ConfigError
from engine.forecast import (ForecastConfig, kstep_table, make_features, mse_by_horizon,
                             multistep_predict, run_forecast)
from engine.forecast_config import parse_horizons
from engine.forecast_models import fit_linear_ar

# the seed's example series t1..t6 = 1..6, and a known linear predictor: next = sum of the window
SERIES = torch.arange(1.0, 7.0)


def window_sum(windows):
    return windows.sum(dim=1)


@pytest.fixture(scope="module")
def book():
    """The book's setup, run once for the module."""
    return run_forecast(ForecastConfig())


def test_entry_point_is_importable_from_engine():
    import engine

    assert forecast.run_forecast is engine.run_forecast
    assert "call" in forecast.__doc__ and "run_forecast" in forecast.__doc__


def test_features_are_the_seeds_pairs():
    features, labels = make_features(SERIES, tau=2)
    assert features.tolist() == [[1, 2], [2, 3], [3, 4], [4, 5]]  # T - tau = 4 pairs
    assert labels.tolist() == [3, 4, 5, 6]


def test_kstep_table_matches_the_seeds_table_with_three_start_points():
    # T = 6, tau = 2, max_steps = 2: rows start at t1, t2, t3; columns 1-step, 2-step
    table = kstep_table(window_sum, SERIES, tau=2, max_steps=2)
    assert table.tolist() == [[1, 2, 3, 5],      # t1 t2 -> t3 = 1+2, t4 = 2+3
                              [2, 3, 5, 8],      # t2 t3 -> t4, t5
                              [3, 4, 7, 11]]     # t3 t4 -> t5, t6


def test_kstep_table_drops_the_start_whose_last_target_passes_T():
    # the seed's 3-step column: the row starting at t3 would need t7, so T - tau - max_steps + 1 = 2 rows
    table = kstep_table(window_sum, SERIES, tau=2, max_steps=3)
    assert table.tolist() == [[1, 2, 3, 5, 8],
                              [2, 3, 5, 8, 13]]
    # column tau + i - 1 is aligned to positions tau + i - 1 .. T - max_steps + i - 1 (t3-t4, t4-t5, t5-t6)
    errors = mse_by_horizon(table, SERIES, tau=2)
    assert errors == pytest.approx([((3 - 3) ** 2 + (5 - 4) ** 2) / 2,
                                    ((5 - 4) ** 2 + (8 - 5) ** 2) / 2,
                                    ((8 - 5) ** 2 + (13 - 6) ** 2) / 2])


def test_kstep_table_of_a_perfect_predictor_reproduces_the_series():
    # next = last + 1 is exact on 1..6: every column equals the series at its aligned positions
    table = kstep_table(lambda w: w[:, -1] + 1, SERIES, tau=2, max_steps=3)
    for i in range(1, 4):
        assert table[:, 2 + i - 1].tolist() == SERIES[2 + i - 1:6 - 3 + i].tolist()
    assert mse_by_horizon(table, SERIES, tau=2) == [0.0, 0.0, 0.0]


def test_result_times_line_up_with_the_table():
    result = run_forecast(ForecastConfig(T=6, tau=2, n_train=3, max_steps=3, epochs=1))
    assert result.kstep["mlp"].shape == (2, 5)
    assert [result.kstep_time(k).tolist() for k in (1, 2, 3)] == [[3, 4], [4, 5], [5, 6]]
    assert result.multistep_time.tolist() == [6]
    assert result.onestep_time.tolist() == [3, 4, 5, 6]


def test_kstep_table_agrees_with_recursion_from_each_start(book):
    # independent reference: recurse from each start point with multistep_predict
    c = book.config
    for row in (0, 17, book.kstep["linear"].shape[0] - 1):
        window = book.x[row:row + c.tau + c.max_steps]
        recursed = multistep_predict(book.linear, window, c.tau, c.tau)
        assert book.kstep["linear"][row, c.tau:].tolist() == pytest.approx(recursed.tolist(), abs=1e-6)


def test_first_table_column_is_the_one_step_prediction(book):
    rows = book.kstep["mlp"].shape[0]
    for model in forecast.MODELS:
        assert torch.allclose(book.kstep_predictions(model, 1), book.onestep[model][:rows], atol=1e-6)


def test_multistep_feeds_back_its_own_predictions():
    # from position 3 on, only predictions are used: t4 = t2+t3 = 5, t5 = t3+5 = 8, t6 = 5+8 = 13
    assert multistep_predict(window_sum, SERIES, tau=2, start=3).tolist() == [5, 8, 13]
    perturbed = SERIES.clone()
    perturbed[3:] = torch.tensor([-100.0, 7.0, 1e6])
    assert multistep_predict(window_sum, perturbed, tau=2, start=3).tolist() == [5, 8, 13]


def test_multistep_ignores_the_series_after_the_cut(monkeypatch, book):
    cut = book.config.n_train + book.config.tau
    real = forecast.sine_series

    def perturbed_series(T, sigma, generator):
        time, x = real(T, sigma, generator)
        x[cut:] += torch.linspace(-3, 3, T - cut)
        return time, x

    monkeypatch.setattr(forecast, "sine_series", perturbed_series)
    other = run_forecast(book.config)
    assert not torch.equal(other.x, book.x)
    assert other.train_loss == book.train_loss  # training sees only the first n_train pairs
    assert not torch.allclose(other.onestep["mlp"][cut:], book.onestep["mlp"][cut:])
    for model in forecast.MODELS:
        assert torch.equal(other.multistep[model], book.multistep[model])


def test_least_squares_recovers_a_noiseless_ar2():
    # x_t = m + sin(w t) satisfies x_t = m (2 - 2 cos w) + 2 cos w x_{t-1} - x_{t-2}
    w, m = 0.3, 0.5
    x = m + torch.sin(w * torch.arange(60, dtype=torch.float64))
    ar = fit_linear_ar(*make_features(x, tau=2))
    assert ar.intercept == pytest.approx(m * (2 - 2 * math.cos(w)), abs=1e-8)
    assert ar.phi.tolist() == pytest.approx([2 * math.cos(w), -1.0], abs=1e-8)
    features, labels = make_features(x, tau=2)
    assert torch.allclose(ar(features), labels, atol=1e-8)


def test_book_setup_shapes(book):
    c = book.config
    assert book.x.shape == book.time.shape == (1000,)
    assert len(book.train_loss) == c.epochs
    for model in forecast.MODELS:
        assert book.onestep[model].shape == (1000 - 4,)
        assert book.multistep[model].shape == (1000 - 600 - 4,)
        assert book.kstep[model].shape == (1000 - 4 - 64 + 1, 4 + 64)
        assert len(book.mse_by_horizon[model]) == 64
        assert book.kstep_time(64).shape == book.kstep_predictions(model, 64).shape


def test_book_setup_one_step_is_easy_and_64_steps_are_not(book):
    for model in forecast.MODELS:
        errors = book.mse_by_horizon[model]
        assert 0.04 < errors[0] < 0.07  # near the noise variance sigma^2 = 0.04
        assert errors[3] < 0.1
        assert errors[63] > 3 * errors[0]
    # recursion forgets the input: the MLP's multi-step curve settles to a constant
    assert book.multistep["mlp"][-100:].std() < 1e-3
    assert book.train_loss[-1] < 0.07


def test_runs_are_seeded():
    config = ForecastConfig(T=200, n_train=100, max_steps=8, epochs=2, seed=3)
    epochs = []
    a = run_forecast(config, on_epoch=lambda epoch, loss: epochs.append((epoch, loss)))
    b = run_forecast(config)
    assert epochs == list(enumerate(a.train_loss, 1))
    assert torch.equal(a.x, b.x) and a.train_loss == b.train_loss
    assert all(torch.equal(a.kstep[m], b.kstep[m]) for m in forecast.MODELS)
    c = run_forecast(ForecastConfig(T=200, n_train=100, max_steps=8, epochs=2, seed=4))
    assert not torch.equal(a.x, c.x)


def test_noise_has_the_requested_spread():
    time, x = forecast.sine_series(5000, 0.5, torch.Generator().manual_seed(0))
    assert time.tolist() == list(range(1, 5001))
    noise = x - torch.sin(0.01 * time)
    assert noise.std().item() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("kwargs, words", [
    ({"tau": 600}, "n_train (600) must be greater than tau (600)"),
    ({"tau": 0}, "tau must be at least 1"),
    ({"max_steps": 997}, "max_steps must be between 1 and T - tau = 996"),
    ({"max_steps": 0}, "max_steps"),
    ({"n_train": 996}, "must be less than T"),
    ({"T": 10**6}, "T must be at most"),
    ({"sigma": -0.1}, "sigma must be a number from 0 to 100"),
    ({"sigma": float("nan")}, "sigma"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"seed": -1}, "seed"),
    ({"tau": 2.5}, "tau must be a whole number"),
    ({"T": True}, "T must be a whole number"),
])
def test_bad_config_raises_one_line(kwargs, words):
    with pytest.raises(ConfigError) as info:
        ForecastConfig(**kwargs)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_parse_horizons():
    assert parse_horizons("1, 4,16,64,4", 64) == (1, 4, 16, 64)
    for text, words in [("", "at least one"), ("1,x", "'x' is not a whole number"),
                        ("0", "outside 1..max_steps (64)"), ("65", "outside")]:
        with pytest.raises(ConfigError) as info:
            parse_horizons(text, 64)
        assert words in str(info.value)
