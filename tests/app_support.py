"""Helpers for the app tests (their tiny corpus is the conftest fixture ``tiny_corpus``): a tiny
training configuration, polling with a deadline, a quick resize."""
from __future__ import annotations

import time

import pytest
from textual import events
from textual.geometry import Size

# the training options the app is opened with (as the command line gives them): engine.config.resolve's input
TINY = dict(hidden=16, steps=8, batch=4, epochs=1, optimizer="sgd", lr=1.0, seed=0, device="cpu")


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def resize(pilot, width: int, height: int) -> None:
    """``pilot.resize_terminal`` without its wait for an idle CPU: while training runs the CPU never
    idles, and each call would cost a second."""
    size = Size(width, height)
    pilot.app._driver._size = size  # what the headless driver reports as the terminal's size
    pilot.app.post_message(events.Resize(size, size))
    await pilot.pause(0)


async def wait_for_stats(pilot, app) -> None:
    await wait_for(pilot, lambda: bool(app.stats), what="corpus statistics")


def steps_seen(app) -> int:
    """The global step of the last record the Training pane drew."""
    return app.training.position.global_step


async def start_training(pilot, app, steps: int = 1) -> None:
    """F5 on the preset configuration, then wait until the pane has drawn ``steps`` steps."""
    await wait_for_stats(pilot, app)
    await pilot.press("f5")
    await wait_for(pilot, lambda: steps_seen(app) >= steps, what="training steps")


async def train_to_end(pilot, app) -> None:
    """F5 on the tiny configuration, then wait for the run to finish."""
    await start_training(pilot, app)
    await wait_for(pilot, lambda: not app.training.running, what="training to finish")
