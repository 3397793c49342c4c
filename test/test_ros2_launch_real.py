"""Optional (marker ``ros_real``): ``ros2 launch haze_ros dehaze.launch.py`` with the real launch tools.

launch / launch_ros / ros2cli have no PyPI wheels; ``../shared/tools/ros2-real-env.sh`` installs them
from git snapshots named by ``ROS2_MIRROR_ROOT`` (``ros2+<repo>/repo``). Skipped, with that reason,
when the variable or the snapshots are missing. The package is copied first, so that colcon does not
crawl this checkout's virtual environments.
"""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_package

pytestmark = [pytest.mark.ros_real, pytest.mark.timeout(900)]

SCRIPT = REPO.parent / "shared" / "tools" / "ros2-real-env.sh"
SNAPSHOTS = ("launch", "launch_ros", "ros2cli", "rosidl_runtime_py", "rcl_interfaces")


def _mirror_root():
    root = os.environ.get("ROS2_MIRROR_ROOT")
    if not root:
        pytest.skip("ROS2_MIRROR_ROOT is not set (git snapshots of the ros2 launch/ros2cli repositories)")
    missing = [name for name in SNAPSHOTS if not (Path(root) / f"ros2+{name}" / "repo").exists()]
    if missing:
        pytest.skip(f"snapshots missing under {root}: {missing}")
    if not SCRIPT.exists():
        pytest.skip(f"{SCRIPT} is absent")
    return root


def test_ros2_launch_dehaze_starts_and_stops_cleanly(tmp_path):
    root = _mirror_root()
    package = tmp_path / "haze_ros"
    package.mkdir()
    copy_package(package, extra=("requirements.txt",))
    env = dict(os.environ, ROS2_MIRROR_ROOT=root)
    result = subprocess.run([str(SCRIPT), "--timeout", "20", str(package), "ros2", "launch", "haze_ros",
                             "dehaze.launch.py", "dcp_omega:=0.9"],
                            env=env, capture_output=True, text=True, timeout=850)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "ready: mode=dehaze, backend=dcp" in output, output[-5000:]
    assert "process has finished cleanly" in output, output[-5000:]


def _ros2_launch(tmp_path, *command, timeout=20):
    root = _mirror_root()
    package = tmp_path / "haze_ros"
    package.mkdir(parents=True)
    copy_package(package, extra=("requirements.txt",))
    env = dict(os.environ, ROS2_MIRROR_ROOT=root)
    result = subprocess.run([str(SCRIPT), "--timeout", str(timeout), str(package), "ros2", "launch",
                             "haze_ros", *command], env=env, capture_output=True, text=True, timeout=850)
    return result.returncode, result.stdout + result.stderr


def test_ros2_launch_hazify_refuses_unknown_arguments_and_warns_on_old_names(tmp_path):
    rc, output = _ros2_launch(tmp_path / "typo", "hazify.launch.py", "haze_visiblity_m:=80.0")
    assert rc != 0 and "did you mean haze_visibility_m?" in output, output[-5000:]
    rc, output = _ros2_launch(tmp_path / "old", "hazify.launch.py", "visibility_m:=80.0", "use_depth:=true")
    assert rc == 0, output[-5000:]
    assert "visibility_m:=80.0 is deprecated: use haze_visibility_m:=80.0" in output, output[-5000:]
    assert "use_depth:=true is deprecated: use depth_source:=topic" in output, output[-5000:]
    assert "ready: mode=haze, backend=physics" in output and "process has finished cleanly" in output
