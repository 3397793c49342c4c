"""The README's main-job command runs end to end from the shipped data (no ../shared needed)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from conftest import REPO


def _shipped_is_physics() -> bool:
    meta = json.loads((REPO / "models" / "edge.json").read_text())
    return meta["model"]["architecture"].get("generator") == "physics"


@pytest.fixture(scope="module")
def model_args(tmp_path_factory):
    """``--model`` for the learned nodes: none for a shipped physics model, else a random physics checkpoint.

    The random checkpoint has the property the test checks (its depth is nowhere near the flat road's
    1 km above the horizon), so it stands in for the shipped model until that is a physics model.
    """
    if _shipped_is_physics():
        return []
    from model_fixtures import write_random_checkpoint

    return ["--model", str(write_random_checkpoint(tmp_path_factory.mktemp("demo_model") / "edge", seed=2))]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode, depth_source, columns", [("both", "model", 4), ("dehaze", "model", 3),
                                                         ("haze", "flat_road", 2)])
def test_demo_runs_from_shipped_bag(tmp_path, model_args, mode, depth_source, columns):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "haze_ros.ros_tools.demo", "--mode", mode, "--depth-source",
                           depth_source, "--out", str(out), "--timeout", "60", *model_args],
                          cwd=REPO, capture_output=True, text=True, timeout=200,
                          env=dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_in"] == 10 and summary["depth_source"] == depth_source and summary["note"] == ""
    for row in summary["outputs"].values():
        assert row["frames_out"] == 10 and row["dropped"] == 0 and row["latency_ms"]["n"] == 10
    picture = cv2.imread(str(out / "side_by_side.png"))
    assert picture is not None and picture.shape[1] == 480 * columns, summary["columns"]
    assert (out / "recorded" / "metadata.yaml").is_file()
    assert "frames out, 0 dropped" in done.stdout
    above = summary["above_horizon"]
    if mode == "both":  # input | flat road | learned depth | dehazed (model)
        assert summary["columns"] == ["input (clear)", "flat road (physics)", "learned depth (model)",
                                      "dehazed (model)"]
        flat, learned = above["flat road (physics)"], above["learned depth (model)"]
        # flat road: everything above the horizon is 1 km away, one white wall at 150 m visibility
        assert flat["saturated_fraction"] > 0.99 and flat["grey_std"] < 1.0, above
        # learned depth: the rows above the horizon keep structure, they are not the airlight
        assert learned["saturated_fraction"] < 0.9 and learned["grey_std"] > 5.0, above
    if depth_source == "flat_road":  # the former picture: input | hazed (flat road)
        assert summary["columns"] == ["input (clear)", "flat road (physics)"]
        assert above["flat road (physics)"]["saturated_fraction"] > 0.99


def test_demo_checks_for_a_physics_model(tmp_path):
    """Learned depth needs a physics-generator model; the demo tells a pixel model apart (and falls back)."""
    from model_fixtures import write_random_checkpoint

    from haze_ros.ros_tools.demo import learned_depth_problem

    pixel = write_random_checkpoint(tmp_path / "pixel", preset="edge_pixel")
    physics = write_random_checkpoint(tmp_path / "physics")
    assert "generator" in learned_depth_problem(str(pixel))
    assert learned_depth_problem(str(physics)) is None
    assert learned_depth_problem(str(tmp_path / "absent")) is None  # left to the node (names model_path)
    assert (learned_depth_problem("") is None) == _shipped_is_physics()


def _processes_mentioning(text: str) -> dict:
    """Map pid -> command line of the processes whose command line contains ``text``."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if text in line:
            found[int(cmdline.parent.name)] = line
    return found


@pytest.mark.timeout(120)
def test_demo_sigterm_stops_its_processes_and_exits_143(tmp_path):
    """SIGTERM while the graph starts: every child process is stopped, exit status 143."""
    out = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "haze_ros.ros_tools.demo", "--mode", "haze", "--out",
                             str(out), "--timeout", "60"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    recorder_log = out / "logs" / "recorder.log"
    while not recorder_log.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the recorder (last of the children) is being started
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err
    left = _processes_mentioning(str(tmp_path))  # the recorder's command line names --out
    for pid in left:  # only when the test fails: leave nothing running
        os.kill(pid, signal.SIGKILL)
    assert list(left.values()) == [], "children still running after the demo exited"
