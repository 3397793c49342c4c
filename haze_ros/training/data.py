"""Training and validation data following the paper's recipe (Sec. 4.1.1), split by FRIDA2 scene.

Hazy domain X_I: FRIDA2 clear + depth of the training scenes → I = J·t + A·(1 − t) by eq. (1)
(``haze_ros.physics.scattering.synthesize_haze``), t = exp(−β·d / 100 m), A ~ U[0.8, 1.0] per
channel, β ~ U[0.8, 1.6] drawn freshly for every sample; plus real hazy photos (DAWN fog) with
probability ``real_probability``. Clear domain X_J: FRIDA2 clear images of the training scenes plus
real clear frames (Udacity) with the same probability. Real images follow the held-out split of
both presets (``udacity_files``: ``data.udacity_train_folders`` only, so ``frames/test_video``
stays out; ``dawn_split``: every ``data.dawn_test_every``-th DAWN photo stays out). The two domain
samples of an iteration are independent (unpaired, as the paper) unless ``paired_fraction`` > 0
asks for synthetic pairs.
All arrays here are float32 RGB in [0, 1]; random crops for training, full frames for validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch

from haze_ros.core.image_files import read_rgb8
from haze_ros.physics.scattering import synthesize_haze
from haze_ros.training.config import DataConfig

LOG = logging.getLogger(__name__)
FRIDA_DEPTH_SCALE_M = 0.01  # depth_cm_uint16: metres = value / 100
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Sample:
    """One training pair: ``hazy`` and ``clear`` ``(3, c, c)`` float32 in [0, 1]; ``paired`` if same scene."""

    hazy: np.ndarray
    clear: np.ndarray
    paired: bool


@dataclass
class ValidationImage:
    """A held-out full frame: synthetic ``hazy`` (the physics reference) and ``clear``, CHW [0, 1]."""

    name: str
    hazy: np.ndarray
    clear: np.ndarray


def read_frida_scene(root: Path, scene: int) -> Tuple[np.ndarray, np.ndarray]:
    """FRIDA2 scene ``scene``: clear ``(H, W, 3)`` float32 [0, 1] and depth ``(H, W)`` float32 metres."""
    clear = read_rgb8(root / "frida2" / "clear" / f"LIma-{scene:06d}.png").astype(np.float32) / 255.0
    depth_raw = cv2.imread(str(root / "frida2" / "depth_cm_uint16" / f"LDep-{scene:06d}.png"),
                           cv2.IMREAD_UNCHANGED)
    if depth_raw is None or depth_raw.dtype != np.uint16 or depth_raw.shape != clear.shape[:2]:
        raise ValueError(f"FRIDA2 scene {scene}: missing or malformed depth map")
    return clear, depth_raw.astype(np.float32) * FRIDA_DEPTH_SCALE_M


def synthesize_random_haze(clear: np.ndarray, depth_m: np.ndarray, cfg: DataConfig,
                           rng: np.random.Generator) -> np.ndarray:
    """Apply eq. (1) with fresh A ~ U(airlight_range)^3, β ~ U(beta_range) / beta_unit_m; float32 [0, 1]."""
    airlight = rng.uniform(*cfg.airlight_range, size=3)
    beta_per_m = rng.uniform(*cfg.beta_range) / cfg.beta_unit_m
    return synthesize_haze(clear, depth_m, beta_per_m, tuple(float(a) for a in airlight)).astype(np.float32)


def udacity_files(root: Path, folders: Sequence[str]) -> List[Path]:
    """Udacity images under ``root/udacity_clear_highway/<folder>`` for each folder (sorted)."""
    files = []
    for folder in folders:
        files += sorted(p for p in (root / "udacity_clear_highway" / folder).rglob("*")
                        if p.suffix.lower() in IMAGE_SUFFIXES)
    return files


def dawn_split(root: Path, test_every: int) -> Tuple[List[Path], List[Path]]:
    """DAWN fog photos split by index: ``(train, test)``; every ``test_every``-th image is test."""
    files = sorted(p for p in (root / "dawn_fog").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    test = files[::test_every]
    return [p for p in files if p not in test], test


def _load_real(files: Sequence[Path], width: int, min_side: int, what: str) -> List[np.ndarray]:
    """8-bit RGB images of ``files``, resized to ``width`` (at least ``min_side`` on each side)."""
    images = []
    for path in files:
        rgb = read_rgb8(path)
        scale = max(width / rgb.shape[1], min_side / min(rgb.shape[:2]))
        size = (max(min_side, round(rgb.shape[1] * scale)), max(min_side, round(rgb.shape[0] * scale)))
        images.append(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    if not images:
        raise ValueError(f"no {what} images found")
    return images


class HazeTrainingData:
    """In-memory training pools and the sampler of unpaired (or paired) crops. ``root``: ../shared/data."""

    def __init__(self, cfg: DataConfig, root: Path) -> None:
        self.cfg = cfg
        self.scenes = [read_frida_scene(root, s) for s in cfg.train_scenes]
        # the same held-out split as the physics generator's (Udacity frames/test_video, every
        # dawn_test_every-th DAWN photo): never in either preset's training pools
        self.real_clear = _load_real(udacity_files(root, cfg.udacity_train_folders), cfg.real_width, cfg.crop,
                                     "Udacity (data.udacity_train_folders)") if cfg.real_clear else []
        self.real_hazy = _load_real(dawn_split(root, cfg.dawn_test_every)[0], cfg.real_width, cfg.crop,
                                    "DAWN training") if cfg.real_hazy else []
        LOG.info("training data: %d FRIDA2 scenes, %d real clear, %d real hazy images",
                 len(self.scenes), len(self.real_clear), len(self.real_hazy))

    def sample(self, rng: np.random.Generator) -> Sample:
        """One (hazy, clear) pair of ``crop × crop`` crops, CHW float32 [0, 1], randomly flipped."""
        cfg = self.cfg
        if rng.random() < cfg.paired_fraction:
            clear, depth = self._frida_crop(rng)
            hazy = synthesize_random_haze(clear, depth, cfg, rng)
            flip = rng.random() < 0.5
            return Sample(_chw(hazy, flip), _chw(clear, flip), True)
        if self.real_hazy and rng.random() < cfg.real_probability:
            hazy = self._real_crop(self.real_hazy, rng)
        else:
            hazy = synthesize_random_haze(*self._frida_crop(rng), cfg, rng)
        if self.real_clear and rng.random() < cfg.real_probability:
            clear = self._real_crop(self.real_clear, rng)
        else:
            clear = self._frida_crop(rng)[0]
        return Sample(_chw(hazy, rng.random() < 0.5), _chw(clear, rng.random() < 0.5), False)

    def batch(self, rng: np.random.Generator, size: int):
        """``(hazy, clear, paired)`` of ``size`` samples: the arguments of ``Trainer.train_step``."""
        return split_batch([self.sample(rng) for _ in range(size)])

    def _frida_crop(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        clear, depth = self.scenes[rng.integers(len(self.scenes))]
        y, x = _crop_origin(clear.shape, self.cfg.crop, rng)
        c = self.cfg.crop
        return clear[y:y + c, x:x + c], depth[y:y + c, x:x + c]

    def _real_crop(self, pool: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        image = pool[rng.integers(len(pool))]
        y, x = _crop_origin(image.shape, self.cfg.crop, rng)
        return image[y:y + self.cfg.crop, x:x + self.cfg.crop].astype(np.float32) / 255.0


def _crop_origin(shape, crop: int, rng: np.random.Generator) -> Tuple[int, int]:
    if shape[0] < crop or shape[1] < crop:
        raise ValueError(f"image {shape[:2]} smaller than the crop {crop}")
    return int(rng.integers(shape[0] - crop + 1)), int(rng.integers(shape[1] - crop + 1))


def _chw(image: np.ndarray, flip: bool) -> np.ndarray:
    if flip:
        image = image[:, ::-1]
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


def validation_images(cfg: DataConfig, root: Path, seed: int) -> List[ValidationImage]:
    """Full-frame validation pairs of the ``val_scenes``: ``val_haze_draws`` fixed-seed haze draws each."""
    images = []
    for scene in cfg.val_scenes:
        clear, depth = read_frida_scene(root, scene)
        for draw in range(cfg.val_haze_draws):
            rng = np.random.default_rng([seed, scene, draw])
            hazy = synthesize_random_haze(clear, depth, cfg, rng)
            images.append(ValidationImage(f"scene{scene:02d}_draw{draw}", _chw(hazy, False),
                                          _chw(clear, False)))
    return images[:cfg.val_max_images]


def split_batch(samples: Sequence[Sample]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack :class:`Sample` s into hazy, clear ``(B, 3, c, c)`` tensors and paired ``(B,)`` bools."""
    hazy = torch.stack([torch.from_numpy(s.hazy) for s in samples])
    clear = torch.stack([torch.from_numpy(s.clear) for s in samples])
    paired = torch.tensor([s.paired for s in samples], dtype=torch.bool)
    return hazy, clear, paired
