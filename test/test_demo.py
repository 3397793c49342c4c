"""The README's main-job command runs end to end from the shipped data (no ../shared needed)."""

import json
import subprocess
import sys

import cv2
import pytest
from conftest import REPO


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode, columns", [("both", 3), ("dehaze", 3)])
def test_demo_runs_from_shipped_bag(tmp_path, mode, columns):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "haze_ros.tools.demo", "--mode", mode, "--out", str(out),
                           "--timeout", "60"], cwd=REPO, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames_in"] == 10
    for row in summary["outputs"].values():
        assert row["frames_out"] == 10 and row["dropped"] == 0 and row["latency_ms"]["n"] == 10
    picture = cv2.imread(str(out / "side_by_side.png"))
    assert picture is not None and picture.shape[1] == 480 * columns
    assert (out / "recorded" / "metadata.yaml").is_file()
    assert "frames out, 0 dropped" in done.stdout
