"""The rclpy tools: ``haze_replay``, ``haze_record``, ``haze_demo`` and the node benchmark.

Modules: ``replay`` / ``record`` (rosbag2 <-> live topics), ``ros_bridge`` (message classes,
QoS and ``--ros-args`` for both), ``demo`` / ``demo_report`` (the end-to-end demo and its
report), ``bench_node`` (``haze_bench --suite conversion / node``). With ``haze_ros.ros`` the
only code that imports rclpy or message packages.
"""
