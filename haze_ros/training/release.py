"""Make a shippable model from a training checkpoint: generator weights only, no optimiser state.

``python -m haze_ros.training.release runs/edge/checkpoints/best models/edge``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from haze_ros.networks.loading import load_checkpoint_tensors, network_config_of
from haze_ros.training.checkpoint import save_checkpoint


def release_checkpoint(source: Path, target_stem: Path) -> Path:
    """Copy ``vae.*`` tensors and the metadata of ``source`` to ``target_stem.{safetensors,json}``."""
    meta, tensors = load_checkpoint_tensors(source)
    generator = {k: v for k, v in tensors.items() if k.startswith("vae.")}
    metrics = dict(meta["metrics"])
    extra = meta.get("optimizer_meta", {})
    if "elapsed_s" in extra:
        metrics["train/elapsed_s"] = float(extra["elapsed_s"])
    return save_checkpoint(target_stem, generator, network_config_of(meta), step=meta["step"],
                           metrics=metrics, training=meta["training"])


def main(argv=None) -> int:
    """CLI: ``release SOURCE TARGET_STEM``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="training checkpoint (either file of the pair or the stem)")
    parser.add_argument("target", type=Path, help="output stem, e.g. models/edge")
    args = parser.parse_args(argv)
    print(release_checkpoint(args.source, args.target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
