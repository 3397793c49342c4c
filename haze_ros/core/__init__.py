"""ROS-free frame pipeline: value types, image layout helpers and the FrameProcessor."""
