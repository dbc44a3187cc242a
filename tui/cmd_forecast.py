"""``rnnplay forecast``: the book's sine forecast (d2l 8.1) — one step is easy, 64 steps are not."""
from __future__ import annotations

import argparse
import math

from engine.escape import json_line
from engine.forecast_config import MAX_SIGMA, ForecastConfig, parse_horizons

_DEFAULT = ForecastConfig()
DEFAULT_STEPS = "1,4,16,64"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "forecast", help="forecast a noisy sine wave k steps ahead (MLP vs linear AR)",
        description="Train the book's MLP and fit a linear autoregressive baseline on "
                    "x_t = sin(0.01 t) + noise, then print the error of k-step-ahead predictions.",
    )
    parser.add_argument("--T", type=int, default=_DEFAULT.T, help=f"series length (default: {_DEFAULT.T})")
    parser.add_argument("--sigma", type=float, default=_DEFAULT.sigma,
                        help=f"noise standard deviation, 0 to {MAX_SIGMA:g} (default: {_DEFAULT.sigma})")
    parser.add_argument("--tau", type=int, default=_DEFAULT.tau,
                        help=f"window: how many past values predict the next (default: {_DEFAULT.tau})")
    parser.add_argument("--n-train", type=int, default=_DEFAULT.n_train,
                        help=f"feature-label pairs to train on (default: {_DEFAULT.n_train})")
    parser.add_argument("--max-steps", type=int, default=_DEFAULT.max_steps,
                        help=f"longest horizon k (default: {_DEFAULT.max_steps})")
    parser.add_argument("--epochs", type=int, default=_DEFAULT.epochs,
                        help=f"MLP training epochs (default: {_DEFAULT.epochs})")
    parser.add_argument("--seed", type=int, default=_DEFAULT.seed, help=f"random seed (default: {_DEFAULT.seed})")
    parser.add_argument("--steps", default=DEFAULT_STEPS, metavar="K,K,...",
                        help=f"horizons to list in the table (default: {DEFAULT_STEPS})")
    parser.add_argument("--json", action="store_true",
                        help="also print one JSON object (train_loss, mse_by_horizon) as the last line")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    config = ForecastConfig(T=args.T, sigma=args.sigma, tau=args.tau, n_train=args.n_train,
                            max_steps=args.max_steps, epochs=args.epochs, seed=args.seed)
    steps = parse_horizons(args.steps, config.max_steps)

    import torch

    from engine.forecast import run_forecast

    # the net is tiny: extra threads only add synchronisation
    torch.set_num_threads(1)
    result = run_forecast(config, on_epoch=lambda epoch, loss: print(
        f"epoch {epoch}/{config.epochs}, train loss {loss:.6f}", flush=True))
    print_errors(result, steps)
    if args.json:
        print(json_line({"config": config.as_dict(), "train_loss": result.train_loss,
                         "mse_by_horizon": result.mse_by_horizon}))
    return 0


def _mse(value: float) -> str:
    # a recursive forecast can grow without bound over a long horizon: say so rather than print inf or nan
    return f"{value:.4f}" if math.isfinite(value) else "diverged"


def print_errors(result, steps: tuple[int, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = result.config
    table = Table(title="k-step-ahead MSE", caption=f"over {result.kstep['mlp'].shape[0]} start points")
    table.add_column("k", justify="right")
    table.add_column("MLP", justify="right")
    table.add_column(f"linear AR({c.tau})", justify="right")
    for k in steps:
        table.add_row(str(k), *(_mse(result.mse_by_horizon[model][k - 1]) for model in ("mlp", "linear")))
    console = Console()
    console.print(table)
    console.print(f"noise variance sigma^2 = {c.sigma ** 2:.4f}: the least error any forecaster can reach",
                  highlight=False, markup=False)
