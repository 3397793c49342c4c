"""Launch files: they parse, every argument has a description, parameter arguments match the params file.

The ``launch`` / ``launch_ros`` packages have no PyPI wheels, so the structure is read with ``ast``;
where they are importable (a ROS 2 install, or ``../shared/tools/ros2-real-env.sh``), the launch
description is also built for real.
"""

import ast
import importlib.util

import pytest

from conftest import REPO
from test_params import load_params_file

LAUNCH_FILES = {"dehaze.launch.py": "dehaze.yaml", "hazify.launch.py": "hazify.yaml"}


def _tree(name):
    return ast.parse((REPO / "launch" / name).read_text(), filename=name)


def _parameter_arguments(tree):
    """{launch argument: parameter} from the module-level PARAMETER_ARGUMENTS dict."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PARAMETER_ARGUMENTS":
            pairs = zip(node.value.keys, node.value.values)
            return {ast.literal_eval(k): ast.literal_eval(v.elts[0]) for k, v in pairs}
    raise AssertionError("PARAMETER_ARGUMENTS not found")


def _declared_arguments(tree):
    """(name, has non-empty description) of every literal DeclareLaunchArgument call."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            if isinstance(node.args[0], ast.Constant):
                description = {k.arg: k.value for k in node.keywords}.get("description")
                found.append((node.args[0].value, description is not None and
                              not (isinstance(description, ast.Constant) and not description.value)))
    return found


@pytest.mark.parametrize("launch_file, params_file", sorted(LAUNCH_FILES.items()))
def test_launch_arguments_match_parameters_one_to_one(launch_file, params_file):
    tree = _tree(launch_file)
    mapping = _parameter_arguments(tree)
    parameters = load_params_file(params_file)
    for argument, parameter in mapping.items():
        assert parameter in parameters, f"{launch_file}: {argument} sets unknown parameter {parameter}"
        assert argument == parameter.replace(".", "_"), (argument, parameter)
    assert len(set(mapping.values())) == len(mapping)
    declared = _declared_arguments(tree)
    assert all(described for _name, described in declared), declared
    names = {name for name, _ in declared}
    assert {"params_file", "image_topic", "camera_info_topic", "output_topic", "namespace"} <= names
    source = (REPO / "launch" / launch_file).read_text()
    assert "FindPackageShare" in source and f'"{params_file[:-5]}"' in source


@pytest.mark.parametrize("launch_file", sorted(LAUNCH_FILES))
def test_launch_description_builds_with_real_launch(launch_file):
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not installed (no PyPI wheel); run under ros2-real-env.sh for this check")
    spec = importlib.util.spec_from_file_location("launch_under_test", REPO / "launch" / launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {argument.name for argument in description.get_launch_arguments()}
    assert set(module.PARAMETER_ARGUMENTS) <= names
