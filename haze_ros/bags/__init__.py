"""ROS-free bag processing: ``haze_bag`` (rosbag2 in, FrameProcessor, rosbag2 out) and its parts.

Modules: ``cli`` (``haze_bag``), ``processing`` (the job: workers, ordering, summary), ``frames``
(one frame: CDR -> array -> FrameProcessor -> CDR), ``depth`` (depth matched by stamp), ``io``
(rosbags reader/writer, staging folder), ``build`` (writing test and demo bags),
``haze_params_msg`` (the haze_params record as a rosbags message), ``haze_sources`` (haze values
from the command line). Nothing here imports rclpy: ``rosbags`` reads and writes the bags.
"""
