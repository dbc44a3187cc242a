"""The seams, checked on the source: the trainer's state crosses module lines as plain data (no
module but engine/train.py touches a ``_private`` of Trainer; checkpoint.py does not import the
trainer), and the UI thread draws from records (no widget, screen or app method reads an attribute
of a trainer; a worker only posts messages).  tests/conftest.py's ``ui_thread_guard`` checks the
same at run time in the app tests."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("engine", "tui", "tests", "benchmarks", "scripts") for p in (REPO / folder).rglob("*.py")]
TRAIN = REPO / "engine" / "train.py"
ACCESSORS = {"getattr", "setattr", "delattr", "hasattr"}  # and monkeypatch.setattr(obj, "name", ...)


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def trainer_privates() -> set[str]:
    """Every ``_name`` (not a dunder) that Trainer defines: its private methods and the private
    attributes its methods set on ``self``."""
    (trainer,) = [node for node in parsed(TRAIN).body if isinstance(node, ast.ClassDef) and node.name == "Trainer"]
    names = set()
    for node in ast.walk(trainer):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
                and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


def private_uses(tree: ast.AST, private: set[str]) -> list[str]:
    """``x._name`` with x not ``self``/``cls``, and ``getattr(x, "_name")``-like calls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{ast.unparse(node)} (line {node.lineno})")
        elif isinstance(node, ast.Call):
            func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if func in ACCESSORS:
                found += [f"{func}(..., {arg.value!r}) (line {node.lineno})" for arg in node.args
                          if isinstance(arg, ast.Constant) and arg.value in private]
    return found


def test_the_trainer_has_the_privates_the_check_looks_for():
    assert {"_state", "_best_params", "_train_step", "_validate", "_data_rng", "_lock"} <= trainer_privates()


def test_the_check_finds_a_private_read_and_a_patch():
    tree = ast.parse("t._best_params\nmonkeypatch.setattr(Trainer, '_train_step', f)\nself._state = 1\n")
    assert private_uses(tree, trainer_privates()) == ["t._best_params (line 1)",
                                                      "setattr(..., '_train_step') (line 2)"]


def test_no_module_but_the_trainers_own_touches_its_privates():
    private = trainer_privates()
    offenders = {str(path.relative_to(REPO)): uses for path in SOURCES if path != TRAIN
                 if (uses := private_uses(parsed(path), private))}
    assert offenders == {}, "use Trainer.state_dict(), TrainHooks or a public method instead"


def test_checkpoint_does_not_import_the_trainer():
    imported = set()
    for node in ast.walk(parsed(REPO / "engine" / "checkpoint.py")):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported and not {"engine.train", ".train", "train"} & imported


# ----------------------------------------------------------------- the UI ----

UI_MODULES = [p for p in (REPO / "tui").rglob("*.py") if not p.name.startswith("cmd_")]  # cmd_*: the CLI's


def is_trainer(node: ast.AST) -> bool:
    """``trainer``, ``x.trainer``, ``x._trainer``: how the UI's code names a trainer."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.lstrip("_") == "trainer"


def trainer_reads_in_methods(tree: ast.AST) -> list[str]:
    """Attribute reads on a trainer inside the methods of classes (widgets, screens, the app: code
    that runs on the UI thread)."""
    found = []
    for cls in (node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and is_trainer(node.value):
                found.append(f"{cls.name}: {ast.unparse(node)} (line {node.lineno})")
    return found


def worker_names(modules: dict[str, ast.AST]) -> set[tuple[str, str]]:
    """``(module, function)`` of what is handed to ``run_worker`` (directly or through ``partial``):
    ``f`` and ``self.f`` are in the calling module, ``mod.f`` in module ``mod``."""
    names = set()
    for module, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "run_worker" and node.args:
                target = node.args[0]
                if isinstance(target, ast.Call) and getattr(target.func, "id", "") == "partial":
                    target = target.args[0]
                if isinstance(target, ast.Name):
                    names.add((module, target.id))
                elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    names.add((module if target.value.id == "self" else target.value.id, target.attr))
    return names


def worker_widget_access(module: str, tree: ast.AST, workers: set[tuple[str, str]]) -> list[str]:
    """A thread worker gets the widget it works for as its first parameter (``pane``, or ``self``
    for a method): it may only post messages to it."""
    found = []
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and (module, function.name) in workers and function.args.args:
            owner = function.args.args[0].arg
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                        and node.value.id == owner and node.attr != "post_message":
                    found.append(f"{function.name}: {ast.unparse(node)} (line {node.lineno})")
    return found


def test_the_lint_rules_catch_what_they_are_for():
    tree = ast.parse("class P:\n    def f(self):\n        self.run_worker(partial(work, self, self.trainer))\n"
                     "        return self.app.trainer.global_step + self.trainer.epoch\n"
                     "def work(pane, trainer):\n    pane.app.notify(trainer.vocab)\n    pane.post_message(1)\n")
    assert trainer_reads_in_methods(tree) == ["P: self.app.trainer.global_step (line 4)",
                                              "P: self.trainer.epoch (line 4)"]
    assert worker_names({"m": tree}) == {("m", "work")}
    assert worker_widget_access("m", tree, {("m", "work")}) == ["work: pane.app (line 6)"]


WORKERS = worker_names({path.stem: parsed(path) for path in UI_MODULES})


def test_the_workers_are_found():
    assert {("training_worker", name) for name in ("build", "load", "save", "train_loop")} | {
        ("generate", "stream"), ("inspect", "read_worker"), ("paths", "compute_paths"),
        ("batches", "compute_batches"), ("corpus", "_compute"), ("forecast", "_train")} <= WORKERS


@pytest.mark.parametrize("path", UI_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_ui_thread_reads_no_trainer_and_workers_only_post_messages(path):
    tree = parsed(path)
    assert trainer_reads_in_methods(tree) == [], "draw from RunInfo and the records (tui.messages)"
    assert worker_widget_access(path.stem, tree, WORKERS) == [], "a thread worker posts a message; a handler draws"


def test_the_runtime_guard_catches_a_read_from_a_widget_method(ui_thread_guard):
    """The fixture's own check: a read from a DOMNode's method on the main thread is recorded."""
    from textual.widget import Widget

    from engine import Trainer, resolve
    from engine.vocab import corpus_from_text

    corpus, vocab = corpus_from_text("the time traveller " * 20)
    trainer = Trainer(resolve(hidden=4, steps=4, batch=2, device="cpu"), corpus, vocab)
    namespace = {"Widget": Widget}
    exec(compile("class Pane(Widget):\n    def step(self, trainer):\n        return trainer.global_step\n",
                 str(REPO / "tui" / "panes" / "fake.py"), "exec"), namespace)
    assert trainer.global_step == 0 and ui_thread_guard == []  # the test's own read is not the UI's
    namespace["Pane"]().step(trainer)
    assert ui_thread_guard == ["global_step in step (" + str(REPO / "tui" / "panes" / "fake.py") + ")"]
    ui_thread_guard.clear()
