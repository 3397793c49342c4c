"""Deployment artefacts: ONNX export with metadata, TensorRT engines with a content-addressed cache.

Modules:
    metadata: the ``metadata_props`` written into every exported ONNX file, read back and checked.
    onnx_export: checkpoint / module → ONNX (dynamic H and W), checker, parity against PyTorch.
    onnx_session: ONNX Runtime sessions tuned for one frame (the parity check, the ORT backend).
    engine_cache: cache key (ONNX hash, TensorRT version, GPU, precision, shape profile), sidecar JSON,
        refusal of mismatched or corrupt engines.
    tensorrt_build: TensorRT 10.x builder (imported lazily; the only module that imports ``tensorrt``
        for building).
    cli: ``haze_export``.

Nothing here imports rclpy; ``onnx`` / ``tensorrt`` are imported inside the functions that need them.
"""
