"""Command-line tools: bag processing, replay, recording, demo and benchmarks (``haze_bench``).

Tools reuse ``core.FrameProcessor`` (one pipeline, no second implementation). Modules that talk to
ROS import rclpy / message types themselves; this package imports nothing at load time.
"""
