"""ROS 2 layer of haze_ros: message conversions, parameters, diagnostics and the ``haze_node``.

The only part of the package (with ``tools``) that imports rclpy or message types. ``conversions``
imports neither at module level, so ROS-free tools (the bag helper on ``rosbags`` messages) can use it.
"""
