"""The lowest layer: contracts, value types and the frame pipeline; imports no other subpackage.

``backend`` (the ``Backend`` contract, ``BackendSpec``, ``BackendError``), ``types`` (``Direction``,
``HazeParams``, ``FrameConditions``), ``stages`` (normalise / quantise), ``layout`` (ROS encodings ↔
RGB views), ``image_msgs`` (Image / CompressedImage ↔ numpy without ROS), ``processor``
(``FrameProcessor``), ``params_file`` (the runtime defaults), ``exit_status``, ``files``.
"""
