#!/usr/bin/env bash
# Create the project's virtual environments on a fresh Debian 12 machine (idempotent).
#   .venv         runtime + tests: rclpy and messages from PyPI wheels, torch (CPU), onnx, rosbags ...
#   .venv-colcon  colcon from PyPI (needs setuptools < 70, which torch's venv cannot have)
# Re-running is cheap: a stamp keyed on the requirement files skips pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=0
command -v "$PY" >/dev/null 2>&1 || need_apt=1
if [ $need_apt = 0 ] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then need_apt=1; fi
if [ $need_apt = 1 ]; then
  echo "bootstrap: installing python3 + venv from Debian packages" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q python3 python3-venv python3-pip
  PY=python3
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "bootstrap: the ROS 2 wheels on PyPI are built for CPython 3.11; $PY is $("$PY" --version)" >&2
  exit 1
}

make_venv() {  # make_venv DIR REQUIREMENT-FILE... ; extra pip args in $EXTRA
  local dir=$1; shift
  local key; key=$(cat "$@" setup.py | sha256sum | cut -c1-16)
  [ -x "$dir/bin/python" ] || "$PY" -m venv "$dir"
  if [ ! -f "$dir/.stamp-$key" ]; then
    echo "bootstrap: installing $* into $dir (first run takes a few minutes)" >&2
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "${@/#/-r}" ${EXTRA:-}
    rm -f "$dir"/.stamp-*; touch "$dir/.stamp-$key"
  fi
}

EXTRA="" make_venv .venv requirements.txt requirements-torch.txt
# the package itself, editable, without touching the pinned dependencies
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . >/dev/null
EXTRA="" make_venv .venv-colcon requirements-colcon.txt
