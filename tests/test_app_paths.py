"""The Paths and Batches tabs, with a training worker running, at 120x40 and 80x24."""
import pytest
import torch
from app_support import TINY, start_training, wait_for

from engine.config import resolve
from engine.corpus import read_source
from engine.gradient_paths import bptt_paths, corpus_row, path_shares, truncation_dropped
from engine.minibatches import first_minibatches
from engine.vocab import corpus_from_text, encode_text
from tui.app import create_app
from tui.commands import RnnplayCommands
from tui.widgets.path_heatmap import PathHeatmap

LONG = dict(TINY, epochs=1000)  # trains until stopped
pytestmark = pytest.mark.usefixtures("ui_thread_guard")


@pytest.fixture(autouse=True)
def quick_refresh(monkeypatch):
    monkeypatch.setattr("tui.panes.paths.REFRESH", 1.0)


async def show(pilot, app, view):
    app.action_show_view(view)
    await wait_for(pilot, lambda: bool(app.query(f"#{view}")) and app.query_one(f"#{view}").result is not None,
                   what=f"the {view} view")
    return app.query_one(f"#{view}")


async def stop_training(pilot, app):
    await pilot.press("f7")
    await wait_for(pilot, lambda: not app.training.running, what="training to stop")


async def paused(pilot, app):
    """Pause, and wait until the training thread waits."""
    await pilot.press("f6")
    await wait_for(pilot, lambda: app.training.paused, what="the pause")


def expected_C(app, row):
    trainer = app.trainer
    text = read_source(app.corpus_text.name).text  # the app holds the engine.corpus.Source; read it whole here
    tokens = torch.tensor(encode_text(text, trainer.vocab, trainer.config.token))
    X, Y = corpus_row(tokens, row, trainer.config.steps)
    return bptt_paths(trainer.snapshot_model(), X, Y)[0]


def rendered(app, selector):
    return str(app.query_one(selector).render())


async def test_paths_follow_training_and_read_out_the_cell_under_the_cursor(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=(120, 40)) as pilot:
        await start_training(pilot, app)
        pane = await show(pilot, app, "paths")
        first = pane.result
        # live: newer weights arrive while the worker trains
        await wait_for(pilot, lambda: pane.result.step > first.step, what="a refresh while training")
        assert app.training.running and isinstance(app.focused, PathHeatmap)
        await paused(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: pane.result.step == app.trainer.global_step, what="the paused weights")
        C = expected_C(app, 0)
        torch.testing.assert_close(torch.tensor(pane.result.C), C)
        heatmap = app.query_one(PathHeatmap)
        assert (heatmap.s, heatmap.t) == (7, 0)  # T = 8: the longest path, h_1 to L_8
        await pilot.press("right", "right", "up")  # t = 2, s = 6 (shown from 1: h_3, L_7)
        assert (heatmap.s, heatmap.t) == (6, 2)
        shares = path_shares(C)
        sentence = rendered(app, "#paths-cell")
        assert sentence.startswith(f"dL/dh_3 receives {shares[2, 2]:.0%} from L_3 directly, "
                                   f"{shares[2, 3]:.0%} from L_4 via 1 step, "
                                   f"{shares[2, 4]:.0%} from L_5 via 2 steps")
        assert f"‖∂L_7/∂h_3‖ = {C[2, 6]:.2e}" in sentence
        # the truncation control: k starts at T - 1 = 7 here (no path is longer), then down to 2
        assert "k = 7" in rendered(app, "#paths-truncation")
        for _ in range(5):
            await pilot.press("minus")
        per_t, overall = truncation_dropped(C, 2)
        text = rendered(app, "#paths-truncation")
        assert f"k = 2 (cuts paths with s - t > 2): drops {per_t[2]:.1%} at h_3; {overall:.1%} on average" in text
        assert heatmap.dropped == pytest.approx(per_t.tolist())
        # the next corpus row
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: pane.result.row == 1, what="row 2")
        torch.testing.assert_close(torch.tensor(pane.result.C), expected_C(app, 1))
        assert "row 2 of" in rendered(app, "#paths-title")
        await stop_training(pilot, app)


async def test_paths_at_80x24_scroll_to_the_cursor_and_switch_layers(tiny_corpus):
    config = dict(LONG, cell="gru", layers=2, dropout=0.0, steps=30)
    app = create_app(corpus=str(tiny_corpus), given=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await start_training(pilot, app)
        pane = await show(pilot, app, "paths")
        heatmap = app.query_one(PathHeatmap)
        assert "layer 2 of 2" in rendered(app, "#paths-title")
        # (each key pressed while a training thread works costs the pilot ~2 s of waiting for idle)
        heatmap.action_move(28, 0)
        await pilot.press("end")  # the last loss, its own state
        assert heatmap.s == heatmap.t == 29
        lines = heatmap.render().plain.splitlines()
        assert heatmap.size.height < 30 and any("[]" in line or "◆" in line for line in lines)
        assert max(len(line) for line in lines) <= heatmap.size.width + 1
        assert "L30" in heatmap.render().plain
        await pilot.press("l")
        await wait_for(pilot, lambda: pane.result.layer == 0, what="the first layer")
        assert "layer 1 of 2" in rendered(app, "#paths-title")
        await stop_training(pilot, app)
        # once training stops, the view takes one more look at the final weights
        await wait_for(pilot, lambda: pane.result.step == app.trainer.global_step, what="the final weights")


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_batches_show_the_iterators_rows_and_redraw(tiny_corpus, size):
    app = create_app(corpus=str(tiny_corpus), given=LONG)
    async with app.run_test(size=size) as pilot:
        await start_training(pilot, app)
        pane = await show(pilot, app, "batches")
        corpus, _ = corpus_from_text(read_source(app.corpus_text.name).text)

        def rows(result):
            return [[row.X for row in minibatch] for minibatch in result.minibatches]

        want = first_minibatches(corpus, TINY["batch"], TINY["steps"], "random", 3, seed=TINY["seed"])
        assert rows(pane.result) == [[row.X for row in minibatch] for minibatch in want]
        text = rendered(app, "#batches-rows")
        x, y = pane.result.texts[(0, 0)]
        assert f"X {x}" in text and f"Y {y}" in text and y[:-1] == x[1:]
        assert "fresh (zero) hidden state" in rendered(app, "#batches-title")
        # sequential partitioning: row i of minibatch j + 1 continues row i of minibatch j
        app.query_one("#batches-iter").value = "sequential"
        await wait_for(pilot, lambda: pane.result.iterator == "sequential", what="sequential minibatches")
        second = pane.result.minibatches[1]
        assert all(row.continues and row.start == above.start + TINY["steps"]
                   for row, above in zip(second, pane.result.minibatches[0]))
        assert "continues row 1 of minibatch 1" in rendered(app, "#batches-rows")
        assert "carried across minibatches" in rendered(app, "#batches-title")
        # New draw: another offset, the same iterator with the next seed
        app.query_one("#batches-redraw").press()
        await wait_for(pilot, lambda: pane.result.draw == 1, what="a new draw")
        redrawn = first_minibatches(corpus, TINY["batch"], TINY["steps"], "sequential", 3, seed=TINY["seed"] + 1)
        assert rows(pane.result) == [[row.X for row in minibatch] for minibatch in redrawn]
        # a bad value is a one-line error; the last minibatches stay
        count = app.query_one("#batches-count")
        count.value = "0"
        count.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "count 0" in rendered(app, "#batches-error"), what="the error line")
        assert pane.result.draw == 1 and app.is_running
        await stop_training(pilot, app)


async def test_the_palette_opens_both_views(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        provider = RnnplayCommands(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert "Show: paths of BPTT" in titles and "Show: minibatches" in titles
        hit = [hit async for hit in provider.search("minibatches")][0]
        await hit.command()
        await wait_for(pilot, lambda: bool(app.query("#batches")) and app.query_one("#batches").display,
                       what="the Batches tab")
        assert app.query_one("#tabs").active == "tab-batches"


class _Worker:
    is_cancelled = False


class _Pane:
    """Collects what a worker function posts."""

    def __init__(self):
        self.posted = []

    def post_message(self, message):
        self.posted.append(message)


@pytest.mark.usefixtures("one_thread")
def test_the_worker_cuts_long_runs_to_128_steps_and_skips_unmoved_weights(tiny_corpus, monkeypatch):
    from engine.corpus import open_source
    from engine.train import Trainer
    from tui.panes import paths

    monkeypatch.setattr(paths, "get_current_worker", lambda: _Worker())
    text = open_source(str(tiny_corpus))
    corpus, vocab = corpus_from_text(read_source(str(tiny_corpus)).text)
    trainer = Trainer(resolve(TINY, steps=130, hidden=4), corpus, vocab)
    pane = _Pane()
    paths.compute_paths(pane, 1, trainer, text, 3, -1)
    (result,) = pane.posted
    assert (len(result.C), result.run_steps, result.row, result.start) == (128, 130, 3, 3 * 128)
    assert len(result.dropped) == 128 and result.overall[10] == pytest.approx(
        truncation_dropped(torch.tensor(result.C), 10)[1])
    paths.compute_paths(pane, 1, trainer, text, 3, -1, unless_at=trainer.global_step)
    assert len(pane.posted) == 1  # paused or stopped: nothing new to show
    paths.compute_paths(pane, 1, trainer, text, 10 ** 6, -1)
    assert pane.posted[-1].row == pane.posted[-1].rows - 1  # a row past the end shows the last


def test_the_colour_scale_is_logarithmic():
    from tui.widgets.path_heatmap import DECADES, PALETTE, colour_index

    last = len(PALETTE) - 1
    assert colour_index(2.0, 2.0) == last and colour_index(0.0, 2.0) == 0
    assert colour_index(2.0 * 10 ** -DECADES, 2.0) == 0 and colour_index(2e-12, 2.0) == 0
    assert colour_index(2.0 * 10 ** (-DECADES / 2), 2.0) == last // 2
    assert colour_index(0.2, 2.0) > colour_index(0.02, 2.0) > colour_index(0.002, 2.0)
