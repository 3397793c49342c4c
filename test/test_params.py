"""Parameter table and validation: the params files cover every parameter, bad values are refused."""

import os

import pytest
import yaml

from conftest import REPO, isolated_ros_domain_id
from haze_ros.core.params_file import backend_knobs
from haze_ros.ros import params


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def load_params_file(name):
    """Flat {parameter: value} of config/<name> (the /** section)."""
    with open(REPO / "config" / name, encoding="utf-8") as stream:
        return _flatten(yaml.safe_load(stream)["/**"]["ros__parameters"])


@pytest.mark.parametrize("name, mode", [("dehaze.yaml", "dehaze"), ("hazify.yaml", "haze")])
def test_params_file_covers_exactly_the_mode_parameters(name, mode):
    values = load_params_file(name)
    assert values["mode"] == mode
    assert set(values) == {s.name for s in params.specs_for_mode(mode)}
    for spec in params.specs_for_mode(mode):
        assert params.check_value(spec, values[spec.name]) is None, spec.name


@pytest.mark.parametrize("changes, fragment", [
    ({"haze.visibility_m": 0.5}, "outside"),
    ({"haze.visibility_m": float("nan")}, "outside"),
    ({"haze.airlight": [1.0, 1.2, 1.0]}, "three values in [0, 1]"),
    ({"haze.airlight": [1.0, 1.0]}, "three values"),
    ({"dcp.patch": 14}, "odd"),
    ({"dcp.omega": 1.5}, "outside"),
    ({"backend": "torch"}, "read-only"),
    ({"mode": "haze"}, "read-only"),
    ({"no.such": 1}, "unknown parameter"),
])
def test_validate_changes_refuses_with_a_reason(changes, fragment):
    reason = params.validate_changes(changes)
    assert reason is not None and fragment in reason


def test_validate_changes_accepts_good_values_and_maps_dcp_knobs():
    good = {"haze.visibility_m": 80.0, "haze.airlight": [0.9, 0.9, 1.0], "dcp.patch": 7, "dcp.omega": 0.8,
            "passthrough_bad_frames": True, "qos_overrides./image_raw.subscription.depth": 3}
    assert params.validate_changes(good) is None
    assert backend_knobs(good) == {"patch": 7, "omega": 0.8}
    assert backend_knobs({"depth_free.focal_px": 0.0, "depth_free.horizon_row": -1.0,
                          "depth_free.camera_height_m": 1.3}) == \
        {"focal_px": None, "horizon_row": None, "camera_height_m": 1.3}


def test_unknown_mode_is_a_parameter_error():
    with pytest.raises(params.ParameterError, match="mode"):
        params.specs_for_mode("fog")


@pytest.fixture
def rclpy_context():
    os.environ["ROS_DOMAIN_ID"] = str(isolated_ros_domain_id())
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def _node(context, overrides):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    return Node("params_test", context=context, start_parameter_services=False,
                parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


def test_declare_all_on_a_real_node_reads_the_file_and_names_missing(rclpy_context):
    values = load_params_file("hazify.yaml")
    node = _node(rclpy_context, values)
    try:
        declared = params.declare_all(node, params.specs_for_mode("haze"))
        assert declared == values
        descriptor = node.describe_parameter("haze.visibility_m")
        assert descriptor.floating_point_range[0].from_value == 1.0 and not descriptor.read_only
        assert node.describe_parameter("backend").read_only
    finally:
        node.destroy_node()
    del values["haze.seed"], values["queue_depth"]
    node = _node(rclpy_context, values)
    try:
        with pytest.raises(params.ParameterError, match=r"not set: queue_depth, haze\.seed"):
            params.declare_all(node, params.specs_for_mode("haze"))
    finally:
        node.destroy_node()


@pytest.mark.parametrize("name, value, reason", [
    ("dcp.patch", 16, "dcp.patch must be odd"),
    ("device", "banana", "device must be cpu, cuda, cuda:N"),
    ("device", "cuda:x", "device must be cpu, cuda, cuda:N"),
])
def test_bad_file_value_names_the_parameter(rclpy_context, name, value, reason):
    values = load_params_file("dehaze.yaml")
    values[name] = value
    node = _node(rclpy_context, values)
    try:
        with pytest.raises(params.ParameterError, match=reason):
            params.declare_all(node, params.specs_for_mode("dehaze"))
    finally:
        node.destroy_node()


@pytest.mark.parametrize("device", ["", "cpu", "cuda", "cuda:1"])
def test_device_values_that_are_accepted(device):
    assert params.check_value(next(s for s in params.SPECS if s.name == "device"), device) is None
