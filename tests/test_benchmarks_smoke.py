"""The benchmark suite's code paths at tiny sizes on the CPU: structure only, never timings."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--device", "cpu", "--hidden", "16", "--threads", "1", "--repeats", "1", "--window", "2",
        "--epoch-hidden", "16", "--epoch-threads", "1", "--epoch-repeats", "1", "--max-tokens", "3000",
        "--gen-hidden", "16", "--gen-chars", "60", "--budget", "0.5"]
HAS_REFERENCES = (Path(os.environ.get("RNNPLAY_SHARED_DIR", REPO.parent / "shared")) / "bench"
                  / "tm_common.py").is_file()


def run(args, timeout=120):
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_run_all_writes_one_table_and_the_json(timemachine, tmp_path):
    out_file = tmp_path / "results.json"
    stdout = run([sys.executable, "-m", "benchmarks.run_all", *TINY, "--json-out", str(out_file)])
    results = json.loads(out_file.read_text())
    assert results["table"] in stdout
    candidates = {"scratch", "rnnplay"} | ({"d2l", "nn_rnn"} if HAS_REFERENCES else set())
    for section in ("sweep", "epoch"):
        (cell,) = results[section]
        assert cell["hidden"] == 16 and cell["threads"] == 1 and cell["batch"] == 32
        assert set(cell["tokens_per_sec"]) == candidates
        assert all(rate > 0 for rate in cell["tokens_per_sec"].values())
        if HAS_REFERENCES:
            assert {"rnnplay/d2l", "rnnplay/nn_rnn", "scratch/d2l"} <= set(cell["ratios"])
    assert results["sweep"][0]["mode"] == "2 minibatches" and results["epoch"][0]["mode"] == "epoch"
    (gen,) = results["generation"]
    assert set(gen["us_per_char"]) == set(gen["first_char_ms"]) >= {"lean", "rnnplay"}
    assert all(v > 0 for v in gen["us_per_char"].values())
    assert results["memory"]["peak_rss_mb"] > 50 and results["memory"]["hidden"] == 16
    assert results["convergence"]["epochs_done"] >= 1 and results["convergence"]["curve"]
    if HAS_REFERENCES:  # same weights, same minibatches: the same losses as plain autograd
        assert all(d < 1e-4 for d in results["check"]["max_abs_loss_difference"].values())
    assert "Training tokens/s" in stdout and "Greedy generation" in stdout and "Peak RSS" in stdout


def test_generation_times_the_gated_cells_at_their_app_depth(timemachine, one_thread):
    from benchmarks.generation import measure
    from engine.config import CELL_DEFAULTS

    for cell in ("gru", "lstm"):
        row = measure(hidden=16, threads=1, num_chars=3, repeats=1, timer="cpu", cell=cell)
        assert (row["cell"], row["layers"], row["embed"]) == (cell, CELL_DEFAULTS[cell]["layers"],
                                                              CELL_DEFAULTS[cell]["embed"])
        assert set(row["us_per_char"]) == set(row["first_char_ms"]) == {"rnnplay"}
        assert row["us_per_char"]["rnnplay"] > 0 and row["first_char_ms"]["rnnplay"] > 0


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_gpu_check_script_runs_on_the_cpu(timemachine, tmp_path):
    out_file = tmp_path / "gpu.json"
    stdout = run(["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--quick", "--json-out", str(out_file)])
    assert json.loads(out_file.read_text())["machine"]["device"] == "cpu"
    assert "CUDA available" in stdout
    assert "rnnplay/cudnn" in stdout and "scratch/cudnn" in stdout


def test_sweep_runs_every_experiment_hook_and_prints_the_table(timemachine, tmp_path):
    base = {"cell": "lstm", "hidden": 8, "steps": 8, "batch": 4, "max_tokens": 4000}
    hooks = [{}, {"ema": 0.9}, {"input_dropout": 0.2}, {"weight_drop": 0.2}, {"locked": True},
             {"embed_dropout": 0.3}, {"blank": 0.1}]
    jobs = [{"name": f"job{i}", "tokens": 3000, "config": base, **hook} for i, hook in enumerate(hooks)]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"corpus": str(timemachine), "jobs": jobs}))
    log = tmp_path / "epochs.jsonl"
    stdout = run([sys.executable, "-m", "benchmarks.sweep", str(plan), "--queue", str(tmp_path / "queue"),
                  "--workers", "2", "--threads", "1", "--log", str(log)])
    records = [json.loads(line) for line in log.read_text().splitlines()]
    results = {r["job"]: r for r in records if "best_val" in r}
    assert not [r for r in records if "error" in r]
    assert set(results) == {job["name"] for job in jobs}
    assert all(r["finished"] and 1 < r["best_val"] < 28 for r in results.values())
    assert all(f"job{i}" in stdout for i in range(len(jobs))) and "best val" in stdout


def test_cells_prints_every_cell_against_its_twin_and_the_roofline():
    stdout = run([sys.executable, "-m", "benchmarks.cells", "--quick", "--isa", "native", "--json"])
    result = json.loads(stdout.strip().splitlines()[-1])
    machine = result["machine"]
    assert machine["capability"] and machine["kernels"] in ("onednn", "portable") and machine["onednn_isa"]
    assert machine["matmul_32x512x512_gflops"]["1"] > 0
    assert [row["cell"] for row in result["rows"]] == ["rnn", "gru", "lstm"]
    for row in result["rows"]:
        assert row["hidden"] == 16 and row["threads"] == 1 and row["clock"] == "wall"
        assert row["ratio"] == pytest.approx(row["scratch_tok_s"] / row["torch_tok_s"])
        assert row["share"] == pytest.approx(row["scratch_tok_s"] / row["roofline_tok_s"])


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_the_roofline_counts_the_multiply_adds_of_a_training_step(cell, gates):
    from benchmarks.roofline import step_products

    B, T, H, V = 32, 64, 256, 28
    per_step, once = step_products(cell, H, B, T, V)
    macs = T * sum(r * k * c for r, k, c in per_step) + sum(r * k * c for r, k, c in once)
    # per step: state x hidden weights forward, gradient x their transpose back; after the loop the
    # hidden weights' gradient; the output layer's forward, input gradient and weight gradient
    assert macs == T * 2 * B * H * gates * H + H * T * B * gates * H + 3 * T * B * H * V


@pytest.mark.slow
def test_large_corpus_measures_every_command(timemachine):
    stdout = run([sys.executable, "-m", "benchmarks.large_corpus", "--size-mb", "0.3", "--hidden", "16",
                  "--train-seconds", "0.5"], timeout=300)
    result = json.loads(stdout)
    assert result["text_mb"] == pytest.approx(0.3, abs=0.01) and result["hidden"] == 16
    for command in ("prepare", "stats"):
        assert result[command]["seconds"] > 0 and result[command]["peak_rss_mb"] > 50
    assert 0 < result["train_start_seconds"] and result["train"]["peak_rss_mb"] > 50


def test_ddp_throughput_prints_the_three_setups_and_their_ratios(timemachine):
    out = run([sys.executable, "-m", "benchmarks.ddp_throughput", "--repeats", "1", "--window", "1", "--hidden",
               "8", "--batch", "4", "--steps", "5", "--max-tokens", "3000"])
    machine, setting, line = out.splitlines()
    assert json.loads(machine)["cores"] >= 1 and "global batch 4 x 5 steps" in setting
    assert line.startswith("2 processes x 1 thread:") and "1 process x 2 threads:" in line and "ratio" in line
