#!/usr/bin/env bash
# The held-out evaluation of the model card and the README, in one command.
#   scripts/evaluate_models.sh [OUT_DIR] [KL_CHECKPOINT [PAPER_CHECKPOINT]]
# Rows: the shipped models/edge, the KL ablation and the paper preset when given (they are not
# shipped; the paper preset, 11 M parameters, only on the 640x480 FRIDA2 tables: on 2.4 MP DDAD
# frames it takes minutes per frame on a CPU), DCP and the hazy input itself.
# Held-out data only (never trained on nor selected on):
#   FRIDA2 scenes 45-66 (Table 1 protocol, U080 and K080 renderer fog), DDAD scene_02 (LiDAR),
#   DAWN images 0, 5, 10, ... (no reference: pictures). Needs ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
OUT=${1:-docs/evaluation}
shift || true
DATA=../shared/data
EDGE=(--model models/edge.safetensors --label edge)
[ $# -ge 1 ] && EDGE+=(--model "$1" --label "edge, KL ablation")
MODELS=("${EDGE[@]}")
[ $# -ge 2 ] && MODELS+=(--model "$2" --label "paper preset")
run() { echo "+ haze_eval $*" >&2; haze_eval --no-progress "$@"; }

run "${MODELS[@]}" --clear $DATA/frida2/clear --depth $DATA/frida2/depth_cm_uint16 --depth-scale 0.01 \
    --scenes 45-66 --seed 0 --report "$OUT/frida2_test_synthetic"
run "${MODELS[@]}" --hazy $DATA/frida2/fog_U080_homogeneous --clear $DATA/frida2/clear --scenes 45-66 \
    --report "$OUT/frida2_test_U080"
run "${MODELS[@]}" --hazy $DATA/frida2/fog_K080_heterogeneous --clear $DATA/frida2/clear --scenes 45-66 \
    --report "$OUT/frida2_test_K080"
# DDAD scene_02 (scene_01 is in the training data): removal of eq. (1) haze made with the completed
# LiDAR depth, and conditioned synthesis scored on the LiDAR pixels against the flat-road row.
run "${EDGE[@]}" --clear $DATA/ddad_dgp/scene_02/rgb --depth $DATA/ddad_dgp/depth_projected_lidar/scene_02 \
    --depth-scale 0.00390625 --seed 0 --report "$OUT/ddad_scene02_removal"
run --model models/edge.safetensors --label edge --no-dcp --clear $DATA/ddad_dgp/scene_02/rgb \
    --depth $DATA/ddad_dgp/depth_projected_lidar/scene_02 --depth-scale 0.00390625 --seed 0 \
    --synthesis-mask measured --flat-road --flat-road-option camera_height_m=1.55 \
    --report "$OUT/ddad_scene02_lidar_synthesis"
run --model models/edge.safetensors --label edge --hazy $DATA/dawn_fog --every 5 --pictures 41 \
    --report "$OUT/dawn_heldout"
