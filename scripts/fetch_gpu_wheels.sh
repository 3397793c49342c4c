#!/usr/bin/env bash
# Download the small pure-Python wheels scripts/gpu_check.sh needs on a machine without registry
# access (pytest, pytest-timeout, safetensors) into ./.whl (git-ignored). Run where PyPI is reachable,
# then carry .whl with the checkout.   Usage: scripts/fetch_gpu_wheels.sh [PYTHON_VERSION, default 3.11]
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${1:-3.11}
python3 -m pip download -q --only-binary :all: --python-version "$PYVER" --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 -d .whl "pytest<9" pytest-timeout safetensors
ls -l .whl
