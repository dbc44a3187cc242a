"""The Generate pane streams the engine's own output, chunk by chunk, from the current weights."""
import pytest
from app_support import TINY, train_to_end, wait_for

from tui.app import create_app
from tui.messages import GeneratedChunk
from tui.panes.generate import GeneratePane


async def type_prompt(pilot, app, text: str) -> None:
    prompt = app.query_one("#gen-prompt")
    prompt.focus()
    await pilot.pause()
    await pilot.press(*("space" if c == " " else c for c in text))  # keys by name: " " is "space"


def capture_chunks(pane):
    chunks = []
    original = pane.post_message

    def post(message):
        if isinstance(message, GeneratedChunk):
            chunks.append(message)
        return original(message)

    pane.post_message = post
    return chunks


async def test_prefix_streams_the_engines_greedy_text_in_chunks(tiny_corpus):
    from engine.generate import generate

    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await train_to_end(pilot, app)
        pane = app.query_one(GeneratePane)
        pane.query_one("#gen-mode").value = "greedy"
        pane.query_one("#gen-length").value = "120"
        chunks = capture_chunks(pane)
        await type_prompt(pilot, app, "time traveller ")
        assert app.query_one("#gen-prompt").value == "time traveller "
        await pilot.press("enter")
        await wait_for(pilot, lambda: "characters" in str(pane.query_one("#gen-status").render()),
                       what="generation to end")
        trainer = app.trainer
        expected = "".join(generate(trainer.snapshot_model(), trainer.vocab, "time traveller ", 120,
                                    temperature=0.0, token="char"))
        assert pane.output == expected
        assert len(chunks) >= 3, "text should arrive in several chunks, not all at once"
        assert "".join(c.text for c in chunks) == expected
        assert str(pane.query_one("#gen-output").render()).startswith("time traveller " + expected[:20])


async def test_new_prompt_cancels_old_one_escape_stops_and_up_recalls(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(80, 24)) as pilot:
        await train_to_end(pilot, app)
        app.action_show_view("generate")
        pane = app.query_one(GeneratePane)
        pane.query_one("#gen-length").value = "5000"   # 20 s at the reading pace: it will be cut short
        await type_prompt(pilot, app, "the")
        await pilot.press("enter")
        first = pane.run
        await wait_for(pilot, lambda: len(pane.output) > 0, what="first chunk")
        await type_prompt(pilot, app, "we")
        await pilot.press("enter")
        assert pane.run == first + 1 and pane.prompt == "we"
        await wait_for(pilot, lambda: len(pane.output) > 0, what="second run's text")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "stopped after" in str(pane.query_one("#gen-status").render()),
                       what="Esc to stop the run")
        await app.workers.wait_for_complete()
        assert len(pane.output) < 5000
        prompt = app.query_one("#gen-prompt")
        await pilot.press("up")
        assert prompt.value == "we"
        await pilot.press("up")
        assert prompt.value == "the"
        await pilot.press("down", "down")
        assert prompt.value == ""


async def test_generating_without_a_model_says_what_to_do(tiny_corpus):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_prompt(pilot, app, "hi")
        await pilot.press("enter")
        assert "no model yet" in str(app.query_one("#gen-status").render())


@pytest.mark.parametrize("field,value,message", [("#gen-temperature", "-1", "temperature"),
                                                  ("#gen-length", "", "length")])
async def test_bad_generation_settings_are_inline_errors(tiny_corpus, field, value, message):
    app = create_app(corpus=str(tiny_corpus), given=TINY)
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one(field).value = value
        await type_prompt(pilot, app, "a")
        await pilot.press("enter")
        assert str(app.query_one("#gen-status").render()).startswith(message)
