#!/usr/bin/env bash
# The README's main-job command: the real node, fed over DDS by the shipped bag of real frames,
# writes the processed bag and a side-by-side picture to ./out/demo (override with --out DIR).
# Default: haze at 150 m with depth inferred by the shipped model, dehazed by the model; the picture
# is input | flat road | learned depth | dehazed (model).
#   ./scripts/demo.sh [--mode dehaze|haze] [--depth-source model|flat_road] [--visibility M]
#                     [--dehaze-backend model|dcp] [--model PATH] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
source scripts/env.sh
exec haze_demo "$@"
