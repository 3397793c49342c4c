"""Make a shippable model from a training checkpoint: generator weights only, no optimiser state.

``python -m haze_ros.training.release runs/edge/checkpoints/best models/edge [--t0 T] [--map-lowpass]``

``--t0`` sets the physics generator's recomposition floor t0 of J = (I − A)/max(t, t0) + A for
inference (it is an inference-time constant: the weights do not depend on it); the model card says
which value was chosen and on what data. ``--map-lowpass`` switches on the fixed binomial low-pass
of the map decoders (``NetworkConfig.map_lowpass``; no weights either).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Optional

from haze_ros.networks.config import canonical_preset
from haze_ros.networks.loading import CheckpointError, load_checkpoint_tensors, network_config_of
from haze_ros.training.checkpoint import save_checkpoint


def release_checkpoint(source: Path, target_stem: Path, t0: Optional[float] = None,
                       map_lowpass: Optional[bool] = None) -> Path:
    """Copy ``vae.*`` tensors and the metadata of ``source`` to ``target_stem.{safetensors,json}``.

    ``t0`` (physics generator only, in (0, 1)) replaces the architecture's recomposition floor;
    ``map_lowpass`` (physics only) its map low-pass switch; None keeps the checkpoint's. An
    architecture equal to a preset (but for those two) is recorded under the preset's name.
    """
    meta, tensors = load_checkpoint_tensors(source)
    network = network_config_of(meta)
    changes = {}
    if t0 is not None:
        changes["t0"] = float(t0)
    if map_lowpass is not None:
        changes["map_lowpass"] = bool(map_lowpass)
    if changes:
        if not network.is_physics:
            raise ValueError(f"{', '.join(changes)} apply to the physics generator only")
        network = dataclasses.replace(network, **changes)  # validated in __post_init__
    network = canonical_preset(network)  # e.g. a run of edge.yaml from before the preset was updated
    generator = {k: v for k, v in tensors.items() if k.startswith("vae.")}
    metrics = dict(meta["metrics"])
    extra = meta.get("optimizer_meta", {})
    if "elapsed_s" in extra:
        metrics["train/elapsed_s"] = float(extra["elapsed_s"])
    return save_checkpoint(target_stem, generator, network, step=meta["step"],
                           metrics=metrics, training=meta["training"])


def main(argv=None) -> int:
    """CLI: ``release SOURCE TARGET_STEM``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="training checkpoint (either file of the pair or the stem)")
    parser.add_argument("target", type=Path, help="output stem, e.g. models/edge")
    parser.add_argument("--t0", type=float, default=None,
                        help="physics generator: recomposition floor t0 for inference, in (0, 1)")
    parser.add_argument("--map-lowpass", action="store_true", default=None,
                        help="physics generator: switch on the maps' fixed binomial low-pass")
    args = parser.parse_args(argv)
    try:
        print(release_checkpoint(args.source, args.target, args.t0, args.map_lowpass))
    except (CheckpointError, ValueError) as exc:  # nothing is written before the checks pass
        print(f"release: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
