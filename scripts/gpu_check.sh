#!/usr/bin/env bash
# GPU check in one command:  scripts/gpu_check.sh OUTDIR [OPTIONS]   (or: make gpu-check OUT=OUTDIR)
#
# Extra arguments go to haze_ros.bench.gpu_check (--test-timeout-s, --bench-budget-s, --runs).
# On a machine with a CUDA GPU whose Python already has PyTorch (CUDA), ONNX and ONNX Runtime
# (TensorRT optional; no ROS, no registry access needed): runs the GPU-marked tests and the model
# benchmark and writes OUTDIR/gpu_check.json + OUTDIR/gpu_check.md (under 10 minutes).
# Pure-Python test dependencies missing there (pytest, pytest-timeout, safetensors) are installed
# from a wheel folder carried with the checkout: $HAZE_WHEELS_DIR, default ./.whl (fill it where a
# registry is reachable with scripts/fetch_gpu_wheels.sh).
#
# Exit status: 0 passed; 1 a GPU test failed or the benchmark errored; 3 no CUDA device (the report
# says so: nothing GPU-related was checked); 2 usage / environment error.
set -uo pipefail
cd "$(dirname "$0")/.."
usage="usage: scripts/gpu_check.sh OUTDIR [--test-timeout-s S] [--bench-budget-s S] [--runs N]"
case "${1:-}" in
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; echo "$usage"; exit 0 ;;
  ""|-*) echo "$usage" >&2; exit 2 ;;
esac
mkdir -p "$1" && OUT=$(cd "$1" && pwd) || { echo "gpu_check: cannot create $1" >&2; exit 2; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2>/dev/null; then PY=.venv/bin/python
  else PY=python3; fi
fi
"$PY" -c 'import torch, numpy' 2>/dev/null || { echo "gpu_check: $PY lacks torch/numpy" >&2; exit 2; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

missing=$("$PY" - <<'PYEOF'
import importlib
for module, package in (("pytest", "pytest"), ("pytest_timeout", "pytest-timeout"), ("safetensors", "safetensors")):
    try:
        importlib.import_module(module)
    except ImportError:
        print(package)
PYEOF
)
if [ -n "$missing" ]; then
  WHEELS=${HAZE_WHEELS_DIR:-$PWD/.whl}
  if [ -d "$WHEELS" ]; then
    echo "gpu_check: installing $(echo $missing) from $WHEELS into $OUT/_pydeps" >&2
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$OUT/_pydeps" $missing \
      && export PYTHONPATH="$PYTHONPATH:$OUT/_pydeps"
  else
    echo "gpu_check: missing $(echo $missing) and no wheel folder $WHEELS; tests needing them will fail" >&2
  fi
fi
shift
exec "$PY" -m haze_ros.bench.gpu_check --out "$OUT" "$@"
