"""The ROS-free core imports without rclpy (DESIGN.md seams): checked in a fresh interpreter."""

import pkgutil
import subprocess
import sys

from conftest import REPO

ROS_FREE = ("core", "physics", "hazing", "backends", "networks", "training", "evaluation", "export")


def _modules():
    """Every module of the ROS-free subpackages present in this checkout."""
    names = []
    for package in ROS_FREE:
        if not (REPO / "haze_ros" / package / "__init__.py").exists():
            continue
        names.append(f"haze_ros.{package}")
        path = [str(REPO / "haze_ros" / package)]
        names += [f"haze_ros.{package}.{m.name}" for m in pkgutil.iter_modules(path)]
    return names


def test_core_packages_import_without_rclpy():
    modules = _modules()
    assert "haze_ros.core.processor" in modules and "haze_ros.ros" not in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        if 'rclpy' in str(exc) or 'msgs' in str(exc):\n"
        "            raise\n"
        "        print('optional runtime missing for', name, exc)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs',"
        " 'diagnostic_msgs', 'rcl_interfaces'))\n"
        "assert not bad, bad\n"
        "print('ok', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout
