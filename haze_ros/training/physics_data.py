"""Training data of the physics generator: what each kind of data allows (issue "model on eq. (1)").

Three pools, all float32 RGB in [0, 1], all split so that no test image is trained on:

* **Synthetic pairs** (FRIDA2 ``train_scenes``: clear + dense metric depth). Each sample gets a
  fresh visibility V (log-uniform in ``visibility_range_m``, β = 3/V) and airlight A, and eq. (1)
  gives the hazy image, the true t, A and d: every head has a supervised target.
* **Real clear frames** (Udacity clips/stills of ``udacity_train_folders``; DDAD scenes
  ``ddad_train_scenes`` with their sparse LiDAR depth). The model hazes them with its own depth at
  a random V and A (D4's self-augmentation) and the dehazer must give the real frame back; DDAD's
  LiDAR supervises the metric depth where it has returns. Frames of ``road_bound_folders`` (one
  camera of known geometry) also carry the flat-road **upper bound** of their depth below the
  horizon (:func:`flat_road_log_depth_bound`).
* **Real fog photos** (DAWN, every image whose index is not a multiple of ``dawn_test_every``):
  adversarial terms on the dehazed output and the re-hazing cycle.

Crops are ``crop × crop`` with origins on the ``input_stride`` grid, so that the low-resolution
targets (t and log-depth at 1/s) align with the maps the network predicts.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from haze_ros.core.image_files import read_rgb8
from haze_ros.core.types import visibility_to_beta
from haze_ros.physics.depth_free import FlatRoadGeometry, flat_road_row_depth
from haze_ros.physics.scattering import synthesize_haze, transmission_from_depth
from haze_ros.training.config import DataConfig
from haze_ros.training.data import dawn_split, read_frida_scene, udacity_files

LOG = logging.getLogger(__name__)
DDAD_DEPTH_SCALE_M = 1.0 / 256.0  # depth_projected_lidar: metres = value / 256, 0 = no return


def sample_visibility(rng: np.random.Generator, visibility_range_m: Tuple[float, float]) -> float:
    """Visibility V [m], log-uniform in ``visibility_range_m`` (β = 3/V)."""
    low, high = visibility_range_m
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_airlight(rng: np.random.Generator, base_range: Tuple[float, float],
                    tint: float) -> Tuple[float, float, float]:
    """Airlight A: a grey level ~ U(base_range) plus a per-channel tint ~ U(±tint), clipped to [0.3, 1]."""
    base = rng.uniform(*base_range)
    return tuple(float(np.clip(base + rng.uniform(-tint, tint), 0.3, 1.0)) for _ in range(3))


def low_res_log_depth(depth_m: np.ndarray, stride: int, depth_range_m: Tuple[float, float]) -> np.ndarray:
    """Mean log-depth of each ``stride × stride`` cell: ``(H, W)`` metres → ``(H/s, W/s)`` log m.

    Values are clipped to ``depth_range_m`` first; cells without a finite positive depth are NaN
    (sparse LiDAR). H and W must be multiples of ``stride``.
    """
    h, w = depth_m.shape
    valid = np.isfinite(depth_m) & (depth_m > 0)
    log_d = np.where(valid, np.log(np.clip(np.where(valid, depth_m, 1.0), *depth_range_m)), 0.0)
    cells = (h // stride, stride, w // stride, stride)
    total = log_d.reshape(cells).sum(axis=(1, 3))
    count = valid.reshape(cells).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)


def flat_road_log_depth_bound(height: int, width: int, stride: int, geometry: FlatRoadGeometry,
                              slack: float, depth_range_m: Tuple[float, float]) -> np.ndarray:
    """Upper bound of each ``stride × stride`` cell's log-depth: ``(H/s, W/s)`` log m, NaN = no bound.

    A ray through image row v below the horizon meets a flat road at d(v) = f·h / (v + 0.5 − v_h)
    (:func:`haze_ros.physics.depth_free.flat_road_row_depth`); anything it meets first (a car, a
    pole, a tree) is nearer, so d(v) bounds the depth from above whatever the pixel shows. Each
    cell takes the bound of its top row (the largest), times ``slack`` (≥ 1: room for an unknown
    pitch, a rising road, the coarse geometry). Cells at or above the horizon, and bounds beyond
    the model's far limit ``depth_range_m[1]``, are NaN (unconstrained). H, W multiples of ``stride``.
    """
    if slack < 1.0:
        raise ValueError(f"road_bound_slack must be >= 1, got {slack}")
    top_rows = flat_road_row_depth(height, geometry, width)[::stride].astype(np.float64) * slack
    bound = np.where(np.isfinite(top_rows) & (top_rows < depth_range_m[1]),
                     np.log(np.maximum(top_rows, depth_range_m[0])), np.nan)
    return np.ascontiguousarray(np.broadcast_to(bound[:, None], (height // stride, width // stride)),
                                dtype=np.float32)


@dataclass
class PhysicsBatch:
    """One training batch (torch tensors, CPU). B samples of each pool; c = crop, s = input stride.

    Attributes:
        syn_clear, syn_hazy: ``(B, 3, c, c)`` synthetic pair in [0, 1] (eq. (1) with the fields below).
        syn_t: ``(B, 1, c, c)`` true transmission in [0, 1].
        syn_log_depth: ``(B, 1, c/s, c/s)`` true log-depth [log m] (cell means).
        syn_beta: ``(B, 1)`` β [1/m]; syn_airlight: ``(B, 3)`` A in [0, 1].
        real_clear: ``(B, 3, c, c)`` real clear frames; real_log_depth: ``(B, 1, c/s, c/s)`` LiDAR
            log-depth, NaN where unknown (all NaN for frames without LiDAR); real_log_bound:
            ``(B, 1, c/s, c/s)`` flat-road upper bound of the log-depth, NaN where none.
        real_hazy: ``(B, 3, c, c)`` real fog photos.
        aug_beta: ``(B, 1)``, aug_airlight: ``(B, 3)``: the random haze of the self-augmentation.
    """

    syn_clear: torch.Tensor
    syn_hazy: torch.Tensor
    syn_t: torch.Tensor
    syn_log_depth: torch.Tensor
    syn_beta: torch.Tensor
    syn_airlight: torch.Tensor
    real_clear: torch.Tensor
    real_log_depth: torch.Tensor
    real_log_bound: torch.Tensor
    real_hazy: torch.Tensor
    aug_beta: torch.Tensor
    aug_airlight: torch.Tensor

    def to(self, device: torch.device) -> "PhysicsBatch":
        """The same batch on ``device``."""
        return PhysicsBatch(**{k: v.to(device) for k, v in vars(self).items()})


@dataclass
class _RealFrame:
    rgb: np.ndarray        # (H, W, 3) float32 [0, 1], H, W multiples of the stride
    depth_maps: np.ndarray  # (H/s, W/s, 2) log m: [..., 0] LiDAR depth, [..., 1] flat-road bound; NaN = none


def _resize_to_width(rgb: np.ndarray, width: int, stride: int, min_side: int) -> np.ndarray:
    scale = max(width / rgb.shape[1], min_side / min(rgb.shape[:2]))
    w = max(min_side, int(round(rgb.shape[1] * scale)) // stride * stride)
    h = max(min_side, int(round(rgb.shape[0] * scale)) // stride * stride)
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def _sparse_depth_resized(raw: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    """Sparse uint16 LiDAR depth (1/256 m, 0 = none) → metres at ``size_hw`` (nearest return, NaN = none)."""
    depth = np.where(raw > 0, raw.astype(np.float32) * DDAD_DEPTH_SCALE_M, np.nan).astype(np.float32)
    h, w = size_hw
    ys, xs = np.nonzero(np.isfinite(depth))
    out = np.full((h, w), np.nan, np.float32)
    ty = np.minimum((ys * h) // depth.shape[0], h - 1)
    tx = np.minimum((xs * w) // depth.shape[1], w - 1)
    order = np.argsort(-depth[ys, xs])  # nearest return wins: write far first, near last
    out[ty[order], tx[order]] = depth[ys, xs][order]
    return out


def ddad_pairs(root: Path, scenes: Sequence[int]) -> List[Tuple[Path, Path]]:
    """(rgb, projected LiDAR depth) pairs of the DDAD scenes (numbers, e.g. 1 → ``scene_01``)."""
    pairs = []
    for scene in scenes:
        name = f"scene_{scene:02d}"
        for rgb in sorted((root / "ddad_dgp" / name / "rgb").glob("*/*.jpg")):
            depth = root / "ddad_dgp" / "depth_projected_lidar" / name / rgb.parent.name / (rgb.stem + ".png")
            if depth.is_file():
                pairs.append((rgb, depth))
    return pairs


class PhysicsTrainingData:
    """In-memory pools and the batch sampler of the physics generator. ``root``: ../shared/data."""

    def __init__(self, cfg: DataConfig, root: Path, stride: int, depth_range_m: Tuple[float, float]) -> None:
        self.cfg, self.stride, self.depth_range_m = cfg, stride, depth_range_m
        if cfg.crop % (4 * stride):
            raise ValueError(f"data.crop {cfg.crop} must be a multiple of 4 x input_stride = {4 * stride}")
        unknown = set(cfg.road_bound_folders) - set(cfg.udacity_train_folders)
        if unknown:
            raise ValueError(f"data.road_bound_folders {sorted(unknown)} are not among "
                             "data.udacity_train_folders")
        if cfg.road_bound_folders and not 0.0 < cfg.road_horizon_frac < 1.0:
            raise ValueError(f"data.road_horizon_frac must be in (0, 1), got {cfg.road_horizon_frac}")
        self.scenes = []
        for scene in cfg.train_scenes:
            clear, depth = read_frida_scene(root, scene)
            self.scenes.append((clear, depth, low_res_log_depth(depth, stride, depth_range_m)))
        self.real_clear: List[_RealFrame] = []
        bounded = [root / "udacity_clear_highway" / folder for folder in cfg.road_bound_folders]
        for path in udacity_files(root, cfg.udacity_train_folders):
            rgb = _resize_to_width(read_rgb8(path), cfg.real_width, stride, cfg.crop)
            in_bounded = any(folder in path.parents for folder in bounded)
            bound = self._road_bound(rgb.shape[:2]) if in_bounded else None
            self.real_clear.append(self._real_frame(rgb, None, bound))
        for rgb_path, depth_path in ddad_pairs(root, cfg.ddad_train_scenes):
            rgb = _resize_to_width(read_rgb8(rgb_path), cfg.real_width, stride, cfg.crop)
            raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
            if raw is None or raw.dtype != np.uint16:
                raise ValueError(f"{depth_path}: expected a uint16 depth PNG")
            depth = _sparse_depth_resized(raw, rgb.shape[:2])
            lidar = low_res_log_depth(depth, stride, depth_range_m)
            self.real_clear.append(self._real_frame(rgb, lidar, None))
        train_dawn, _test = dawn_split(root, cfg.dawn_test_every)
        self.real_hazy = [_resize_to_width(read_rgb8(p), cfg.real_width, stride, cfg.crop).astype(np.float32)
                          / 255.0 for p in train_dawn]
        if not (self.scenes and self.real_clear and self.real_hazy):
            raise ValueError("physics training needs FRIDA2 scenes, real clear frames and DAWN photos")
        LOG.info("physics training data: %d FRIDA2 scenes, %d real clear (%d with LiDAR, %d with the "
                 "flat-road bound), %d real hazy", len(self.scenes), len(self.real_clear),
                 sum(bool(np.isfinite(f.depth_maps[..., 0]).any()) for f in self.real_clear),
                 sum(bool(np.isfinite(f.depth_maps[..., 1]).any()) for f in self.real_clear),
                 len(self.real_hazy))

    def _road_bound(self, size_hw: Tuple[int, int]) -> np.ndarray:
        """Flat-road log-depth bound of a ``road_bound_folders`` frame of ``size_hw`` (at 1/s)."""
        cfg = self.cfg
        geometry = FlatRoadGeometry(camera_height_m=cfg.road_camera_height_m, hfov_deg=cfg.road_hfov_deg,
                                    horizon_row=cfg.road_horizon_frac * size_hw[0])
        return flat_road_log_depth_bound(size_hw[0], size_hw[1], self.stride, geometry,
                                         cfg.road_bound_slack, self.depth_range_m)

    def _real_frame(self, rgb_uint8: np.ndarray, log_depth: Optional[np.ndarray],
                    log_bound: Optional[np.ndarray]) -> _RealFrame:
        h, w = rgb_uint8.shape[0] // self.stride, rgb_uint8.shape[1] // self.stride
        none = np.full((h, w), np.nan, np.float32)
        maps = np.stack([none if log_depth is None else log_depth,
                         none if log_bound is None else log_bound], -1)
        return _RealFrame(rgb_uint8.astype(np.float32) / 255.0, maps)

    # ------------------------------------------------------------------ sampling
    def batch(self, rng: np.random.Generator, size: int) -> Tuple[PhysicsBatch]:
        """``(PhysicsBatch,)`` of ``size`` samples per pool (a 1-tuple: ``Trainer.train_step(*batch)``)."""
        fields = {name: [] for name in PhysicsBatch.__dataclass_fields__}
        for _ in range(size):
            for name, value in self._synthetic(rng).items():
                fields[name].append(value)
            rgb, maps = self._real_clear_crop(rng)
            fields["real_clear"].append(rgb)
            fields["real_log_depth"].append(maps[0:1])
            fields["real_log_bound"].append(maps[1:2])
            fields["real_hazy"].append(self._crop(self.real_hazy[rng.integers(len(self.real_hazy))], rng)[0])
            beta = visibility_to_beta(sample_visibility(rng, self.cfg.visibility_range_m))
            fields["aug_beta"].append(np.array([beta], np.float32))
            fields["aug_airlight"].append(np.array(sample_airlight(rng, self.cfg.airlight_base_range,
                                                                   self.cfg.airlight_tint), np.float32))
        return (PhysicsBatch(**{k: torch.from_numpy(np.stack(v)) for k, v in fields.items()}),)

    def _synthetic(self, rng: np.random.Generator) -> dict:
        clear, depth, log_depth = self.scenes[rng.integers(len(self.scenes))]
        (clear_c, depth_c), (log_c,) = self._crop_pair(clear, depth, log_depth, rng)
        beta = visibility_to_beta(sample_visibility(rng, self.cfg.visibility_range_m))
        airlight = sample_airlight(rng, self.cfg.airlight_base_range, self.cfg.airlight_tint)
        hazy = synthesize_haze(clear_c, depth_c, beta, airlight).astype(np.float32)
        t = transmission_from_depth(depth_c, beta)
        return {"syn_clear": _chw(clear_c), "syn_hazy": _chw(hazy), "syn_t": t[None],
                "syn_log_depth": log_c[None], "syn_beta": np.array([beta], np.float32),
                "syn_airlight": np.array(airlight, np.float32)}

    def _real_clear_crop(self, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
        """A crop of a real clear frame ``(3, c, c)`` and its 1/s maps ``(2, c/s, c/s)`` (LiDAR, bound)."""
        frame = self.real_clear[rng.integers(len(self.real_clear))]
        (rgb,), (maps,) = self._crop_pair(frame.rgb, None, frame.depth_maps, rng)
        return _chw(rgb), _chw(maps)

    def _origin(self, shape, rng: np.random.Generator) -> Tuple[int, int]:
        c, s = self.cfg.crop, self.stride
        if shape[0] < c or shape[1] < c:
            raise ValueError(f"image {shape[:2]} smaller than the crop {c}")
        rows, cols = (shape[0] - c) // s + 1, (shape[1] - c) // s + 1
        return int(rng.integers(rows)) * s, int(rng.integers(cols)) * s

    def _crop(self, rgb: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, bool]:
        y, x = self._origin(rgb.shape, rng)
        c = self.cfg.crop
        crop = rgb[y:y + c, x:x + c]
        flip = bool(rng.random() < 0.5)
        return _chw(crop[:, ::-1] if flip else crop), flip

    def _crop_pair(self, rgb: np.ndarray, depth: Optional[np.ndarray], log_depth: np.ndarray,
                   rng: np.random.Generator):
        """The same crop (and flip) of an image, its depth (optional) and its 1/s map(s) (``(h, w[, k])``)."""
        y, x = self._origin(rgb.shape, rng)
        c, s = self.cfg.crop, self.stride
        flip = bool(rng.random() < 0.5)
        full = [rgb[y:y + c, x:x + c]] + ([depth[y:y + c, x:x + c]] if depth is not None else [])
        low = log_depth[y // s:(y + c) // s, x // s:(x + c) // s]
        if flip:
            full, low = [a[:, ::-1] for a in full], low[:, ::-1]
        return [np.ascontiguousarray(a) for a in full], (np.ascontiguousarray(low),)


def _chw(image: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` → contiguous ``(C, H, W)`` float32."""
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)


@dataclass
class PhysicsValidationImage:
    """A held-out full frame with known haze: ``hazy``, ``clear`` CHW [0, 1]; ``beta`` [1/m]; ``airlight``."""

    name: str
    hazy: np.ndarray
    clear: np.ndarray
    beta: float
    airlight: Tuple[float, float, float]


def physics_validation_images(cfg: DataConfig, root: Path, seed: int, stride_multiple: int
                              ) -> List[PhysicsValidationImage]:
    """Full-frame validation pairs of ``val_scenes`` (``val_haze_draws`` fixed-seed draws each).

    Frames are cropped to multiples of ``stride_multiple`` (the model's size multiple; training code
    does not pad).
    """
    images = []
    for scene in cfg.val_scenes:
        clear, depth = read_frida_scene(root, scene)
        m = stride_multiple
        h, w = clear.shape[0] // m * m, clear.shape[1] // m * m
        clear, depth = clear[:h, :w], depth[:h, :w]
        for draw in range(cfg.val_haze_draws):
            rng = np.random.default_rng([seed, scene, draw])
            beta = visibility_to_beta(sample_visibility(rng, cfg.visibility_range_m))
            airlight = sample_airlight(rng, cfg.airlight_base_range, cfg.airlight_tint)
            hazy = synthesize_haze(clear, depth, beta, airlight).astype(np.float32)
            images.append(PhysicsValidationImage(f"scene{scene:02d}_draw{draw}", _chw(hazy), _chw(clear),
                                                 beta, airlight))
    return images[:cfg.val_max_images]
