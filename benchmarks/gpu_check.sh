#!/usr/bin/env bash
# The GPU check, for a bare CUDA machine, in a few minutes: install what is missing, run the
# CUDA-marked tests (same results on CUDA and CPU; the CUDA-graph step the same as the eager one),
# then time the scratch RNN (rnnplay's Trainer, whose steps replay as one CUDA graph, the same
# Trainer eager, and RNNScratch in a bare loop) against torch.nn.RNN on cuDNN at hidden 512, batch
# 32 and 1024 (goal: rnnplay/cudnn >= 1.0 at batch 32), and the scratch cells against cuDNN's.  The engine needs only torch, platformdirs and
# safetensors (no Textual): on a machine without a package index, carry their wheels.
#
#   bash benchmarks/gpu_check.sh                      # on the GPU machine
#   bash benchmarks/gpu_check.sh --device cpu --quick # the same code paths on a CPU, tiny sizes
# Other options go to benchmarks.run_all (e.g. --json-out PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda
quick=0
passed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) passed+=("$1"); shift ;;
  esac
done
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# Keep whatever torch the machine has (a GPU image brings its CUDA build; `torch==2.13.0` may
# not exist there as a wheel for it).  The engine runs from this checkout; install only what is
# missing of what the engine, the CUDA tests and the benchmarks import.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
missing=$(python - <<'PY'
import importlib.util
print(" ".join(name for name, module in (("torch", "torch"), ("platformdirs", "platformdirs"),
      ("safetensors", "safetensors"), ("pytest", "pytest"), ("pytest-timeout", "pytest_timeout"),
      ("hypothesis", "hypothesis")) if importlib.util.find_spec(module) is None))
PY
)
if [ -n "$missing" ]; then
  echo "gpu_check: installing $missing"
  pip install -q $missing || { echo "gpu_check: could not install $missing (offline? carry their wheels)"; exit 1; }
fi
python - "$device" <<'PY'
import sys
import torch
print(f"gpu_check: torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}"
         if torch.cuda.is_available() else ""))
if sys.argv[1].startswith("cuda") and not torch.cuda.is_available():
    sys.exit("gpu_check: --device cuda but torch sees no CUDA device (use --device cpu to smoke-test)")
PY
# the test files with CUDA-marked tests; none of them needs Textual
cuda_tests=(tests/test_bptt.py tests/test_train.py tests/test_gated.py tests/test_cuda_graph.py)
if [ "$quick" = 1 ]; then
  python -m pytest -q -p no:cacheprovider -m cuda tests/test_bptt.py tests/test_cuda_graph.py
  sizes=(--hidden 16 --batch 4 8 --repeats 1 --window 2 --max-tokens 3000)
  cells=(--quick)
else
  python -m pytest -q -p no:cacheprovider -m cuda "${cuda_tests[@]}"
  sizes=(--hidden 512 --batch 32 1024 --repeats 5 --window 20)
  cells=(--hidden 256 512 --threads 0 --repeats 5 --window 5)
fi
python -m benchmarks.run_all --device "$device" --candidates cudnn scratch eager rnnplay --threads 0 \
  --skip check epoch generation memory convergence "${sizes[@]}" ${passed[@]+"${passed[@]}"}
python -m benchmarks.cells --device "$device" "${cells[@]}"
