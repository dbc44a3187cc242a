"""The rnnplay app: Corpus, Training and Generate side by side (tabs on small terminals).

This module holds the App and its factory; CLI parsing lives in ``tui.parser``.
Nothing here imports torch: the panes load it in thread workers after the
first frame.
"""
from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Footer, Select, Static, Tab, Tabs

import assets
from engine.corpus import corpus_name
from tui.commands import RnnplayCommands
from tui.messages import CorpusLoaded, Notice, RunReady
from tui.panes.corpus import CorpusPane
from tui.panes.generate import GeneratePane
from tui.panes.training import TrainingPane
from tui.save_checks import save_note
from tui.screens.dialogs import quit_dialog
from tui.screens.help import HelpScreen

TRIO = ("corpus", "training", "generate")
# tabs whose pane is built the first time it is shown: view -> (module, class, border title)
ON_DEMAND = {
    "inspect": ("tui.panes.inspect", "InspectPane", "Inspect"),
    "paths": ("tui.panes.paths", "PathsPane", "Paths of BPTT"),
    "batches": ("tui.panes.batches", "BatchesPane", "Minibatches"),
    "forecast": ("tui.panes.forecast", "ForecastPane", "Forecast"),
}
# Below this the Training pane cannot show its form, buttons, curve and status at once: a notice
# stands in for the panes.
MIN_WIDTH, MIN_HEIGHT = 70, 22


class RnnplayApp(App):
    """Watch an RNN learn a text and write it, one character at a time."""

    TITLE = "rnnplay"
    AUTO_FOCUS = "#gen-prompt"  # a newcomer can type a prefix at once; F-keys work from anywhere
    CSS_PATH = str(assets.path("rnnplay.tcss"))
    COMMANDS = App.COMMANDS | {RnnplayCommands}
    # The three panes sit side by side only when the terminal is wide *and* tall enough.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help"),
        Binding("question_mark", "help", "Help", show=False, id="help-key"),
        Binding("f2", "next_view", "Next tab", id="next-view"),
        Binding("f5", "train_start", "Train", id="train-start"),
        Binding("f6", "train_pause", "Pause", id="train-pause"),
        Binding("f7", "train_stop", "Stop", id="train-stop"),
        Binding("ctrl+r", "train_reset", "Reset", id="train-reset"),
        Binding("ctrl+s", "save", "Save", id="save"),
        Binding("ctrl+o", "load", "Load", id="load"),
        Binding("ctrl+g", "write", "Write", id="write"),
    ]

    def __init__(self, *, corpus: str | None = None, checkpoint: str | None = None, given: Mapping | None = None):
        """``corpus``: a source (None: the default corpus); ``checkpoint``: a path to load;
        ``given``: the training options given on the command line (engine.config.resolve's input),
        which preset the training form."""
        super().__init__()
        self.preset_corpus = corpus
        self.preset_checkpoint = checkpoint
        self.given = dict(given or {})
        self.corpus_text = None             # the engine.corpus.Source that training uses
        self.stats: dict[str, object] = {}  # token level -> CorpusStats of corpus_text
        self._quitting = False
        # held here: while a dialog is on top, app.query_one searches the dialog, not the main screen
        self._too_small = Static(id="too-small")

    def compose(self) -> ComposeResult:
        tabs = [Tab("Corpus", id="tab-corpus"), Tab("Training", id="tab-training"),
                Tab("Generate", id="tab-generate"), Tab("Inspect", id="tab-inspect"), Tab("Paths", id="tab-paths"),
                Tab("Batches", id="tab-batches"), Tab("Forecast", id="tab-forecast")]
        yield Tabs(*tabs, id="tabs")
        with Container(id="workbench", classes="-trio"):
            training = TrainingPane(self.given, self.preset_checkpoint, corpus=self.preset_corpus,
                                    id="training", classes="pane trio")
            yield CorpusPane(self.preset_corpus, training.preset_config.mode, id="corpus", classes="pane trio -active")
            yield training
            yield GeneratePane(id="generate", classes="pane trio")
        yield Footer()
        yield self._too_small

    # ------------------------------------------------------------ views ----

    @property
    def training(self) -> TrainingPane:
        return self.query_one(TrainingPane)

    @property
    def trainer(self):
        """The current ``engine.train.Trainer`` (a handle for thread workers: the UI reads its
        facts from ``training.info`` and the records), or None before the first Start or Load."""
        return self.training.trainer

    @on(Tabs.TabActivated, "#tabs")
    async def _show_view(self, event: Tabs.TabActivated) -> None:
        view = event.tab.id.removeprefix("tab-")
        if view in ON_DEMAND and not self.query(f"#{view}"):
            module, name, title = ON_DEMAND[view]
            pane = getattr(import_module(module), name)(id=view, classes="pane")
            pane.border_title = title
            await self.query_one("#workbench").mount(pane)
        for pane in self.query(".pane"):
            pane.set_class(pane.id == view, "-active")
        self.query_one("#workbench").set_class(view in TRIO, "-trio")
        self.call_after_refresh(self._release_hidden_focus)

    def _release_hidden_focus(self) -> None:
        """A widget in a pane that the switch hid keeps the keyboard focus, and its keys would still
        fire from another tab: take the focus away from it."""
        focused = self.focused
        if focused is not None and not all(node.display for node in focused.ancestors_with_self
                                           if isinstance(node, Widget)):
            self.set_focus(None)

    def action_next_view(self) -> None:
        self.query_one(Tabs).action_next_tab()

    def action_show_view(self, view: str) -> None:
        self.query_one(Tabs).active = f"tab-{view}"

    @on(CorpusLoaded)
    def _corpus_loaded(self, message: CorpusLoaded) -> None:
        if not self.query(TrainingPane):  # the app is closing: the statistics came after its panes went
            return
        if self.corpus_text is None:
            self.training.warm_up()  # after the statistics: the first screen never waits for torch
        if message.text is not self.corpus_text or any(s.mode != message.stats.mode for s in self.stats.values()):
            self.corpus_text, self.stats = message.text, {}
            info = self.training.info
            if info is not None and info.corpus_name != corpus_name(message.text):
                self.notify("the model was trained on another corpus: Reset (Ctrl+R) to train on this one")
        self.stats[message.stats.token] = message.stats
        self.training.show_baseline()

    @on(RunReady)
    def _run_ready(self, message: RunReady) -> None:
        """A loaded checkpoint brings its corpus: show that corpus's statistics."""
        info = message.info
        shown = corpus_name(self.corpus_text) if self.corpus_text is not None else None
        if message.path and info.corpus_name and info.corpus_name != shown:
            self.query_one(CorpusPane).load(info.corpus_name, info.config.token, info.config.mode)

    @on(Notice)
    def _notice(self, message: Notice) -> None:
        """A thread worker's warning for the user."""
        self.notify(message.text, severity="warning", markup=False)

    @on(Select.Changed, "#field-mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        """The text's preprocessing is the form's (book or raw): the statistics follow it."""
        self.query_one(CorpusPane).set_mode(event.value)

    def on_resize(self, event: events.Resize) -> None:
        """Say so when the terminal is too small; the class lives on the app, so it holds whatever
        screen is on top when the size changes."""
        width, height = event.size
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.set_class(too_small, "-too-small")
        if too_small:
            self._too_small.update(f"terminal too small: {width}x{height}\n"
                                   f"rnnplay needs {MIN_WIDTH}x{MIN_HEIGHT}\n"
                                   "enlarge the window, or Ctrl+Q to quit")

    # ---------------------------------------------------------- actions ----

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            inspecting = self.query_one(Tabs).active == "tab-inspect"
            self.push_screen(HelpScreen(section="inspect" if inspecting else None))

    def action_train_start(self) -> None:
        self.training.start()

    def action_train_pause(self) -> None:
        self.training.toggle_pause()

    def action_train_stop(self) -> None:
        self.training.stop()

    def action_train_reset(self) -> None:
        self.training.reset()

    def action_save(self) -> None:
        self.training.ask_save()

    def action_load(self) -> None:
        self.training.ask_load()

    def action_write(self) -> None:
        """Show the Generate pane and put the cursor in its prompt."""
        self.action_show_view("generate")
        self.query_one("#gen-prompt").focus()

    def action_stop_generation(self) -> None:
        self.query_one(GeneratePane).stop()

    async def action_quit(self) -> None:
        """Stop training cleanly; offer to save a model trained since the last save."""
        if self._quitting:
            return
        training = self.training
        if not training.dirty:
            self.shut_down()
            return
        was_running = training.running and not training.pause_requested
        training.pause()

        def decided(choice: str | None) -> None:
            if choice == "save":
                self.training.save(then_quit=True)
            elif choice == "quit":
                self.shut_down()
            elif was_running:
                self.training.resume()

        self.push_screen(quit_dialog(save_note(training.info.corpus_name, training.default_checkpoint())), decided)

    def shut_down(self) -> None:
        """Stop every worker loop, then exit; thread workers end at their next check."""
        self._quitting = True
        self.training.stop()
        self.workers.cancel_all()
        self.exit()


def create_app(*, corpus: str | None = None, checkpoint: str | None = None,
               given: Mapping | None = None) -> RnnplayApp:
    """The app factory shared by the CLI, the tests and the benchmark."""
    return RnnplayApp(corpus=corpus, checkpoint=checkpoint, given=given)
