"""Issue #12, item 4: ``rnnplay --version`` and ``rnnplay info``, the lines a bug report needs."""
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import torch

from engine.sysinfo import cpu_model, usable_cpus
from tui.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_distributions_and_loads_no_torch():
    code = ("import sys\nfrom tui.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit as exit:\n"
            "    print('exit', exit.code)\nprint('torch' in sys.modules, 'textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.stdout.splitlines() == [f"rnnplay {version('rnnplay')}", "exit 0", "False False"], out.stderr


def test_info_json_holds_what_the_machine_says(timemachine, capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rnnplay"] == version("rnnplay") and info["textual"] == version("textual")
    assert info["python"].endswith(platform.python_version()) and info["torch"] == torch.__version__
    assert info["torch_build"] == (f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU")
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["torch_threads"] == torch.get_num_threads() and info["cpu_cores"] == os.cpu_count()
    assert info["usable_cores"] == len(os.sched_getaffinity(0)) == usable_cpus()
    assert len(info["cuda_devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert info["data_dir"] == os.environ["RNNPLAY_DATA_DIR"]
    assert info["checkpoint_dir"] == str(Path(os.environ["RNNPLAY_HOME"]) / "checkpoints")
    assert info["timemachine_cached"] is True  # the fixture put a verified copy there
    assert 0 < info["memory_available_gb"] < 1e5


def test_info_lines_for_a_bug_report(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"rnnplay {version('rnnplay')}"
    text = "\n".join(lines)
    build = "CUDA" if torch.version.cuda else "CPU"
    assert f"torch: {torch.__version__} ({build}" in text and f"Textual: {version('textual')}" in text
    assert f"CPU capability {torch.backends.cpu.get_cpu_capability()}" in text
    assert "The Time Machine not cached" in text and os.environ["RNNPLAY_HOME"] in text


def test_the_cpu_model_is_the_kernels():
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    assert cpu_model() == (names[0] if names else cpu_model()) and cpu_model()
