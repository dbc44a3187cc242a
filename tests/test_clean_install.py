"""Issue #12, items 1-3: rnnplay needs no package that pyproject.toml does not declare, and CI
proves it in a fresh virtual environment.

The bug these would have caught: checkpoints went through numpy (``tensor.numpy()``,
``safetensors.torch.save``), which the torch CPU wheel does not pull in, so saving failed in a
new user's venv while CI, on the machine's own Python with numpy, stayed green.
"""
import ast
import hashlib
import json
import re
import shlex
import struct
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

from engine.checkpoint import corpus_fingerprint
from engine.checkpoint_file import DTYPES, safetensors_bytes

REPO = Path(__file__).resolve().parents[1]
OWN = {"engine", "tui", "assets"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_normal(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


# ----------------------------------------------------------------- numpy out ----

@pytest.mark.parametrize("tokens", [[0, 1, 2, 3], list(range(30_000)), [5] * 17, [2**31 - 1, 0]])
def test_corpus_fingerprint_is_the_sha1_of_little_endian_int32_tokens(tokens):
    expected = hashlib.sha1(struct.pack(f"<{len(tokens)}i", *tokens)).hexdigest()  # as checkpoints recorded it
    assert corpus_fingerprint(tokens) == expected
    assert corpus_fingerprint(torch.tensor(tokens)) == expected


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_safetensors_written_without_numpy_read_back_by_safetensors_itself(dtype, shape):
    generator = torch.Generator().manual_seed(0)
    tensor = (torch.randn(shape, generator=generator) * 100).to(dtype)
    other = torch.arange(6, dtype=torch.float32)[1::2]  # a strided view: written as its own values
    data = safetensors_bytes({"t": tensor, "view": other}, {"note": "x"})
    loaded = safetensors.torch.load(data)  # safetensors' own parser checks every offset
    assert loaded["t"].dtype == dtype and loaded["t"].shape == tensor.shape and torch.equal(loaded["t"], tensor)
    assert torch.equal(loaded["view"], torch.tensor([1.0, 3.0, 5.0]))
    size = int.from_bytes(data[:8], "little")
    assert json.loads(data[8:8 + size])["__metadata__"] == {"note": "x"} and size % 8 == 0  # tensors 8-aligned


NO_NUMPY = textwrap.dedent("""
    import sys
    sys.modules["numpy"] = None  # as in a new venv: `import numpy` raises ImportError
    sys.path.insert(0, {tests!r})
    import asyncio
    from tui.cli import main

    corpus, ckpt = {corpus!r}, {ckpt!r}
    tiny = ["--hidden", "8", "--steps", "5", "--batch", "4", "--device", "cpu"]
    steps = [
        ["train", "--corpus", corpus, *tiny, "--epochs", "2", "--save", ckpt],
        ["train", "--resume", ckpt, "--epochs", "3"],
        ["generate", "--checkpoint", ckpt, "--chars", "20"],
        ["stats", "--corpus", corpus],
        ["forecast", "--T", "200", "--n-train", "100", "--epochs", "1", "--max-steps", "8", "--steps", "1,8",
         "--json"],
        ["compare", "--cells", "rnn", "--budget", "0.3", "--corpus", corpus, "--json"],
        ["info", "--json"],
    ]
    for argv in steps:
        code = main(argv)
        assert code == 0, (argv, code)

    from app_support import TINY, train_to_end, wait_for
    from tui.app import create_app

    async def app_save():  # train in the app, then Ctrl+S and Enter on the offered path
        app = create_app(corpus=corpus, given=TINY)
        async with app.run_test(size=(120, 40)) as pilot:
            await train_to_end(pilot, app)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.screen.query("#path-input"), what="the save dialog")
            app.screen.query_one("#path-input").value = {app_ckpt!r}
            await pilot.press("enter")
            await wait_for(pilot, lambda: not app.trainer.dirty, what="the save")

    asyncio.run(app_save())
    print("numpy imported:", sys.modules["numpy"] is not None)
""")


def test_train_save_resume_generate_and_the_apps_save_work_without_numpy(tiny_corpus, tmp_path):
    ckpt, app_ckpt = tmp_path / "run.safetensors", tmp_path / "app.safetensors"
    code = NO_NUMPY.format(tests=str(REPO / "tests"), corpus=str(tiny_corpus), ckpt=str(ckpt),
                           app_ckpt=str(app_ckpt))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=240)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert "numpy imported: False" in out.stdout
    assert "Warning" not in out.stderr  # nor torch's warning about the missing numpy
    from engine import Trainer
    assert Trainer.load(ckpt).epoch == 3 and Trainer.load(app_ckpt).epoch == 1


# ------------------------------------------------------------- declarations ----

def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(required, optional) top-level modules that ``path`` imports; optional: inside a ``try``
    whose handler catches ImportError (or ModuleNotFoundError)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    optional_nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                or isinstance(h.type, ast.Tuple) and any(getattr(e, "id", "") in ("ImportError",
                                                                                   "ModuleNotFoundError")
                                                         for e in h.type.elts)
                for h in node.handlers):
            optional_nodes.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    required, optional = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        (optional if id(node) in optional_nodes else required).update(n.split(".")[0] for n in names)
    return required, optional


def test_every_module_engine_and_tui_import_is_declared_in_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = _names(project["dependencies"])
    extras = {name: _names(reqs) for name, reqs in project.get("optional-dependencies", {}).items()}
    distributions = packages_distributions()  # import name -> the distributions that install it
    undeclared, optional_undeclared = [], []
    for package in ("engine", "tui"):
        for path in sorted((REPO / package).rglob("*.py")):
            required, optional = _imports(path)
            for module in required | optional:
                if module in sys.stdlib_module_names or module in OWN:
                    continue
                dists = {_normal(d) for d in distributions.get(module, [module])}
                where = f"{path.relative_to(REPO)}: {module}"
                if module in required and not dists & dependencies:
                    undeclared.append(where)
                elif module in optional and not dists & set().union(*extras.values()):
                    optional_undeclared.append(where)
    assert undeclared == [], "imported but not in [project] dependencies"
    assert optional_undeclared == [], "optional imports must be in an extra of [project.optional-dependencies]"


def test_the_import_walk_sees_imports_in_functions_and_tells_optional_ones(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("import os\nfrom torch import nn\ndef f():\n    import numpy as np\n"
                      "try:\n    import atheris\nexcept ImportError:\n    atheris = None\n")
    assert _imports(source) == ({"os", "torch", "numpy"}, {"atheris"})


# ------------------------------------------------------------------------ CI ----

def _readme_commands() -> tuple[str, str, str]:
    """The README's venv line, run line and test line (the three indented commands of Quickstart)."""
    quickstart = (REPO / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quickstart.splitlines() if line.startswith("    ")]
    return tuple(commands[:3])


def test_ci_runs_the_readmes_test_command_in_a_virtual_environment_made_afresh():
    venv, run, test = _readme_commands()
    assert venv == "python3 -m venv .venv && . .venv/bin/activate"
    assert run == "pip install torch==2.13.0 && pip install -e . && rnnplay"
    assert test == 'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest'
    script = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    order = [script.index(line) for line in ('VENV=.ci/venv', 'rm -rf "$VENV"', 'python3 -m venv "$VENV"',
                                             '. "$VENV/bin/activate"', test)]
    assert order == sorted(order)  # deleted, made, activated, then the README's command inside it
    assert script[-1] == test
    ignored = subprocess.run(["git", "check-ignore", "-q", ".ci/venv/bin/python"], cwd=REPO)
    assert ignored.returncode == 0, ".ci/venv must be git-ignored"
    assert "--no-cache-dir" not in " ".join(script) and "PIP_NO_CACHE_DIR" not in " ".join(script)
    assert shlex.split(test)[:3] == ["pip", "install", "torch==2.13.0"]
