"""``colcon build`` of a copy of the package: files land where ``ros2 run`` / ``ros2 launch`` look.

colcon lives in its own venv (``.venv-colcon``: setuptools < 70); it is run here with the runtime
interpreter (``.venv``, which has rclpy) and the colcon venv on ``PYTHONPATH``, so the installed
``lib/haze_ros/haze_node`` gets the runtime interpreter in its shebang and really starts.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_package, isolated_ros_domain_id

COLCON = REPO / ".venv-colcon" / "bin" / "colcon"


def _colcon_site_packages():
    found = sorted((REPO / ".venv-colcon" / "lib").glob("python3*/site-packages"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    if not COLCON.exists() or _colcon_site_packages() is None:
        pytest.skip(f"colcon not installed at {COLCON} (run scripts/bootstrap.sh)")
    root = tmp_path_factory.mktemp("colcon_ws")
    src = root / "src" / "haze_ros"
    src.mkdir(parents=True)
    copy_package(src)
    env = {k: v for k, v in os.environ.items() if k not in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH")}
    env["PYTHONPATH"] = str(_colcon_site_packages())
    result = subprocess.run([sys.executable, str(COLCON), "build", "--base-paths", "src"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return root / "install"


def test_files_land_where_ros2_launch_looks(colcon_install):
    prefix = colcon_install / "haze_ros"
    share = prefix / "share" / "haze_ros"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "haze_ros").is_file()
    assert (share / "package.xml").read_text() == (REPO / "package.xml").read_text()
    assert {p.name for p in (share / "launch").glob("*.launch.py")} >= {"dehaze.launch.py",
                                                                        "hazify.launch.py"}
    assert {p.name for p in (share / "config").glob("*.yaml")} >= {"dehaze.yaml", "hazify.yaml"}
    assert (share / "config" / "fastdds_shm.xml").is_file()
    for script in ("haze_node", "haze_bag", "haze_replay"):
        assert os.access(prefix / "lib" / "haze_ros" / script, os.X_OK), script
    assert list((prefix / "lib").glob("python3*/site-packages/haze_ros/ros/node.py"))


def test_installed_haze_node_starts_and_stops_cleanly(colcon_install):
    prefix = colcon_install / "haze_ros"
    node = prefix / "lib" / "haze_ros" / "haze_node"
    assert Path(node.read_text().splitlines()[0][2:]).resolve() == Path(sys.executable).resolve()
    site = next((prefix / "lib").glob("python3*/site-packages"))
    env = dict(os.environ, PYTHONPATH=str(site), ROS_DOMAIN_ID=str(isolated_ros_domain_id()),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", AMENT_PREFIX_PATH=str(prefix))
    proc = subprocess.Popen([str(node), "--ros-args", "--params-file",
                             str(prefix / "share/haze_ros/config/dehaze.yaml"),
                             "-p", "warmup_width:=32", "-p", "warmup_height:=32"],
                            env=env, cwd=colcon_install, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        if "ready:" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    text = "".join(lines) + out
    assert "ready: mode=dehaze" in text, text
    assert proc.returncode == 0, text
    assert str(site) in subprocess.run([str(node.read_text().splitlines()[0][2:]), "-c",
                                        "import haze_ros; print(haze_ros.__file__)"],
                                       env=env, cwd=colcon_install, capture_output=True, text=True).stdout
