#!/usr/bin/env bash
# The README's test command: set up the venvs if needed, then run the whole suite.
#   ./scripts/test.sh [pytest args]       e.g. ./scripts/test.sh -k physics
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
source scripts/env.sh
exec python -m pytest test "$@"
