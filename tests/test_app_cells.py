"""The cells in the app: the form's cell, layers and dropout, the session comparison, the flow by cell."""

from app_support import TINY, wait_for, wait_for_stats

from engine.config import CELL_DEFAULTS, resolve
from tui.app import create_app
from tui.widgets.gradients import GradientReadout
from tui.widgets.plots import PerplexityCurve, SessionCurves


async def test_two_cells_trained_in_one_session_are_overlaid_and_compared(tiny_corpus):
    """The options given on the command line stay as given when the cell changes (``rnnplay --cell
    lstm --hidden 16`` keeps 16 units); the fields not given follow the cell (engine.config.defaults)."""
    given = {name: TINY[name] for name in ("hidden", "steps", "batch", "epochs", "seed", "device")}
    app = create_app(corpus=str(tiny_corpus), given=dict(given, steps=12))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_stats(pilot, app)
        form = app.query_one("#train-form")
        form.query_one("#field-cell").value = "lstm"
        await pilot.pause()
        # the new cell's defaults are filled in where nothing was given; the given size stays
        assert form.query_one("#field-hidden").value == "16"
        assert form.query_one("#field-embed").value == str(CELL_DEFAULTS["lstm"]["embed"])
        assert form.query_one("#field-dropout").value == f"{CELL_DEFAULTS['lstm']['dropout']:g}"
        assert form.query_one("#field-schedule").value == "cosine"
        assert float(form.query_one("#field-lr").value) == resolve(cell="lstm").lr == 0.008  # Adam's, the LSTM's
        form.query_one("#field-lr").value = "1"  # a learning rate alone means the book's SGD, as on the CLI
        await pilot.pause()
        assert form.query_one("#field-optimizer").value == "sgd"
        form.query_one("#field-layers").value = "2"
        for run, cell in enumerate(("lstm", "rnn"), 1):
            if run == 2:
                app.training._discard()
                form.query_one("#field-cell").value = "rnn"
                form.query_one("#field-layers").value = "1"
                await pilot.pause()
                assert form.query_one("#field-embed").value == "0"  # not given: the RNN's one-hot inputs
            await pilot.press("f5")
            await wait_for(pilot, lambda: app.training.position.global_step > 0, what="a step")
            await wait_for(pilot, lambda: not app.training.running, what="the epoch to finish")
            assert app.trainer.config == resolve(given, steps=12, cell=cell, lr=1.0, layers=3 - run)
            assert app.trainer.model.num_layers == (2 if cell == "lstm" else 1)
            assert f"{cell} ·" in str(app.query_one("#train-config").render())
            app.query_one(GradientReadout).show_flow(app.trainer.gradient_flow(), cell)

        session = app.query_one(SessionCurves)
        assert [label for label, _, _ in session.runs.values()] == ["#1 lstm 16×2", "#2 rnn 16×1"]
        assert all(len(ys) == 1 and ys[0] > 1 for _, _, ys in session.runs.values())
        assert not session.display
        await pilot.click("#train-compare")
        assert session.display and not app.query_one(PerplexityCurve).display
        flow = str(app.query_one("#grad-flow").render())
        assert flow.startswith("rnn ∂L/∂h_t") and "by cell: lstm" in flow and "rnn " in flow
