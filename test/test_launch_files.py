"""Launch files: one helper (``haze_ros.ros.launch_args``), arguments that match the params files.

The ``launch`` / ``launch_ros`` packages have no PyPI wheels, so the launch files' structure is read
with ``ast`` and the shared tables and pure helpers are tested directly; where the packages are
importable (a ROS 2 install, or ``../shared/tools/ros2-real-env.sh``), the launch descriptions are
also built for real (``test_ros2_launch_real.py`` runs ``ros2 launch`` itself).
"""

import ast
import importlib.util

import pytest

from conftest import REPO
from haze_ros.ros import launch_args
from test_params import load_params_file

LAUNCH_FILES = {"dehaze.launch.py": "dehaze", "hazify.launch.py": "haze"}


def _tree(name):
    return ast.parse((REPO / "launch" / name).read_text(), filename=name)


def _top_level_imports(tree):
    names = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize("launch_file, mode", sorted(LAUNCH_FILES.items()))
def test_launch_arguments_match_parameters_one_to_one(launch_file, mode):
    parameters = load_params_file(launch_args.CONFIG_FILE[mode])
    mapping = launch_args.parameter_arguments(mode)
    for argument, (parameter, _kind, description) in mapping.items():
        assert parameter in parameters, f"{launch_file}: {argument} sets unknown parameter {parameter}"
        assert argument == parameter.replace(".", "_"), (argument, parameter)
        assert description
    assert len({p for p, _k, _d in mapping.values()}) == len(mapping)
    assert all(description for _default, description in launch_args.structure_arguments(mode).values())
    assert {"params_file", "image_topic", "camera_info_topic", "output_topic", "namespace",
            "strict_arguments"} <= set(launch_args.structure_arguments(mode))
    # the launch file is thin: the shared helper at top level, launch/launch_ros only inside it
    tree = _tree(launch_file)
    assert _top_level_imports(tree) == ["haze_ros.ros"], _top_level_imports(tree)
    assert f'MODE = "{mode}"' in (REPO / "launch" / launch_file).read_text()


def test_haze_launch_files_use_the_same_argument_names():
    """hazify.launch.py and replay_hazify.launch.py name the same parameters the same way (issue 10)."""
    haze = launch_args.declared_parameter_arguments("haze")
    both = launch_args.declared_parameter_arguments("both")
    assert set(haze) <= set(both)
    assert set(launch_args.declared_parameter_arguments("dehaze")) <= set(both)
    assert {"depth_source", "haze_visibility_m", "visibility_m"} <= set(haze)  # visibility_m: deprecated
    assert haze["visibility_m"][1] == "deprecated: use haze_visibility_m"
    source = (REPO / "launch" / "replay_hazify.launch.py").read_text()
    assert "launch_args.declared_parameter_arguments(\"both\")" in source
    assert "launch_args.check_command_line" in source and '"strict_arguments": "false"' in source


def test_parameter_overrides_are_typed_and_empty_keeps_the_file():
    values = {"haze_visibility_m": "80", "haze_airlight": "0.9,0.9,0.95", "haze_randomize": "true",
              "haze_seed": "4", "depth_source": "topic", "backend": "", "dcp_omega": "0.5"}
    assert launch_args.parameter_overrides(values, "haze") == {
        "haze.visibility_m": 80.0, "haze.airlight": [0.9, 0.9, 0.95], "haze.randomize": True,
        "haze.seed": 4, "depth_source": "topic"}
    assert launch_args.parameter_overrides(values, "dehaze") == {"dcp.omega": 0.5}
    with pytest.raises(ValueError, match="haze_randomize:='yes'"):
        launch_args.parameter_overrides({"haze_randomize": "yes"}, "haze")


def test_depth_source_argument_picks_its_backend_unless_backend_is_given(tmp_path):
    physics, learned = tmp_path / "physics.yaml", tmp_path / "learned.yaml"
    physics.write_text("/**:\n  ros__parameters:\n    backend: physics\n    depth_source: flat_road\n")
    learned.write_text("/**:\n  ros__parameters:\n    backend: model\n    depth_source: model\n")
    assert launch_args.pair_backend({"depth_source": "topic"}, str(learned)) == (
        {"depth_source": "topic", "backend": "physics"},
        [f"depth_source:=topic with backend 'model' of {learned}: using backend:=physics"])
    assert launch_args.pair_backend({"depth_source": "model"}, str(physics))[0] == \
        {"depth_source": "model", "backend": "model"}
    assert launch_args.pair_backend({"depth_source": "topic", "backend": "torch"}, str(learned))[0] == \
        {"depth_source": "topic", "backend": "torch"}  # an explicit backend wins (the node refuses it)
    for source, path in (("model", learned), ("topic", physics)):  # the file's backend fits: unchanged
        assert launch_args.pair_backend({"depth_source": source}, str(path)) == ({"depth_source": source}, [])
    assert launch_args.pair_backend({"haze.seed": 3}, str(learned)) == ({"haze.seed": 3}, [])
    assert launch_args.pair_backend({"depth_source": "topic"}, str(tmp_path / "absent.yaml"))[1] == []


def test_deprecated_arguments_map_onto_the_new_names_with_a_warning():
    values, warnings = launch_args.resolve_deprecated({"use_depth": "true", "visibility_m": "120",
                                                       "seed": "", "haze_airlight": ""})
    assert values == {"depth_source": "topic", "haze_visibility_m": "120", "haze_airlight": ""}
    assert sorted(warnings) == ["launch argument use_depth:=true is deprecated: use depth_source:=topic",
                                "launch argument visibility_m:=120 is deprecated: use haze_visibility_m:=120"]
    values, warnings = launch_args.resolve_deprecated({"use_depth": "false", "visibility_m": "90",
                                                       "haze_visibility_m": "70"})
    assert values == {"depth_source": "flat_road", "haze_visibility_m": "70"}
    assert any("ignored" in w for w in warnings)


def test_unknown_command_line_arguments_are_named_with_a_suggestion():
    declared = list(launch_args.structure_arguments("haze")) + list(
        launch_args.declared_parameter_arguments("haze"))
    problems = launch_args.unknown_arguments(["haze_visiblity_m:=80", "image_topic:=/cam", "zzz:=1",
                                              "not-an-argument"], declared)
    assert problems == [
        "unknown launch argument 'haze_visiblity_m'; did you mean haze_visibility_m? "
        "(ros2 launch --show-args lists them)",
        "unknown launch argument 'zzz' (ros2 launch --show-args lists them)"]


def test_launch_args_module_imports_without_launch():
    tree = ast.parse((REPO / "haze_ros" / "ros" / "launch_args.py").read_text())
    assert not [m for m in _top_level_imports(tree) if m.split(".")[0] in ("launch", "launch_ros", "rclpy")]


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_FILES) + ["replay_hazify.launch.py"])
def test_launch_description_builds_with_real_launch(launch_file):
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installed (no PyPI wheel); run under ros2-real-env.sh for this check")
    spec = importlib.util.spec_from_file_location("launch_under_test", REPO / "launch" / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {argument.name for argument in description.get_launch_arguments()}
    assert set(module.PARAMETER_ARGUMENTS) <= names and "strict_arguments" in names
    assert all(argument.description for argument in description.get_launch_arguments())
