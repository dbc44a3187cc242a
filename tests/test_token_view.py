"""The token view on its own: wrapping, the row under the text, words, the cursor by keys and
clicks, and the colour maps' ends."""
from textual.app import App

from tui.widgets.token_view import TokenView, diverging, heat, probability

WORDS = "the time traveller for so it will be convenient to speak of him".split()


class ViewApp(App):
    def __init__(self):
        super().__init__()
        self.moved: list[int] = []

    def compose(self):
        yield TokenView()

    def on_token_view_cursor_moved(self, message: TokenView.CursorMoved) -> None:
        self.moved.append(message.position)


def lines(view) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def test_words_wrap_with_their_guesses_under_them_and_the_cursor_follows_keys_and_clicks():
    app = ViewApp()
    async with app.run_test(size=(24, 12)) as pilot:
        view = app.query_one(TokenView)
        view.show(WORDS, [None] * len(WORDS), [w[::-1] for w in WORDS], words=True, dim={2})
        await pilot.pause()
        shown = lines(view)
        assert shown[0] == "the time traveller for"
        assert shown[1] == "eht emit rellevart rof"
        assert shown[2].startswith("so it will be")
        view.focus()
        await pilot.press("right", "right", "end")
        assert view.cursor == len(WORDS) - 1
        await pilot.press("home")
        assert view.cursor == 0
        await pilot.click(TokenView, offset=(8, 2))  # "so it will be": column 8 is in "will"
        assert view.cursor == WORDS.index("will")
        assert app.moved[-1] == WORDS.index("will") and len(app.moved) == 5


async def test_characters_join_and_a_long_text_scrolls_to_the_cursor():
    text = list("abcdefghij" * 30)
    app = ViewApp()
    async with app.run_test(size=(20, 6)) as pilot:
        view = app.query_one(TokenView)
        view.show(text, [probability(0.5)] * len(text), text)
        await pilot.pause()
        assert lines(view)[0].startswith("abcdefghijabcdefghi")
        view.focus()
        await pilot.press("end")
        assert view.cursor == len(text) - 1 and view.scroll_y > 0


def test_colour_map_ends():
    assert diverging(-1) == (33, 102, 172) and diverging(0) == (245, 245, 245) and diverging(1) == (178, 24, 43)
    assert diverging(0.5, 0, 1) == (245, 245, 245)  # a gate half open is the middle
    assert probability(0) == (215, 48, 39) and probability(1) == (26, 152, 80)
    assert heat(0, 2) == (245, 245, 245) and heat(2, 2) == (217, 72, 1) and heat(1, 0) == (245, 245, 245)
