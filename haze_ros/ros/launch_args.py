"""What the launch files share: their arguments, the parameter overrides they make, the node action.

``launch/dehaze.launch.py``, ``launch/hazify.launch.py`` and ``launch/replay_hazify.launch.py`` are
thin: they call ``node_launch_description`` or use the tables and checks here. ``launch`` and
``launch_ros`` are imported inside the functions that build actions (they have no PyPI wheels, so
the tables and the pure helpers must import without them; the tests use those).

Rules, the same in every file:

* Defaults live only in the params file (``config/<mode>.yaml``, argument ``params_file``). A
  parameter argument is named as its parameter with dots as underscores (``haze.visibility_m`` →
  ``haze_visibility_m``); left empty (its default) it keeps the file's value.
* Old names still work, with a deprecation warning: ``use_depth`` (→ ``depth_source``, ``true`` =
  ``topic``, ``false`` = ``flat_road``) and replay_hazify's ``visibility_m``, ``airlight``,
  ``randomize``, ``seed`` (→ ``haze_visibility_m`` ...).
* ``ros2 launch`` itself ignores an argument that no launch file declares, without a word (launch
  3.x has no option to refuse it). These files check the command line (``LaunchContext.argv``)
  themselves: an undeclared ``name:=value`` is an error naming the closest declared argument.
  A launch file that includes one of them and has arguments of its own passes
  ``strict_arguments:=false`` (replay_hazify does).
"""

from __future__ import annotations

import difflib
import os
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from haze_ros.core.params_file import read_params_file
from haze_ros.hazing.depth_policy import paired_backend

CONFIG_FILE = {"dehaze": "dehaze.yaml", "haze": "hazify.yaml"}
OUTPUT_TOPIC = {"dehaze": "image_dehazed", "haze": "image_hazed"}
Argument = Tuple[str, object, str]  # (parameter, kind, description); kind: str, int, float, bool, "floats"

COMMON_PARAMETERS: Dict[str, Argument] = {
    "backend": ("backend", str, "backend: dcp (dehaze) | physics (haze) | torch | onnxruntime | tensorrt | "
                "auto | model"),
    "model_path": ("model_path", str, "model file for learned backends"),
    "device": ("device", str, "cpu | cuda | cuda:N"),
    "precision": ("precision", str, "fp32 | fp16 (GPU runtimes)"),
    "input_transport": ("input_transport", str, "raw (image_raw) | compressed (image_raw/compressed)"),
    "passthrough_bad_frames": ("passthrough_bad_frames", bool, "publish bad frames unchanged (true/false)"),
    "inference_workers": ("inference_workers", int, "frames in flight on ONNX Runtime's CPU backend: 0 "
                          "automatic (2 there) | 1 one at a time (lowest latency) | N"),
}
HAZE_PARAMETERS: Dict[str, Argument] = {
    "depth_source": ("depth_source", str, "haze depth: topic (the depth_topic) | flat_road (depth-free "
                     "approximation), both with backend physics | model (inferred from the image by the "
                     "learned haze backend, backend model); without backend:=..., picks the backend that "
                     "goes with it when the params file's does not"),
    "haze_visibility_m": ("haze.visibility_m", float, "meteorological visibility in metres (beta = 3/V)"),
    "haze_airlight": ("haze.airlight", "floats", "atmospheric light as R,G,B in [0, 1], e.g. 0.9,0.9,0.95"),
    "haze_randomize": ("haze.randomize", bool, "paper's per-frame randomisation of A and beta (true/false)"),
    "haze_seed": ("haze.seed", int, "seed of the randomisation"),
    "haze_reference_distance_m": ("haze.reference_distance_m", float,
                                  "reference distance of the randomised beta, metres"),
    "haze_schedule_file": ("haze.schedule_file", str, "YAML haze schedule (ramp or segments)"),
    "depth_scale_m_per_unit": ("depth.scale_m_per_unit", float, "metres per unit of 16-bit depth"),
    "depth_complete_sparse": ("depth.complete_sparse", bool, "complete sparse LiDAR depth (true/false)"),
    "depth_max_invalid_fraction": ("depth.max_invalid_fraction", float,
                                   "drop a frame whose depth has more NaN/inf/negative pixels [0, 1]"),
    "depth_free_camera_height_m": ("depth_free.camera_height_m", float, "depth-free model: camera height, m"),
    "depth_free_hfov_deg": ("depth_free.hfov_deg", float, "depth-free model: horizontal field of view, deg"),
}
DEHAZE_PARAMETERS: Dict[str, Argument] = {
    "dcp_omega": ("dcp.omega", float, "DCP omega, fraction of haze removed [0, 1]"),
    "dcp_t0": ("dcp.t0", float, "DCP lower bound of the transmission [0.01, 1]"),
    "dcp_patch": ("dcp.patch", int, "DCP dark channel patch size in pixels, odd"),
    "dcp_radius": ("dcp.radius", int, "DCP guided filter radius in pixels"),
    "dcp_eps": ("dcp.eps", float, "DCP guided filter epsilon"),
    "dcp_guided_subsample": ("dcp.guided_subsample", int, "DCP guided filter subsampling (1 = exact)"),
}
# old argument -> new argument (use_depth also converts its value)
DEPRECATED_ARGUMENTS: Dict[str, str] = {"use_depth": "depth_source", "visibility_m": "haze_visibility_m",
                                        "airlight": "haze_airlight", "randomize": "haze_randomize",
                                        "seed": "haze_seed"}
# Arguments of the node launch files that are not parameters: name -> (default, description);
# a default of None = computed per mode (params_file, output_topic).
STRUCTURE_ARGUMENTS: Dict[str, Tuple[Optional[str], str]] = {
    "params_file": (None, "ROS params file holding every parameter's default"),
    "namespace": ("", "namespace of the node and its topics"),
    "node_name": ("haze_node", "node name"),
    "image_topic": ("image_raw", "camera image topic (remaps image_raw; <image_topic>/compressed for "
                                 "compressed input)"),
    "camera_info_topic": ("camera_info", "camera_info topic of the camera (remaps camera_info)"),
    "output_topic": (None, "output image topic (its camera_info goes to <output_topic>/camera_info)"),
    "fastdds_profile": ("auto", "Fast DDS XML profile: auto = the package's shared-memory profile unless "
                                "FASTDDS_DEFAULT_PROFILES_FILE is set; none = leave as is; or a path"),
    "log_level": ("info", "node log level"),
    "strict_arguments": ("true", "refuse a command-line argument that this file does not declare (false: "
                                 "when included from a launch file with arguments of its own)"),
}
HAZE_STRUCTURE: Dict[str, Tuple[Optional[str], str]] = {
    "depth_topic": ("depth", "aligned depth image topic (remaps depth; used with depth_source:=topic)"),
}


def parameter_arguments(mode: str) -> Dict[str, Argument]:
    """Parameter launch arguments of ``mode`` (``dehaze``, ``haze``, or ``both`` for replay_hazify)."""
    table = dict(COMMON_PARAMETERS)
    if mode in ("haze", "both"):
        table.update(HAZE_PARAMETERS)
    if mode in ("dehaze", "both"):
        table.update(DEHAZE_PARAMETERS)
    return table


def structure_arguments(mode: str) -> Dict[str, Tuple[Optional[str], str]]:
    """Non-parameter arguments of the node launch file of ``mode``: name → (default, description)."""
    table = dict(STRUCTURE_ARGUMENTS)
    if mode == "haze":
        table.update(HAZE_STRUCTURE)
    return table


def typed(text: str, kind):
    """Launch argument text → parameter value of ``kind`` (``bool`` takes true/false only)."""
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if kind == "floats":
        return [float(part) for part in text.strip("[]").split(",")]
    return kind(text)


def resolve_deprecated(values: Mapping[str, str]) -> Tuple[Dict[str, str], List[str]]:
    """Move old argument names onto the new ones; returns (argument values, deprecation warnings).

    A new name given as well wins over its old name. ``use_depth`` true/false becomes
    ``depth_source`` topic/flat_road.
    """
    resolved, warnings = dict(values), []
    for old, new in DEPRECATED_ARGUMENTS.items():
        text = resolved.pop(old, "")
        if text == "":
            continue
        value = text
        if old == "use_depth":
            value = "topic" if typed(text, bool) else "flat_road"
        if resolved.get(new, "") != "":
            warnings.append(f"launch argument {old} is deprecated and ignored: {new} is given too")
            continue
        resolved[new] = value
        warnings.append(f"launch argument {old}:={text} is deprecated: use {new}:={value}")
    return resolved, warnings


def parameter_overrides(values: Mapping[str, str], mode: str) -> Dict[str, object]:
    """Parameter name → typed value for every non-empty parameter argument of ``mode`` in ``values``."""
    overrides = {}
    for argument, (parameter, kind, _description) in parameter_arguments(mode).items():
        text = values.get(argument, "")
        if text != "":
            try:
                overrides[parameter] = typed(text, kind)
            except ValueError as exc:
                raise ValueError(f"launch argument {argument}:={text!r}: {exc}") from None
    return overrides


def pair_backend(overrides: Dict[str, object], params_file: str) -> Tuple[Dict[str, object], List[str]]:
    """Give a ``depth_source:=`` argument its backend when ``backend:=`` is not given as well.

    When the params file's ``backend`` does not go with the ``depth_source`` argument
    (``hazing.depth_policy.check_depth_source``: ``topic`` / ``flat_road`` need ``physics``,
    ``model`` a learned backend), ``backend`` is set to ``paired_backend`` of it, with an info
    message. Returns (overrides, messages); an unreadable params file changes nothing (the node
    reports it).
    """
    source = overrides.get("depth_source")
    if source is None or "backend" in overrides:
        return dict(overrides), []
    try:
        file_backend = str(read_params_file(params_file).get("backend", ""))
    except Exception:  # noqa: BLE001 - OSError, YAML errors: the node names the file
        return dict(overrides), []
    backend = paired_backend(str(source), file_backend)
    if not file_backend or backend == file_backend:
        return dict(overrides), []
    return dict(overrides, backend=backend), [f"depth_source:={source} with backend {file_backend!r} of "
                                              f"{params_file}: using backend:={backend}"]


def unknown_arguments(argv: Iterable[str], declared: Iterable[str]) -> List[str]:
    """One message per ``name:=value`` of ``argv`` whose name is not ``declared`` (with a suggestion)."""
    known = sorted(set(declared))
    problems = []
    for item in argv:
        name, sep, _value = str(item).partition(":=")
        if not sep or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(f"unknown launch argument {name!r}{hint} (ros2 launch --show-args lists them)")
    return problems


def check_command_line(context, declared: Iterable[str]) -> None:
    """Raise ``ValueError`` for undeclared command-line arguments unless ``strict_arguments`` is false."""
    from launch.substitutions import LaunchConfiguration

    if LaunchConfiguration("strict_arguments", default="true").perform(context).lower() == "false":
        return
    problems = unknown_arguments(context.argv, declared)
    if problems:
        raise ValueError("; ".join(problems))


def argument_values(context, names: Iterable[str]) -> Dict[str, str]:
    """Values of the launch configurations ``names`` (``""`` when unset)."""
    from launch.substitutions import LaunchConfiguration

    return {name: LaunchConfiguration(name, default="").perform(context) for name in names}


def warn(messages: Iterable[str]) -> None:
    """Log ``messages`` as warnings of the ``haze_ros.launch`` logger."""
    import launch.logging

    logger = launch.logging.get_logger("haze_ros.launch")
    for message in messages:
        logger.warning(message)


def info(messages: Iterable[str]) -> None:
    """Log ``messages`` at info level on the ``haze_ros.launch`` logger."""
    import launch.logging

    logger = launch.logging.get_logger("haze_ros.launch")
    for message in messages:
        logger.info(message)


def declare(names_defaults: Mapping[str, Tuple[Optional[str], str]]) -> list:
    """``DeclareLaunchArgument`` actions for name → (default, description)."""
    from launch.actions import DeclareLaunchArgument

    return [DeclareLaunchArgument(name, default_value=default, description=description)
            for name, (default, description) in names_defaults.items()]


def declared_parameter_arguments(mode: str) -> Dict[str, Tuple[str, str]]:
    """Parameter and deprecated arguments of ``mode`` as name → ("", description)."""
    table = {name: ("", f"{description} (sets {parameter}; empty = params file)")
             for name, (parameter, _kind, description) in parameter_arguments(mode).items()}
    for old, new in DEPRECATED_ARGUMENTS.items():
        if new in table:
            table[old] = ("", f"deprecated: use {new}")
    return table


def _fastdds_actions(context) -> list:
    from launch.actions import SetEnvironmentVariable
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    profile = LaunchConfiguration("fastdds_profile").perform(context)
    if profile == "auto" and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        profile = PathJoinSubstitution([FindPackageShare("haze_ros"), "config",
                                        "fastdds_shm.xml"]).perform(context)
    if profile not in ("auto", "none", ""):
        return [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile)]
    return []


def _node_actions(context, mode: str) -> list:
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    declared = list(structure_arguments(mode)) + list(declared_parameter_arguments(mode))
    check_command_line(context, declared)
    values, warnings = resolve_deprecated(argument_values(context, declared_parameter_arguments(mode)))
    warn(warnings)
    overrides = parameter_overrides(values, mode)
    if mode == "haze":
        overrides, notes = pair_backend(overrides, LaunchConfiguration("params_file").perform(context))
        info(notes)
    out = OUTPUT_TOPIC[mode]
    remappings = [("image_raw", LaunchConfiguration("image_topic")),
                  ("image_raw/compressed", [LaunchConfiguration("image_topic"), "/compressed"]),
                  ("camera_info", LaunchConfiguration("camera_info_topic")),
                  (out, LaunchConfiguration("output_topic")),
                  (out + "/camera_info", [LaunchConfiguration("output_topic"), "/camera_info"])]
    if mode == "haze":
        remappings += [("depth", LaunchConfiguration("depth_topic")),
                       (out + "/haze_params", [LaunchConfiguration("output_topic"), "/haze_params"])]
    return _fastdds_actions(context) + [Node(
        package="haze_ros", executable="haze_node", name=LaunchConfiguration("node_name"),
        namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=remappings,
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")])]


def node_launch_description(mode: str):
    """The whole launch description of ``dehaze.launch.py`` / ``hazify.launch.py``: arguments + node."""
    from launch import LaunchDescription
    from launch.actions import OpaqueFunction
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    structure = structure_arguments(mode)
    defaults: Dict[str, Tuple[object, str]] = dict(structure)
    defaults["params_file"] = (PathJoinSubstitution([FindPackageShare("haze_ros"), "config",
                                                     CONFIG_FILE[mode]]), structure["params_file"][1])
    defaults["output_topic"] = (OUTPUT_TOPIC[mode], f"{structure['output_topic'][1]}; remaps "
                                                    f"{OUTPUT_TOPIC[mode]}")
    actions = declare(defaults) + declare(declared_parameter_arguments(mode))
    function: Callable = lambda context: _node_actions(context, mode)  # noqa: E731
    return LaunchDescription(actions + [OpaqueFunction(function=function)])
