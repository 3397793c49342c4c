"""rclpy ``sensor_msgs/Image`` messages from numpy frames (the ROS-free rest: ``core.image_msgs``)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from haze_ros.core.image_msgs import fill_image_msg


def to_image_msg(image: np.ndarray, encoding: str, header=None) -> Image:
    """New rclpy ``sensor_msgs.msg.Image`` holding ``image`` (see ``core.image_msgs.fill_image_msg``).

    ``image``: ``(H, W, C)`` / ``(H, W)`` array of ``encoding``'s dtype; ``header`` is assigned as is.
    """
    return fill_image_msg(Image(), image, encoding, header)
