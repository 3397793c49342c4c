"""haze_replay / haze_record command lines: the tool/ROS argument split and option errors (no DDS)."""

import pytest
from conftest import REPO

from haze_ros.ros_tools import replay
from haze_ros.ros_tools.ros_bridge import split_ros_args

DEMO_BAG = REPO / "data" / "demo" / "demo_bag"


@pytest.mark.parametrize("argv, tool, ros", [
    (["p", "bag", "--remap", "/a:=/b"], ["p", "bag", "--remap", "/a:=/b"], ["p"]),
    (["p", "bag", "--ros-args", "-r", "__node:=x", "-p", "use_sim_time:=true"],
     ["p", "bag"], ["p", "--ros-args", "-r", "__node:=x", "-p", "use_sim_time:=true"]),
    (["p", "--ros-args", "-r", "a:=b", "--", "bag", "--loop"], ["p", "bag", "--loop"],
     ["p", "--ros-args", "-r", "a:=b"]),
    (["p", "bag", "--remap", "/a:=/b", "--ros-args", "-r", "c:=d", "--", "--rate", "2", "--ros-args",
      "--log-level", "debug"],
     ["p", "bag", "--remap", "/a:=/b", "--rate", "2"],
     ["p", "--ros-args", "-r", "c:=d", "--ros-args", "--log-level", "debug"]),
])
def test_split_ros_args_keeps_bare_remaps_for_the_tool(argv, tool, ros):
    assert split_ros_args(argv) == (tool, ros)


@pytest.mark.parametrize("args, message", [
    (["--remap", "/demo/drive_notes"], "expected FROM:=TO"),
    (["--remap", ":=/x"], "expected FROM:=TO"),
    (["--rate", "0"], "--rate must be > 0"),
])
def test_bad_options_exit_2_before_touching_dds(args, message, capsys):
    assert replay.main([str(DEMO_BAG), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--duration", "--count", "--idle-timeout", "--wait-topics"])
def test_record_rejects_non_positive_limits_and_writes_nothing(option, tmp_path, capsys):
    from haze_ros.ros_tools import record

    assert record.main([str(tmp_path / "out"), "--topic", "/x", option, "-1"]) == 2
    assert f"{option} must be > 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
