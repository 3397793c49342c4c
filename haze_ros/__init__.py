"""haze_ros: dehazing and synthetic haze injection for ROS 2 camera streams.

The package is split into a ROS-free core (``physics``, ``networks``, ``training``,
``evaluation``, ``export``, ``backends``, ``core``) and a ROS layer (``ros``, ``tools``):
only the latter imports rclpy or message types.
"""

__version__ = "0.1.0"
