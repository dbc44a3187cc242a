"""benchmarks/inspect_speed.py at a tiny size: structure only, never timings."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_inspect_speed_prints_every_view_and_the_json(timemachine):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.inspect_speed", "--hidden", "16", "--tokens", "60",
                           "--repeats", "1", "--word-vocab", "50", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    views = {"fused forward (reference)", "read_text", "rank_units", "gate_saturation",
             "saliency_of (from the reading)", "saliency (reads the text first)",
             "everything (read, rank, saturation, saliency)"}
    for kind in ("char", "word"):
        assert set(results[kind]) == views
        assert all(t["wall_s"] >= 0 and t["cpu_s"] >= 0 for t in results[kind].values())
    assert results["machine"]["cpu"] and "load average" in proc.stdout and "everything" in proc.stdout
