"""Launch haze_node in haze mode: ``ros2 launch haze_ros hazify.launch.py [name:=value ...]``.

Defaults live only in the params file (``config/hazify.yaml``): a parameter argument left empty
keeps the file's value; a non-empty one overrides that parameter (the argument name is the
parameter name with dots as underscores, e.g. ``haze_visibility_m:=80.0`` sets ``haze.visibility_m``).
``ros2 launch haze_ros hazify.launch.py --show-args`` lists every argument.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CONFIG_NAME = "hazify"
OUTPUT = "image_hazed"
# launch argument -> (parameter, type, description); an empty argument keeps the params file value
PARAMETER_ARGUMENTS = {
    "backend": ("backend", str, "backend: physics | torch | onnxruntime | tensorrt | auto | model"),
    "model_path": ("model_path", str, "model file for learned backends"),
    "device": ("device", str, "cpu | cuda | cuda:N"),
    "precision": ("precision", str, "fp32 | fp16 (GPU runtimes)"),
    "input_transport": ("input_transport", str, "raw (image_raw) | compressed (image_raw/compressed)"),
    "passthrough_bad_frames": ("passthrough_bad_frames", bool, "publish bad frames unchanged (true/false)"),
    "depth_source": ("depth_source", str, "depth of the haze: topic (depth_topic) | flat_road | model"),
    "haze_visibility_m": ("haze.visibility_m", float, "meteorological visibility in metres (beta = 3/V)"),
    "haze_airlight": ("haze.airlight", "floats", "atmospheric light as R,G,B in [0, 1], e.g. 0.9,0.9,0.95"),
    "haze_randomize": ("haze.randomize", bool, "paper's per-frame randomisation of A and beta (true/false)"),
    "haze_seed": ("haze.seed", int, "seed of the randomisation"),
    "depth_scale_m_per_unit": ("depth.scale_m_per_unit", float, "metres per unit of 16-bit depth"),
    "depth_complete_sparse": ("depth.complete_sparse", bool, "complete sparse LiDAR depth (true/false)"),
    "depth_free_camera_height_m": ("depth_free.camera_height_m", float, "depth-free model: camera height, m"),
    "depth_free_hfov_deg": ("depth_free.hfov_deg", float, "depth-free model: horizontal field of view, deg"),
}


def _typed(text, kind):
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() == "true"
    if kind == "floats":
        return [float(part) for part in text.strip("[]").split(",")]
    return kind(text)


def _node(context):
    overrides = {}
    for argument, (parameter, kind, _description) in PARAMETER_ARGUMENTS.items():
        text = LaunchConfiguration(argument).perform(context)
        if text != "":
            overrides[parameter] = _typed(text, kind)
    actions = []
    profile = LaunchConfiguration("fastdds_profile").perform(context)
    if profile == "auto" and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        profile = PathJoinSubstitution([FindPackageShare("haze_ros"), "config",
                                        "fastdds_shm.xml"]).perform(context)
    if profile not in ("auto", "none", ""):
        actions.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile))
    actions.append(Node(
        package="haze_ros", executable="haze_node", name=LaunchConfiguration("node_name"),
        namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=[("image_raw", LaunchConfiguration("image_topic")),
                    ("image_raw/compressed", [LaunchConfiguration("image_topic"), "/compressed"]),
                    ("camera_info", LaunchConfiguration("camera_info_topic")),
                    (OUTPUT, LaunchConfiguration("output_topic")),
                    ("depth", LaunchConfiguration("depth_topic")),
                    (OUTPUT + "/haze_params", [LaunchConfiguration("output_topic"), "/haze_params"]),
                    (OUTPUT + "/camera_info", [LaunchConfiguration("output_topic"), "/camera_info"])],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    ))
    return actions


def generate_launch_description():
    """Arguments (with descriptions) and the haze_node in haze mode."""
    share = FindPackageShare("haze_ros")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config",
                                                                                 CONFIG_NAME + ".yaml"]),
                              description="ROS params file holding every parameter's default"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its topics"),
        DeclareLaunchArgument("node_name", default_value="haze_node", description="node name"),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="camera image topic (remaps image_raw; <image_topic>/compressed "
                                          "for compressed input)"),
        DeclareLaunchArgument("camera_info_topic", default_value="camera_info",
                              description="camera_info topic of the camera (remaps camera_info)"),
        DeclareLaunchArgument("output_topic", default_value=OUTPUT,
                              description=f"output image topic (remaps {OUTPUT}; its camera_info goes to "
                                          "<output_topic>/camera_info)"),
        DeclareLaunchArgument("fastdds_profile", default_value="auto",
                              description="Fast DDS XML profile: auto = the package's shared-memory profile "
                                          "unless FASTDDS_DEFAULT_PROFILES_FILE is set; none = leave as is; "
                                          "or a path"),
        DeclareLaunchArgument("depth_topic", default_value="depth",
                              description="aligned depth image topic (remaps depth; used with "
                                          "use_depth:=true)"),
        DeclareLaunchArgument("log_level", default_value="info", description="node log level"),
    ]
    arguments += [DeclareLaunchArgument(name, default_value="",
                                        description=f"{description} (sets {parameter}; empty = params file)")
                  for name, (parameter, _kind, description) in PARAMETER_ARGUMENTS.items()]
    return LaunchDescription(arguments + [OpaqueFunction(function=_node)])
