"""Benchmarks without ROS: ``haze_bench`` and its suites, the plain reference DCP, the GPU check.

Modules: ``cli`` (``haze_bench``; the rclpy suites ``conversion`` and ``node`` live in
``haze_ros.ros_tools.bench_node`` and are loaded by name when asked for), ``common`` (timing,
rows, machine record, samples), ``physics`` (physics, dcp, processor suites), ``models`` (learned
runtimes), ``reference`` (the yardstick DCP), ``gpu_check`` (GPU tests + benchmark report).
"""
