"""Launch haze_node in haze mode: ``ros2 launch haze_ros hazify.launch.py [name:=value ...]``.

Defaults live only in the params file (``config/hazify.yaml``): a parameter argument left empty
keeps the file's value; a non-empty one overrides that parameter (the argument name is the
parameter name with dots as underscores, e.g. ``haze_visibility_m:=80.0`` sets ``haze.visibility_m``;
``depth_source:=topic`` with ``depth_topic:=...`` hazes with an aligned depth image). The old names
``use_depth``, ``visibility_m``, ``airlight``, ``randomize``, ``seed`` still work, with a deprecation
warning. An argument this file does not declare is an error (``ros2 launch`` alone would ignore it).
``ros2 launch haze_ros hazify.launch.py --show-args`` lists every argument; the arguments and the
node action are shared with ``dehaze.launch.py`` (``haze_ros.ros.launch_args``).
"""

from haze_ros.ros import launch_args

MODE = "haze"
PARAMETER_ARGUMENTS = launch_args.parameter_arguments(MODE)  # launch argument -> (parameter, type, text)


def generate_launch_description():
    """Arguments (with descriptions) and the haze_node in haze mode."""
    return launch_args.node_launch_description(MODE)
