"""Launch haze_node in dehaze mode: ``ros2 launch haze_ros dehaze.launch.py [name:=value ...]``.

Defaults live only in the params file (``config/dehaze.yaml``): a parameter argument left empty
keeps the file's value; a non-empty one overrides that parameter (the argument name is the
parameter name with dots as underscores, e.g. ``dcp_omega:=0.9`` sets ``dcp.omega``). An argument
this file does not declare is an error (``ros2 launch`` alone would ignore it).
``ros2 launch haze_ros dehaze.launch.py --show-args`` lists every argument; the arguments and the
node action are shared with ``hazify.launch.py`` (``haze_ros.ros.launch_args``).
"""

from haze_ros.ros import launch_args

MODE = "dehaze"
PARAMETER_ARGUMENTS = launch_args.parameter_arguments(MODE)  # launch argument -> (parameter, type, text)


def generate_launch_description():
    """Arguments (with descriptions) and the haze_node in dehaze mode."""
    return launch_args.node_launch_description(MODE)
