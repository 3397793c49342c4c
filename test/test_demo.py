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
    proc = subprocess.Popen([sys.executable, "-m", "haze_ros.tools.demo", "--mode", "haze", "--out", str(out),
                             "--timeout", "60"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
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
