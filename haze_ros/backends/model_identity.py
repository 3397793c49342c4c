"""Which model file a backend runs, and its SHA-256: for ``haze_params``, diagnostics and bag summaries.

ROS-free (no rclpy, no message packages): ``haze_node`` and ``haze_bag`` both use it, so the
``model_sha256`` of their ``haze_params`` records is the same for the same ``model_path``.

The file is the one ``model_path`` resolves to (``backends.model_files.resolve_model``; ``""`` =
the shipped ``models/edge.safetensors``): a checkpoint's ``.safetensors``, an ``.onnx`` or an
``.engine``. An ONNX graph or TensorRT engine that a runtime derives from a checkpoint is keyed by
that same hash (``onnx_for_model``, the engine cache), so the hash names the weights that ran.
Classical backends (``physics``, ``dcp``) have no model: path and hash are ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass

from haze_ros.backends.model_files import resolve_model
from haze_ros.export.metadata import sha256_file

CLASSICAL_BACKENDS = ("physics", "dcp")


@dataclass(frozen=True)
class ModelIdentity:
    """The model of a backend: ``path`` (resolved file) and ``sha256`` (hex), both ``""`` without one."""

    path: str = ""
    sha256: str = ""


def model_identity(backend_name: str, model_path: str) -> ModelIdentity:
    """Model file and SHA-256 of backend ``backend_name`` (a built backend's name) for ``model_path``.

    Call it after the backend was built (the file was found and loaded then). Raises ``OSError`` if
    the file cannot be read any more.
    """
    if backend_name in CLASSICAL_BACKENDS:
        return ModelIdentity()
    path = resolve_model(model_path).path
    return ModelIdentity(str(path), sha256_file(path))
