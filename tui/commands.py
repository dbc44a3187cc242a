"""Command-palette entries (Ctrl+P) for the app's actions."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, help, action on the app)
COMMANDS = [
    ("Train: start or resume", "Build the model from the form if needed and train (F5)", "train_start"),
    ("Train: pause or resume", "Pause between minibatches (F6)", "train_pause"),
    ("Train: stop", "Stop after the current minibatch (F7)", "train_stop"),
    ("Train: reset", "Discard the model and unlock the hyperparameters (Ctrl+R)", "train_reset"),
    ("Checkpoint: save", "Save the full training state (Ctrl+S)", "save"),
    ("Checkpoint: load", "Load a training state and continue from it (Ctrl+O)", "load"),
    ("Generate: write", "Put the cursor in the prompt (Ctrl+G)", "write"),
    ("Generate: stop writing", "Stop the running generation (Esc in the Generate pane)", "stop_generation"),
    ("Show: corpus", "The Corpus pane", "show_view('corpus')"),
    ("Show: training", "The Training pane", "show_view('training')"),
    ("Show: generate", "The Generate pane", "show_view('generate')"),
    ("Show: paths of BPTT", "How much of dL/dh_t comes from each later loss, live while training",
     "show_view('paths')"),
    ("Show: minibatches", "How the text is cut into minibatches, and what the carried state means",
     "show_view('batches')"),
    ("Show: inspect", "Inside the model: next-token guesses, units, gates, saliency", "show_view('inspect')"),
    ("Show: forecast", "One step ahead is easy, 64 steps ahead is not (d2l 8.1)", "show_view('forecast')"),
    ("Help", "What each pane shows and the formulas behind it (F1)", "help"),
]


class RnnplayCommands(Provider):
    async def discover(self) -> Hits:
        for title, help_text, action in COMMANDS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action), help=help_text)
