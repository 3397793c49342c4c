"""Shared test fixtures: paths to shipped samples and to the development data in ../shared/data."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data" / "samples"
SHARED_DATA = Path(os.environ.get("HAZE_ROS_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
# The test process's own DDS participants (graph clients) use the package's Fast DDS profile too,
# as ./scripts/test.sh (via scripts/env.sh) gives them: with the stock 0.5 MiB shared-memory segment
# a plain `pytest` run lost large best-effort images on their way to the node (seen as flaky drop
# counts in test_node_graph's hostile-frame test). Set before any rclpy participant exists.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_shm.xml"))


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test (with that reason) when the set is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the development data set {path} (absent: fresh clone without ../shared/data)")
    return path


PACKAGE_FILES = ("package.xml", "setup.py", "setup.cfg", "resource", "haze_ros", "launch", "config", "models",
                 "data")


def copy_package(dest: Path, extra=()) -> None:
    """Copy the ament package's files (plus ``extra`` top-level names) into ``dest``, minus build litter."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in PACKAGE_FILES + tuple(extra):
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, dest / name)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (and TensorRT where named); skipped without")
    config.addinivalue_line("markers", "ros_real: needs the real ros2 launch/ros2cli tools (optional)")
    config.addinivalue_line("markers", "slow: longer than ~30 s on 2 cores")


def isolated_ros_domain_id() -> int:
    """A ROS_DOMAIN_ID unlikely to collide with other test runs on this machine (1..200)."""
    return 1 + (os.getpid() % 200)
