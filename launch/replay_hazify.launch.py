r"""Full test loop: replay a bag → haze_node (haze or dehaze) → optional recorder of the output.

    ros2 launch haze_ros replay_hazify.launch.py bag:=/data/drive.mcap \\
        image_topic:=/cam/image_raw record_output:=/data/drive_fog haze_visibility_m:=120

``haze_replay`` publishes the bag (raw CDR, recorded QoS and timing × ``rate``) and waits until the
node subscribed; the node comes from ``hazify.launch.py`` / ``dehaze.launch.py``, and every
parameter argument of those files has the same name here (``haze_visibility_m``, ``depth_source``,
``dcp_omega``, ``input_transport`` ...; ``haze_ros.ros.launch_args``); the old names
``visibility_m``, ``airlight``, ``randomize``, ``seed``, ``use_depth`` still work, with a deprecation
warning. ``haze_record`` writes ``<output_topic>`` (+ ``/haze_params`` in haze mode) to
``record_output`` when that is not empty. An argument this file does not declare is an error
(``ros2 launch`` alone would ignore it). ``--show-args`` lists everything.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from haze_ros.ros import launch_args

# Arguments forwarded to the included hazify/dehaze launch file, with the same defaults as there
# (launch configurations are inherited by the included file, so a default here must match its own).
FORWARDED = ("namespace", "node_name", "camera_info_topic", "fastdds_profile", "log_level")
STRUCTURE = {name: launch_args.STRUCTURE_ARGUMENTS[name] for name in FORWARDED}
STRUCTURE["depth_topic"] = launch_args.HAZE_STRUCTURE["depth_topic"]
# node parameters (empty = the params file's value): the arguments of both node launch files
PARAMETER_ARGUMENTS = launch_args.parameter_arguments("both")
PARAMETERS = launch_args.declared_parameter_arguments("both")  # name -> ("", description), with old names
OWN = ("bag", "mode", "image_topic", "output_topic", "rate", "loop", "clock", "wait_subscribers",
       "record_output", "record_storage", "params_file", "strict_arguments")


def _forwarded_parameters(context, mode):
    """The node file's parameter arguments (old names resolved, with warnings); others left out."""
    values, warnings = launch_args.resolve_deprecated(launch_args.argument_values(context, PARAMETERS))
    node_arguments = launch_args.parameter_arguments(mode)
    ignored = sorted(k for k, v in values.items() if v != "" and k not in node_arguments)
    if ignored:
        warnings.append(f"launch argument(s) {', '.join(ignored)} do not apply in mode {mode}: ignored")
    launch_args.warn(warnings)
    forwarded = {k: v for k, v in values.items() if k in node_arguments}
    forwarded.update({old: "" for old in launch_args.DEPRECATED_ARGUMENTS})  # consumed here
    return forwarded


def _loop(context):
    launch_args.check_command_line(context, list(OWN) + list(STRUCTURE) + list(PARAMETERS))
    mode = LaunchConfiguration("mode").perform(context)
    if mode not in ("haze", "dehaze"):
        raise ValueError(f"mode must be haze or dehaze, got {mode!r}")
    image_topic = LaunchConfiguration("image_topic").perform(context)
    output_topic = LaunchConfiguration("output_topic").perform(context) or \
        ("image_hazed" if mode == "haze" else "image_dehazed")
    config = "hazify.yaml" if mode == "haze" else "dehaze.yaml"
    params_file = LaunchConfiguration("params_file").perform(context) or \
        PathJoinSubstitution([FindPackageShare("haze_ros"), "config", config]).perform(context)
    forwarded = {"image_topic": image_topic, "output_topic": output_topic, "params_file": params_file,
                 "strict_arguments": "false"}  # the command line holds this file's arguments
    for name in STRUCTURE:
        forwarded[name] = LaunchConfiguration(name).perform(context)
    forwarded.update(_forwarded_parameters(context, mode))
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
    strict_default, strict_text = launch_args.STRUCTURE_ARGUMENTS["strict_arguments"]
    arguments.append(DeclareLaunchArgument("strict_arguments", default_value=strict_default,
                                           description=strict_text))
    arguments += launch_args.declare(STRUCTURE) + launch_args.declare(PARAMETERS)
    return LaunchDescription(arguments + [OpaqueFunction(function=_loop)])
