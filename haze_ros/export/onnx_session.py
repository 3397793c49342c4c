"""ONNX Runtime sessions tuned for one-frame inference: the export's parity check and the ORT backend.

``onnxruntime`` is imported when a session is made, not when this module is imported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def make_session(model: Union[str, bytes, Path], providers: Sequence = ("CPUExecutionProvider",),
                 threads: Optional[int] = None):
    """An ``onnxruntime.InferenceSession`` tuned for low-latency single-frame inference.

    ``model``: an ONNX file or its bytes. ``threads`` = intra-op threads (default:
    ``usable_cores()``); graph optimisation ALL; one inter-op thread with sequential execution (the
    graph is a chain of convolutions).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = int(threads or usable_cores())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, sess_options=options, providers=list(providers))
