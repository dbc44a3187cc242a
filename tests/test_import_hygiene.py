"""The engine is a plain PyTorch library: importing all of it loads no UI toolkit."""
import subprocess
import sys
from pathlib import Path

import engine

ENGINE_DIR = Path(engine.__file__).parent


def test_engine_never_imports_textual_or_rich():
    modules = sorted(p.stem for p in ENGINE_DIR.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module('engine.' + m)\n"
        "import engine\n"
        "[getattr(engine, n) for n in engine.__all__]\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'tui'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported UI modules: {out.stdout.strip()}"


def test_engine_sources_have_no_ui_imports():
    offenders = [
        f"{p.name}:{n}" for p in ENGINE_DIR.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if line.strip().startswith(("import textual", "from textual", "import rich", "from rich",
                                    "import tui", "from tui"))
    ]
    assert offenders == []
