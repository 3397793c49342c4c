"""ROS-free haze-mode front end shared by ``haze_node``, ``haze_bag`` and training.

Layer: imports ``haze_ros.core`` and ``haze_ros.physics`` only (no rclpy, no message packages, no
torch), so the node (``ros/``), the bag tool (``bags/``) and training can all use it. ``depth_sync``
matches depth to images by stamp (the node's buffer and the bag tool's).

Modules:

* ``depth_policy``: the ``depth_source`` choices (``topic`` / ``model`` / ``flat_road``), the one
  decode-and-check rule for an aligned depth image (``16UC1`` × scale or ``32FC1`` metres, size
  check, ``depth.max_invalid_fraction``), with the drop reasons both tools report.
* ``sources``: one factory of per-frame haze sources (constant, the paper's randomisation with a
  reference distance, a YAML schedule) from the node's parameter names (``haze.*``).
* ``record``: the per-frame ``haze_params`` record (``HazeRecord``) that both tools publish next to
  each hazed frame, and the header stamp → nanoseconds helper.
"""
