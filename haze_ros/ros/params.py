"""The node's parameters: one table of names, types, ranges, descriptions and live/read-only flags.

Defaults live only in ``config/dehaze.yaml`` / ``config/hazify.yaml``: parameters are declared with
a type and a descriptor but no value, so a parameter missing from the params file fails at start-up
with its name (``ParameterError``). Ranges go into the descriptors (rclpy refuses out-of-range sets
with a reason); ``validate_changes`` adds the checks a descriptor cannot express (array lengths,
allowed strings, odd patch sizes). Parameters that need a reload are ``read_only``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from haze_ros.hazing.depth_policy import DEPTH_SOURCES

COMMON, DEHAZE, HAZE = "common", "dehaze", "haze"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``kind`` is bool/int/double/string/double_array; ``group`` is common/dehaze/haze."""

    name: str
    kind: str
    description: str
    read_only: bool = False
    range: Optional[Tuple[float, float]] = None
    group: str = COMMON
    choices: Tuple[str, ...] = ()


SPECS: Tuple[ParamSpec, ...] = (
    # --- start-up (read-only: need a node restart) ---
    ParamSpec("mode", "string", "dehaze: enhance hazy images; haze: inject synthetic haze", True,
              choices=("dehaze", "haze")),
    ParamSpec("backend", "string", "backend name (physics, dcp, torch, onnxruntime, tensorrt, auto, model); "
              "see haze_ros.backends.factory", True),
    ParamSpec("model_path", "string", "model file for learned backends ('' = shipped default)", True),
    ParamSpec("device", "string", "cpu, cuda, cuda:N or '' (backend's choice)", True),
    ParamSpec("precision", "string", "fp32 or fp16 (GPU runtimes)", True, choices=("fp32", "fp16")),
    ParamSpec("input_transport", "string", "raw: subscribe image_raw (Image); compressed: "
              "image_raw/compressed (CompressedImage)", True, choices=("raw", "compressed")),
    ParamSpec("queue_depth", "int", "history depth of every subscription and publisher", True, (1, 100)),
    ParamSpec("max_pixels", "int", "frames with more than width*height pixels are rejected (too_large)",
              True, (1, 200_000_000)),
    ParamSpec("warmup_width", "int", "width of the warm-up frame run at start-up", True, (8, 8192)),
    ParamSpec("warmup_height", "int", "height of the warm-up frame run at start-up", True, (8, 8192)),
    # --- start-up options of the learned runtimes (read-only; see backends.selection) ---
    ParamSpec("runtime.allow_engine_rebuild", "bool", "TensorRT: build an engine at start-up when no cached "
              "one matches (can take minutes; progress is logged)", True),
    ParamSpec("runtime.engine_cache_dir", "string", "TensorRT engine cache ('' = "
              "$XDG_CACHE_HOME/haze_ros/engines)", True),
    ParamSpec("runtime.min_shape", "string", "TensorRT profile: smallest input BxCxHxW", True),
    ParamSpec("runtime.opt_shape", "string", "TensorRT profile: input size the engine is tuned for", True),
    ParamSpec("runtime.max_shape", "string", "TensorRT profile: largest input BxCxHxW", True),
    ParamSpec("runtime.cuda_graphs", "bool", "PyTorch CUDA: replay a captured CUDA graph per frame size",
              True),
    ParamSpec("runtime.onnx_cache_dir", "string", "where checkpoints are exported to ONNX on first use "
              "('' = $XDG_CACHE_HOME/haze_ros/onnx)", True),
    ParamSpec("runtime.intra_op_threads", "int", "ONNX Runtime CPU threads (0 = the cores this process "
              "may use)", True, (0, 256)),
    ParamSpec("runtime.cpu_threads", "int", "PyTorch CPU threads, process-wide (0 = torch's default)", True,
              (0, 256)),
    ParamSpec("runtime.ort_tensorrt", "bool", "ONNX Runtime on CUDA: put the TensorRT execution provider "
              "first", True),
    # --- live ---
    ParamSpec("passthrough_bad_frames", "bool", "publish bad frames unchanged instead of dropping them "
              "(they are counted either way)"),
    ParamSpec("log_period_s", "double", "period of the throttled fps/latency/drops log line", range=(0.5,
                                                                                                     3600.0)),
    ParamSpec("diagnostics_period_s", "double", "period of /diagnostics messages", range=(0.1, 60.0)),
    ParamSpec("inference_workers", "int", "frames processed at once by the ONNX Runtime CPU backend, one "
              "session each (runtime.intra_op_threads 0 splits the cores between them); outputs keep the "
              "input order. 0 = automatic: 2 on ONNX Runtime's CPU backend with 2+ cores, else 1; 1 = one "
              "frame at a time, the lowest latency; > 1 with another backend refuses to start", True,
              (0, 8)),
    # --- dehaze mode: dark channel prior (live, forwarded to backend.configure) ---
    ParamSpec("dcp.omega", "double", "DCP: fraction of haze removed, omega (He et al.)", range=(0.01, 1.0),
              group=DEHAZE),
    ParamSpec("dcp.t0", "double", "DCP: lower bound of the transmission", range=(0.01, 1.0), group=DEHAZE),
    ParamSpec("dcp.patch", "int", "DCP: dark channel patch size in pixels (odd)", range=(1, 255),
              group=DEHAZE),
    ParamSpec("dcp.radius", "int", "DCP: guided filter radius in pixels", range=(1, 1024), group=DEHAZE),
    ParamSpec("dcp.eps", "double", "DCP: guided filter regularisation epsilon", range=(1e-8, 1.0),
              group=DEHAZE),
    ParamSpec("dcp.guided_subsample", "int", "DCP: guided filter run this many times coarser (1 = exact)",
              range=(1, 16), group=DEHAZE),
    # --- haze mode ---
    ParamSpec("depth_source", "string", "depth of the haze: topic (the aligned depth topic), flat_road "
              "(depth-free approximation, physics backend), model (inferred by the learned haze backend)",
              True, choices=DEPTH_SOURCES, group=HAZE),
    ParamSpec("haze.visibility_m", "double", "meteorological visibility V in metres (beta = 3/V)",
              range=(1.0, 100000.0), group=HAZE),
    ParamSpec("haze.airlight", "double_array", "atmospheric light A as [R, G, B], each in [0, 1]",
              group=HAZE),
    ParamSpec("haze.randomize", "bool", "the paper's randomisation: A in [0.8, 1.0], beta in [0.8, 1.6] "
              "per reference distance, sampled per frame", group=HAZE),
    ParamSpec("haze.seed", "int", "seed of the randomisation (same seed, same sequence)", range=(0,
                                                                                                 2**31 - 1),
              group=HAZE),
    ParamSpec("haze.schedule_file", "string", "YAML haze schedule (ramp or segments, see docs/bags.md); "
              "'' = none; used when haze.randomize is false", group=HAZE),
    ParamSpec("haze.reference_distance_m", "double",
              "reference distance of the randomised beta (paper: 100 m)",
              range=(1.0, 10000.0), group=HAZE),
    ParamSpec("depth_free.camera_height_m", "double", "depth-free flat-road model: camera height above the "
              "road, metres", range=(0.1, 20.0), group=HAZE),
    ParamSpec("depth_free.hfov_deg", "double", "depth-free model: horizontal field of view, degrees "
              "(used when focal_px = 0)", range=(1.0, 179.0), group=HAZE),
    ParamSpec("depth_free.focal_px", "double", "depth-free model: focal length in pixels (0 = from hfov_deg)",
              range=(0.0, 100000.0), group=HAZE),
    ParamSpec("depth_free.horizon_row", "double", "depth-free model: horizon row in pixels (negative = "
              "image centre row)", range=(-100000.0, 100000.0), group=HAZE),
    ParamSpec("depth_free.max_depth_m", "double", "depth-free model: road depth cap, metres",
              range=(1.0, 100000.0), group=HAZE),
    ParamSpec("depth.scale_m_per_unit", "double", "metres per unit of 16-bit depth (REP 118 mm: 0.001)",
              range=(1e-6, 100.0), group=HAZE),
    ParamSpec("depth.complete_sparse", "bool", "fill sparse (LiDAR) depth by morphological completion "
              "(Ku et al. 2018) before use", group=HAZE),
    ParamSpec("depth.sync_tolerance_s", "double", "a depth matches an image within this stamp difference",
              range=(0.0, 1.0), group=HAZE),
    ParamSpec("depth.max_age_s", "double",
              "drop an image (depth_stale) when the newest depth is older by more",
              range=(0.0, 60.0), group=HAZE),
    ParamSpec("depth.max_invalid_fraction", "double", "drop a frame (depth_invalid) when more of its depth "
              "pixels are NaN/inf/negative", range=(0.0, 1.0), group=HAZE),
    ParamSpec("depth.buffer_size", "int", "depth messages kept for stamp matching", True, (1, 64),
              group=HAZE),
    ParamSpec("depth.max_pending", "int", "images kept waiting for their depth", True, (0, 16), group=HAZE),
)
BY_NAME: Dict[str, ParamSpec] = {spec.name: spec for spec in SPECS}
# Old names still read (with a deprecation warning) when a params file or -p sets them.
DEPRECATED: Dict[str, ParamSpec] = {
    "use_depth": ParamSpec("use_depth", "bool", "deprecated: use depth_source (true = topic, false = "
                           "flat_road)", True, group=HAZE),
}


class ParameterError(ValueError):
    """A parameter is missing or invalid at start-up; the message names it."""


def specs_for_mode(mode: str) -> List[ParamSpec]:
    """Parameters declared in ``mode`` (``dehaze`` or ``haze``): common ones plus that mode's group."""
    if mode not in (DEHAZE, HAZE):
        raise ParameterError(f"parameter mode={mode!r} must be 'dehaze' or 'haze'")
    return [s for s in SPECS if s.group in (COMMON, mode)]


def check_value(spec: ParamSpec, value) -> Optional[str]:
    """Reason why ``value`` is not acceptable for ``spec`` (``None`` if it is)."""
    if spec.choices and value not in spec.choices:
        return f"{spec.name} must be one of {list(spec.choices)}, got {value!r}"
    if spec.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = spec.range
        if not (math.isfinite(value) and low <= value <= high):
            return f"{spec.name}={value!r} is outside [{low}, {high}]"
    if spec.name == "haze.airlight":
        values = list(value) if value is not None else []
        if len(values) != 3 or not all(math.isfinite(a) and 0.0 <= a <= 1.0 for a in values):
            return f"haze.airlight must be three values in [0, 1], got {values!r}"
    if spec.name == "dcp.patch" and int(value) % 2 == 0:
        return f"dcp.patch must be odd, got {value}"
    if spec.name == "device" and not re.fullmatch(r"|cpu|cuda(:\d+)?", str(value)):
        return f"device must be cpu, cuda, cuda:N or '' (the backend's choice), got {value!r}"
    return None


def validate_changes(changes: Dict[str, object]) -> Optional[str]:
    """Reason to refuse a set of parameter changes (``None`` = accept). Pure; used by the node's callback.

    Checks names, read-only flags, choices, ranges and array shapes of every change.
    """
    for name, value in changes.items():
        spec = BY_NAME.get(name)
        if spec is None:
            if name.startswith("qos_overrides.") or name == "use_sim_time":
                continue
            return f"unknown parameter {name!r}"
        if spec.read_only:
            return f"{name} is read-only: it needs a node restart"
        reason = check_value(spec, value)
        if reason:
            return reason
    return None


def declare_all(node, mode_specs: Iterable[ParamSpec]) -> Dict[str, object]:
    """Declare ``mode_specs`` on an rclpy node without defaults and return their values.

    Raises ``ParameterError`` naming every parameter that the params file did not set, or the first
    one whose value is invalid.
    """
    from rclpy.exceptions import (InvalidParameterTypeException, InvalidParameterValueException,
                                  ParameterUninitializedException)

    values, missing = {}, []
    for spec in mode_specs:
        try:
            node.declare_parameter(spec.name, _rclpy_type(spec.kind), _descriptor(spec))
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            raise ParameterError(f"invalid parameter {spec.name} ({spec.kind}): {exc}") from None
        try:
            values[spec.name] = node.get_parameter(spec.name).value
        except ParameterUninitializedException:
            missing.append(spec.name)
            continue
        reason = check_value(spec, values[spec.name])
        if reason:
            raise ParameterError(f"invalid parameter: {reason}")
    if missing:
        raise ParameterError(f"parameter(s) not set: {', '.join(missing)} — pass a params file (config/"
                             "dehaze.yaml or config/hazify.yaml) with --params-file; it holds every default")
    values = {k: (list(v) if k == "haze.airlight" else v) for k, v in values.items()}
    return values


def declare_deprecated(node, name: str):
    """Declare the deprecated parameter ``name`` (``DEPRECATED``) without a default; its value or ``None``."""
    from rclpy.exceptions import ParameterUninitializedException

    spec = DEPRECATED[name]
    node.declare_parameter(spec.name, _rclpy_type(spec.kind), _descriptor(spec))
    try:
        return node.get_parameter(spec.name).value
    except ParameterUninitializedException:
        return None


def _rclpy_type(kind: str):
    from rclpy.parameter import Parameter

    return {"bool": Parameter.Type.BOOL, "int": Parameter.Type.INTEGER, "double": Parameter.Type.DOUBLE,
            "string": Parameter.Type.STRING, "double_array": Parameter.Type.DOUBLE_ARRAY}[kind]


def _descriptor(spec: ParamSpec):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    text = spec.description + (" (read-only: restart to change)" if spec.read_only else " (live)")
    descriptor = ParameterDescriptor(description=text, read_only=spec.read_only)
    if spec.choices:
        descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.range is not None and spec.kind == "double":
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None and spec.kind == "int":
        descriptor.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]),
                                                 step=1)]
    return descriptor
