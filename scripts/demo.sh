#!/usr/bin/env bash
# The README's main-job command: the real node, fed over DDS by the shipped bag of real frames,
# writes the processed bag and a side-by-side picture to ./out/demo (override with --out DIR).
#   ./scripts/demo.sh [--mode dehaze|haze] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
source scripts/env.sh
exec haze_demo "$@"
