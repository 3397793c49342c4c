"""ROS 2 layer of haze_ros: the ``haze_node``, its parameters, haze control, diagnostics, launch helper.

With ``haze_ros.ros_tools`` the only part of the package that imports rclpy or message types; the
ROS-free pieces the node shares with the bag tool live below (``core.image_msgs``,
``core.params_file``, ``hazing``, ``backends.model_identity``).
"""
