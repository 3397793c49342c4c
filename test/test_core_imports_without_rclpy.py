"""Nothing outside the ROS layer imports rclpy (DESIGN.md seams): checked in a fresh interpreter.

The ROS layer is ``haze_ros.ros`` and ``haze_ros.ros_tools``; every other module of the package,
found on disk (so a new subpackage or module is covered without editing this file), the bag tool
(``bags``) and the benchmarks (``bench``) included, is imported in a child interpreter. Any
exception fails the test, an ``ImportError`` too, except one naming a genuinely optional runtime
(TensorRT, pycuda: GPU machines only). Afterwards no rclpy, rcl, rmw, rosidl or message module may
be loaded.
"""

import json
import subprocess
import sys

from conftest import REPO

ROS_LAYER = ("ros", "ros_tools")
OPTIONAL_RUNTIMES = ("tensorrt", "pycuda")
_CHILD = r"""
import importlib, json, sys
for name in {blocked!r}:
    sys.modules[name] = None  # "import name" raises ImportError
modules, optional = {modules!r}, {optional!r}
skipped = []
for name in modules:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in optional:
            raise
        skipped.append(f"{{name}}: {{exc}}")
ros = sorted(m for m in sys.modules
             if m.split(".")[0] in ("rclpy", "launch", "launch_ros", "builtin_interfaces", "rpyutils")
             or m.split(".")[0].startswith(("rcl", "rmw", "rosidl")) or m.split(".")[0].endswith("_msgs"))
print(json.dumps({{"ros": ros, "skipped": skipped, "loaded": len(sys.modules)}}))
"""


def _modules():
    """Every module of haze_ros outside the ROS layer, from the files in this checkout."""
    names = []
    for path in sorted((REPO / "haze_ros").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if len(parts) > 2 and parts[1] in ROS_LAYER:
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _import_in_child(modules, blocked=()):
    code = _CHILD.format(modules=modules, optional=OPTIONAL_RUNTIMES, blocked=list(blocked))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_everything_outside_the_ros_layer_imports_without_rclpy():
    modules = _modules()
    for expected in ("haze_ros.core.processor", "haze_ros.bags.cli", "haze_ros.bags.frames",
                     "haze_ros.bench.cli", "haze_ros.hazing.depth_sync", "haze_ros.core.image_msgs"):
        assert expected in modules
    assert not any(m.split(".")[1:2] and m.split(".")[1] in ROS_LAYER for m in modules)
    result = _import_in_child(modules)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ros"] == [], report["ros"]
    for line in report["skipped"]:  # only where the optional runtime is absent
        assert any(name in line for name in OPTIONAL_RUNTIMES), line


def test_a_missing_required_library_fails_the_check():
    """The check does not swallow ImportErrors: with torch unimportable, the training code fails it."""
    result = _import_in_child(["haze_ros.core.types", "haze_ros.training.losses"], blocked=["torch"])
    assert result.returncode != 0
    assert "ModuleNotFoundError: import of torch halted" in result.stderr, result.stderr
