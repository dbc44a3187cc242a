"""The Generate pane's beam mode and the log-probability shown under every output."""
from app_support import TINY, train_to_end, wait_for

from engine.beam import beam_search, sequence_log_prob
from tui.app import create_app
from tui.panes.generate import GeneratePane


def status(pane) -> str:
    return str(pane.query_one("#gen-status").render())


async def test_beam_mode_shows_the_best_text_and_every_candidate_with_its_score(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_to_end(pilot, app)
        app.action_show_view("generate")
        pane = app.query_one(GeneratePane)
        pane.query_one("#gen-mode").value = "beam"
        await pilot.pause()
        assert pane.query_one("#gen-beam").display and not pane.query_one("#gen-temperature").display
        pane.query_one("#gen-beam").value = "3"
        pane.query_one("#gen-length").value = "30"
        pane.write("the time ")
        await wait_for(pilot, lambda: "log p" in status(pane), what="the search to end")
        trainer = app.trainer
        found = beam_search(trainer.snapshot_model(), trainer.vocab, "the time ", 30, 3)
        assert pane.output == found[0].text
        assert pane.candidates == [(c.text, c.log_prob) for c in found]
        assert f"log p = {found[0].log_prob:.2f}" in status(pane)
        shown = str(pane.query_one("#gen-output").render())
        assert "beam candidates" in shown and all(c.text in shown for c in found)
        pane.query_one("#gen-beam").value = "33"
        pane.write("the")
        assert "beam width 33" in status(pane)


async def test_greedy_output_shows_its_log_probability(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        pane = app.query_one(GeneratePane)
        pane.query_one("#gen-mode").value = "greedy"
        pane.query_one("#gen-length").value = "25"
        pane.write("we ")
        await wait_for(pilot, lambda: "log p" in status(pane), what="generation to end")
        trainer = app.trainer
        expected = sequence_log_prob(trainer.snapshot_model(), trainer.vocab, "we ", pane.output)
        assert f"25 characters · log p = {expected:.2f}" in status(pane)
        assert pane.candidates == []
