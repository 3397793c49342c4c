"""haze_ros: dehazing and synthetic haze injection for ROS 2 camera streams.

The package is split into a ROS-free part (``core``, ``physics``, ``networks``, ``hazing``,
``training``, ``export``, ``backends``, ``evaluation``, ``bags``, ``bench``) and a ROS layer
(``ros``, ``ros_tools``): only the latter imports rclpy or message types. Subpackages import one way,
in that order (``test/test_import_layers.py``).
"""

__version__ = "0.1.0"
