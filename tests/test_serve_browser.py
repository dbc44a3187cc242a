"""``rnnplay serve`` in a real browser: Debian's Chromium, driven by Playwright, opens the page,
trains, writes, closes the tab, and no app process is left.

xterm.js draws the terminal on a canvas and keeps its Terminal object to itself, so the test reads
what the page's terminal shows by replaying the output the page receives on its websocket into pyte
(a terminal emulator) at the size the page asked for; the screenshot shows the canvas itself.
Artefacts (the screenshot and the measured times) go to test-artifacts/, which git ignores.
"""
import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.serve_support import TINY_OPTIONS, TerminalScreen, gone, rnnplay_serve, wait_until

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; .ci/run does)"),
]
pytest.importorskip("textual_serve", reason="the serve extra is not installed")
pytest.importorskip("pyte", reason="pyte (a test dependency) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (a test dependency) is not installed")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# Headless, as root (hence no sandbox), and off the network: without these flags Chromium calls
# Google's servers again and again.
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}  # 141 x 44 cells at the page's 16 px font: the three panes show


class PageTerminal:
    """The screen of the page's terminal, rebuilt from the app's output on the page's websocket."""

    def __init__(self, page):
        self.page = page
        self.screen = None
        page.on("websocket", self._opened)

    def _opened(self, websocket) -> None:
        query = parse_qs(urlparse(websocket.url).query)
        self.screen = TerminalScreen(int(query["width"][0]), int(query["height"][0]))
        websocket.on("framereceived", self._received)
        websocket.on("framesent", self._sent)

    def _received(self, payload) -> None:
        if isinstance(payload, bytes):  # terminal output; text frames are the page's own messages
            self.screen.feed(payload)

    def _sent(self, payload) -> None:
        kind, *data = json.loads(payload)
        if kind == "resize":
            self.screen.resize(data[0]["width"], data[0]["height"])

    def text(self) -> str:
        return self.screen.text() if self.screen else ""

    def wait_for(self, pattern: str, what: str, timeout: float = 30.0) -> re.Match:
        return wait_until(lambda: re.search(pattern, self.text()), what, timeout,
                          poll=lambda: self.page.wait_for_timeout(50),
                          shown=lambda: f"; the page's terminal showed:\n{self.text()}")


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def new_tab(browser, served):
    """A page that reaches nothing but the server (the page links a web font)."""
    page = browser.new_page(viewport=VIEWPORT)
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(served.url)
               else route.abort())
    return page


def test_rnnplay_in_chromium(browser, timemachine, tmp_path):
    # The Time Machine (from the test's data folder), a small model on a part of it: the screenshot in
    # the README shows the statistics and a curve of the whole book's corpus.
    options = ("--corpus", "timemachine", "--max-tokens", "30000", "--hidden", "32", "--steps", "16",
               "--batch", "8", "--epochs", "3", "--device", "cpu")
    with rnnplay_serve(tmp_path, "--max-sessions", "1", *options) as served:
        page = new_tab(browser, served)
        terminal = PageTerminal(page)

        opened = time.monotonic()
        page.goto(served.url)
        page.wait_for_selector("body.-first-byte", timeout=30_000)  # the page has shown its terminal
        terminal.wait_for(r"Corpus +Training +Generate", "the app's first frame")
        first_frame_s = time.monotonic() - opened
        terminal.wait_for(r"178,979 characters .* 173,427 char tokens", "the corpus statistics")
        statistics_s = time.monotonic() - opened
        apps = served.wait_for_apps(1)

        page.focus("textarea.xterm-helper-textarea")  # where a click in the terminal puts the keyboard
        page.keyboard.press("F5")
        terminal.wait_for(r"epoch [123]/3 · step \d+/\d+ · [\d,]+ tok/s", "training to start")
        terminal.wait_for(r"finished", "training to finish")

        page.keyboard.press("Control+g")
        page.keyboard.type("time traveller ")
        page.keyboard.press("Enter")
        terminal.wait_for(r"\b300 characters", "the generated text")
        # the Generate pane's output: the prefix, then the model's text up to the pane's border
        written = terminal.wait_for(r"time traveller ([^│]*)│", "the text after the prefix").group(1)
        assert written.strip(), f"no text after the prefix:\n{terminal.text()}"

        app_rss_mb = sum(process.memory_info().rss for process in apps) / 1024 ** 2
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "serve-browser.png")
        (ARTIFACTS / "serve-browser.json").write_text(json.dumps({
            "first_frame_s": round(first_frame_s, 2), "statistics_s": round(statistics_s, 2),
            "app_rss_mb": round(app_rss_mb), "terminal": f"{terminal.screen.columns}x{terminal.screen.lines}",
        }, indent=1) + "\n")

        page.close()  # the tab goes: its app must follow
        assert gone(apps, timeout=15) == [], "the app outlived its tab"
        wait_until(lambda: served.get()[0] == 200, "the session's slot to be freed", 10)
        assert served.process.poll() is None


def test_the_tab_over_the_cap_gets_a_clear_page(browser, tiny_corpus, tmp_path):
    with rnnplay_serve(tmp_path, "--max-sessions", "1", "--corpus", str(tiny_corpus), *TINY_OPTIONS) as served:
        first = new_tab(browser, served)
        first.goto(served.url)
        first.wait_for_selector("body.-first-byte", timeout=30_000)
        apps = served.wait_for_apps(1)

        second = new_tab(browser, served)
        response = second.goto(served.url)
        assert response.status == 503
        assert "All sessions are in use" in second.inner_text("body")
        assert served.app_processes() == apps

        first.close()
        assert gone(apps, timeout=15) == []
        wait_until(lambda: served.get()[0] == 200, "the session's slot to be freed", 10)
        second.reload()
        second.wait_for_selector("body.-first-byte", timeout=30_000)  # the freed slot is the second tab's
        assert len(served.wait_for_apps(1)) == 1
