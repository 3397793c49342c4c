"""ROS params files (``config/dehaze.yaml``, ``config/hazify.yaml``): the one home of runtime defaults.

``haze_node`` gets them through ``--params-file`` (rcl parses the file), the launch files pass the
package's file as their default ``params_file``, and ROS-free tools (``haze_bag``, the benchmarks)
read the same file with ``read_params_file``. ``package_params_file`` finds the package's copy: the
ament share folder when ``ament_index_python`` knows the package, else the source tree or the
install's ``share/haze_ros/config`` (``package_share_candidates``, which also finds the shipped
``models`` folder for ``backends.model_files``). ``backend_knobs`` / ``runtime_options`` turn the flat values
(``dcp.*``, ``depth_free.*``, ``runtime.*``) into what ``Backend.configure`` and ``BackendSpec.options``
take, for the node and ``haze_bag`` alike.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List

CONFIG_FOR_MODE = {"dehaze": "dehaze.yaml", "haze": "hazify.yaml"}


def read_params_file(path, node_name: str = "haze_node") -> Dict[str, object]:
    """Flat ``{parameter: value}`` of a ROS params file (the ``/**`` and ``node_name`` sections).

    Nested keys are joined with dots (``dcp: {omega: 0.9}`` → ``dcp.omega``); a later section
    overrides an earlier one. ``yaml.safe_load``; raises ``OSError`` / ``yaml.YAMLError`` /
    ``ValueError`` (not a mapping) for a file that cannot be used.
    """
    import yaml

    with open(path, encoding="utf-8") as stream:
        tree = yaml.safe_load(stream) or {}
    if not isinstance(tree, dict):
        raise ValueError(f"{path}: a ROS params file is a mapping of node names to ros__parameters")
    flat: Dict[str, object] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value
    for section in ("/**", node_name, "/" + node_name):
        walk((tree.get(section) or {}).get("ros__parameters", {}), "")
    return flat


def package_share_candidates(folder: str) -> List[Path]:
    """Where the package's installed ``folder`` (``config``, ``models``) may be, in search order.

    The ament share directory (``share/haze_ros/<folder>`` of a colcon install; skipped without
    ``ament_index_python`` or when the package is not on ``AMENT_PREFIX_PATH``), the source tree
    or editable install, then ``<sys.prefix>/share/haze_ros/<folder>`` (a pip install).
    """
    candidates = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            candidates.append(Path(get_package_share_directory("haze_ros")) / folder)
        except (PackageNotFoundError, OSError, ValueError):  # not installed, or AMENT_PREFIX_PATH unset
            pass
    except ImportError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / folder)  # source tree / editable install
    candidates.append(Path(sys.prefix) / "share" / "haze_ros" / folder)
    return candidates


def package_params_file(mode: str) -> Path:
    """The package's params file for ``mode`` (``dehaze`` → ``dehaze.yaml``, ``haze`` → ``hazify.yaml``).

    Raises ``FileNotFoundError`` naming the places looked in.
    """
    name = CONFIG_FOR_MODE[mode]
    candidates = package_share_candidates("config")
    for folder in candidates:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"the package's {name} was not found (looked in "
                            f"{', '.join(str(c) for c in candidates)})")


# -------------------- parameter values -> backend options (the node's and haze_bag's)
DCP_KNOBS = ("omega", "t0", "patch", "radius", "eps", "guided_subsample")
DEPTH_FREE_KNOBS = ("camera_height_m", "hfov_deg", "focal_px", "horizon_row", "max_depth_m")
# parameter prefix -> knob names that Backend.configure() takes (the dcp and physics backends' tunables)
BACKEND_KNOBS = {"dcp.": DCP_KNOBS, "depth_free.": DEPTH_FREE_KNOBS}
RUNTIME_PREFIX = "runtime."  # start-up options of the learned backends (BackendSpec.options)


def backend_knobs(changes: Dict[str, object]) -> Dict[str, object]:
    """Pick the backend knobs (``dcp.*``, ``depth_free.*``) out of ``changes``.

    Keyed as ``Backend.configure`` takes them (``omega``, ``camera_height_m`` ...).
    ``depth_free.focal_px`` = 0 and a negative ``depth_free.horizon_row`` become ``None`` (derived from
    the field of view / the image centre).
    """
    knobs = {}
    for name, value in changes.items():
        prefix, _, knob = name.partition(".")
        if knob in BACKEND_KNOBS.get(prefix + ".", ()):
            if (knob == "focal_px" and value == 0.0) or (knob == "horizon_row" and value < 0.0):
                value = None
            knobs[knob] = value
    return knobs


def runtime_options(values: Dict[str, object]) -> Dict[str, object]:
    """``runtime.*`` parameter values keyed as ``BackendSpec.options`` takes them (prefix removed)."""
    return {name[len(RUNTIME_PREFIX):]: value for name, value in values.items()
            if name.startswith(RUNTIME_PREFIX)}
