r"""Full test loop: replay a bag → haze_node (haze or dehaze) → optional recorder of the output.

    ros2 launch haze_ros replay_hazify.launch.py bag:=/data/drive.mcap \\
        image_topic:=/cam/image_raw record_output:=/data/drive_fog visibility_m:=120

``haze_replay`` publishes the bag (raw CDR, recorded QoS and timing × ``rate``) and waits until the
node subscribed; the node comes from ``hazify.launch.py`` / ``dehaze.launch.py`` (every argument of
those files can be passed through: ``visibility_m``, ``randomize``, ``input_transport`` ...);
``haze_record`` writes ``<output_topic>`` (+ ``/haze_params`` in haze mode) to ``record_output``
when that is not empty. ``--show-args`` lists everything.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

# Arguments forwarded to the included hazify/dehaze launch file, with the same defaults as there
# (launch configurations are inherited by the included file, so a default here must match its own).
STRUCTURE = {
    "namespace": ("", "namespace of the node and its topics"),
    "node_name": ("haze_node", "node name"),
    "camera_info_topic": ("camera_info", "camera_info topic of the camera (remaps camera_info)"),
    "depth_topic": ("depth", "aligned depth topic (haze mode, with use_depth:=true)"),
    "fastdds_profile": ("auto", "Fast DDS profile: auto = the package's shared-memory profile; none; "
                                "or a path"),
    "log_level": ("info", "node log level"),
}
# node parameters (empty = the params file's value); dehaze-only / haze-only ones are ignored by the other
PARAMETERS = {
    "backend": "backend (physics / dcp / torch / onnxruntime / tensorrt / auto / model)",
    "model_path": "model file for learned backends",
    "device": "cpu | cuda | cuda:N",
    "input_transport": "raw (image_raw) | compressed (image_raw/compressed)",
    "passthrough_bad_frames": "publish bad frames unchanged (true/false)",
    "use_depth": "haze: subscribe the aligned depth topic (true/false)",
    "visibility_m": "haze: meteorological visibility in metres",
    "airlight": "haze: airlight R,G,B in [0, 1]",
    "randomize": "haze: the paper's per-frame randomisation (true/false)",
    "seed": "haze: seed of the randomisation",
    "dcp_omega": "dehaze: DCP omega",
}


def _loop(context):
    mode = LaunchConfiguration("mode").perform(context)
    if mode not in ("haze", "dehaze"):
        raise ValueError(f"mode must be haze or dehaze, got {mode!r}")
    image_topic = LaunchConfiguration("image_topic").perform(context)
    output_topic = LaunchConfiguration("output_topic").perform(context) or \
        ("image_hazed" if mode == "haze" else "image_dehazed")
    config = "hazify.yaml" if mode == "haze" else "dehaze.yaml"
    params_file = LaunchConfiguration("params_file").perform(context) or \
        PathJoinSubstitution([FindPackageShare("haze_ros"), "config", config]).perform(context)
    forwarded = {"image_topic": image_topic, "output_topic": output_topic, "params_file": params_file}
    for name in list(STRUCTURE) + list(PARAMETERS):
        forwarded[name] = LaunchConfiguration(name).perform(context)
    node_launch = "hazify.launch.py" if mode == "haze" else "dehaze.launch.py"
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("haze_ros"), "launch", node_launch])),
        launch_arguments=forwarded.items())
    replay_args = [LaunchConfiguration("bag").perform(context),
                   "--rate", LaunchConfiguration("rate").perform(context),
                   "--wait-subscribers", LaunchConfiguration("wait_subscribers").perform(context)]
    if LaunchConfiguration("loop").perform(context).lower() == "true":
        replay_args.append("--loop")
    if LaunchConfiguration("clock").perform(context).lower() == "true":
        replay_args.append("--clock")
    record_output = LaunchConfiguration("record_output").perform(context)
    namespace = LaunchConfiguration("namespace").perform(context).strip("/")
    resolved = output_topic if output_topic.startswith("/") else \
        "/" + "/".join(p for p in (namespace, output_topic) if p)
    if record_output:  # start playing only once the node subscribed and the recorder listens
        transport = LaunchConfiguration("input_transport").perform(context)
        image_in = image_topic if image_topic.startswith("/") else \
            "/" + "/".join(p for p in (namespace, image_topic) if p)
        suffix = "/compressed" if transport == "compressed" else ""
        replay_args += ["--wait-for", image_in + suffix, resolved]
    replay = Node(package="haze_ros", executable="haze_replay", name="haze_replay", output="screen",
                  arguments=replay_args)
    actions = [include, replay]
    if record_output:
        topics = [resolved] + ([resolved + "/haze_params"] if mode == "haze" else [])
        record_args = [record_output, "--storage", LaunchConfiguration("record_storage").perform(context)]
        for topic in topics:
            record_args += ["--topic", topic]
        actions.append(Node(package="haze_ros", executable="haze_record", name="haze_record", output="screen",
                            arguments=record_args))
    return actions


def generate_launch_description():
    """Arguments (with descriptions), then replay + node (+ recorder)."""
    arguments = [
        DeclareLaunchArgument("bag", description="bag to replay: rosbag2 folder, .mcap/.db3 file or "
                                                 "ROS 1 .bag"),
        DeclareLaunchArgument("mode", default_value="haze",
                              description="haze (hazify.launch.py) or dehaze (dehaze.launch.py)"),
        DeclareLaunchArgument("image_topic", default_value="image_raw",
                              description="the bag's camera topic the node subscribes (for compressed "
                                          "input give the topic without /compressed and "
                                          "input_transport:=compressed)"),
        DeclareLaunchArgument("output_topic", default_value="",
                              description="node output topic (default image_hazed / image_dehazed)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="replay speed factor"),
        DeclareLaunchArgument("loop", default_value="false", description="replay in a loop (true/false)"),
        DeclareLaunchArgument("clock", default_value="false", description="publish the bag time on /clock"),
        DeclareLaunchArgument("wait_subscribers", default_value="30",
                              description="seconds the replay waits for the node to subscribe"),
        DeclareLaunchArgument("record_output", default_value="",
                              description="record the node's output to this new bag folder "
                                          "(empty = no recorder)"),
        DeclareLaunchArgument("record_storage", default_value="mcap",
                              description="recorder storage: mcap | sqlite3"),
    ]
    arguments.append(DeclareLaunchArgument("params_file", default_value="",
                                           description="node params file (default: config/hazify.yaml or "
                                                       "config/dehaze.yaml by mode)"))
    arguments += [DeclareLaunchArgument(name, default_value=default, description=description)
                  for name, (default, description) in STRUCTURE.items()]
    arguments += [DeclareLaunchArgument(name, default_value="",
                                        description=f"{description} (empty = params file)")
                  for name, description in PARAMETERS.items()]
    return LaunchDescription(arguments + [OpaqueFunction(function=_loop)])
