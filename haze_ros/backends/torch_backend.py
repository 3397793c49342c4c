"""PyTorch backend: the one-direction translator run by torch, on the CPU or a CUDA GPU.

CPU: fp32, ``torch.inference_mode``, torch's own thread pool. CUDA: fp16 (``precision``), channels_last
memory format, optional CUDA graphs for a fixed frame size (option ``cuda_graphs``), and
``process_frame`` kept entirely on the device (``cuda_frame.CudaFramePath``). Torch is imported
when the backend is built, not when this module is imported.
"""

from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from haze_ros.backends.cuda_frame import CudaFramePath
from haze_ros.backends.haze_inputs import default_haze_from_options, model_haze_inputs
from haze_ros.backends.model_files import PARAM, resolve_model
from haze_ros.core.backend import Backend, BackendError, BackendSpec
from haze_ros.core.types import Direction, FrameConditions

LOG = logging.getLogger(__name__)


def _resolve_device(spec_name: str, requested: str):
    import torch

    if not requested:
        requested = "cuda" if spec_name == "torch_cuda" or torch.cuda.is_available() else "cpu"
    if spec_name == "torch_cuda" and not requested.startswith("cuda"):
        raise BackendError(f"backend torch_cuda needs a CUDA device, but parameter device={requested!r}")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise BackendError(f"parameter device={requested!r} is not a torch device: {exc}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"parameter device={requested!r}: no CUDA device available to torch")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


class TorchBackend(Backend):
    """Run a ``OneDirectionTranslator`` with PyTorch.

    Spec fields used: ``direction``, ``model_path`` (a checkpoint; '' = shipped model), ``device``
    (``cpu``/``cuda[:N]``/'' = CUDA when available), ``precision`` (``fp16`` honoured on CUDA only),
    ``options['cuda_graphs']`` (bool, CUDA only: capture one graph per frame size),
    ``options['cpu_threads']`` (CPU: torch intra-op threads for the whole process; 0 = torch's default).
    A physics-generator haze model (``conditioned``) takes each frame's β and A from
    ``conditions.haze``, else from ``options['visibility_m']`` / ``['beta_per_m']`` / ``['airlight']``.
    """

    name = "torch"

    def __init__(self, spec, module=None) -> None:
        super().__init__(spec.direction)
        import torch

        self._torch = torch
        self._device = _resolve_device(spec.name, spec.device)
        self.device = str(self._device)
        if module is None:
            module = self._load(spec)
        self.preset = str(getattr(module, "preset", "unknown"))
        self.conditioned = bool(getattr(module, "conditioned", False))
        try:
            self._default_haze = default_haze_from_options(dict(spec.options or {}))
        except (TypeError, ValueError) as exc:
            raise BackendError(f"backend {spec.name}: bad haze option: {exc}") from None
        self.network_size_multiple = int(getattr(module, "size_multiple", 1))
        on_cuda = self._device.type == "cuda"
        self.name = "torch_cuda" if on_cuda else "torch"
        self.precision = spec.precision if on_cuda else "fp32"
        if spec.precision == "fp16" and not on_cuda:
            LOG.info("precision fp16 ignored on the CPU: running fp32")
        self._dtype = torch.float16 if self.precision == "fp16" else torch.float32
        threads = int(spec.options.get("cpu_threads", 0) or 0)
        if threads > 0 and not on_cuda:  # process-wide: torch has one intra-op pool
            torch.set_num_threads(threads)
        module = module.eval().to(self._device)
        if on_cuda:
            module = module.to(dtype=self._dtype, memory_format=torch.channels_last)
        self.module = module
        self._use_graphs = bool(spec.options.get("cuda_graphs", False)) and on_cuda
        self._graph = None
        self._frame_path = None
        if on_cuda:
            self._stream = torch.cuda.Stream(self._device)
            self._frame_path = CudaFramePath(self._device, self._stream, self._infer_tensor)

    def _load(self, spec):
        model = resolve_model(spec.model_path)
        if model.kind != "checkpoint":
            raise BackendError(f"parameter {PARAM}={spec.model_path!r}: the torch backend needs a checkpoint "
                               f"(.safetensors + .json), not a {model.kind} file")
        from haze_ros.networks.loading import load_translator

        try:
            return load_translator(model.path, Direction(spec.direction).value, device="cpu")
        except Exception as exc:
            raise BackendError(f"parameter {PARAM}: could not load model {model.path}: {exc}") from exc

    @classmethod
    def from_module(cls, module, direction, device: str = "cpu", precision: str = "fp32",
                    cuda_graphs: bool = False) -> "TorchBackend":
        """Wrap an in-memory translator (benchmarks, tests); same behaviour as a loaded checkpoint."""
        spec = BackendSpec("torch", Direction(direction), device=device, precision=precision,
                           options={"cuda_graphs": cuda_graphs})
        return cls(spec, module=module)

    def _run_module(self, batch, *inputs):
        torch = self._torch
        if self._device.type == "cuda":
            batch = batch.to(self._dtype).contiguous(memory_format=torch.channels_last)
            inputs = tuple(x.to(self._dtype) for x in inputs)
        if not self._use_graphs or inputs:  # conditioned graphs run eagerly (inputs change per frame)
            return self.module(batch, *inputs)
        key = tuple(batch.shape)
        if self._graph is None or self._graph[0] != key:
            try:
                self._graph = self._capture(batch)
            except Exception as exc:  # e.g. host syncs inside the module: not capturable
                LOG.warning("CUDA graph capture failed (%s: %s); running without CUDA graphs",
                            type(exc).__name__, exc)
                self._use_graphs, self._graph = False, None
                torch.cuda.synchronize(self._device)
                return self.module(batch)
        _, graph, static_in, static_out = self._graph
        static_in.copy_(batch)
        graph.replay()
        return static_out

    def _capture(self, batch):
        """Capture a CUDA graph of the module for ``batch``'s shape (after warm-up on a side stream)."""
        torch = self._torch
        static_in = batch.clone()
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.module(static_in)
        torch.cuda.current_stream(self._device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.module(static_in)
        LOG.info("captured a CUDA graph for input %s", tuple(batch.shape))
        return tuple(batch.shape), graph, static_in, static_out

    def _infer_tensor(self, batch, *inputs):
        """``(B, 3, H, W)`` float tensor on this device in [0, 1] (+ the haze inputs) → float32 tensor."""
        with self._torch.inference_mode():
            return self._run_module(batch, *inputs).float()

    def _haze_inputs(self, conditions: Optional[FrameConditions], batch_size: int):
        """The haze graph's visibility ``(B, 1)`` and airlight ``(B, 3)`` on the device (or ())."""
        if not self.conditioned:
            return ()
        arrays = model_haze_inputs(conditions, self._default_haze, self.name, batch_size)
        return tuple(self._torch.from_numpy(a).to(self._device) for a in arrays)

    def infer(self, batch, conditions: Optional[FrameConditions] = None):
        """``(B, 3, H, W)`` float32 [0, 1] (numpy or tensor) → same type; tensors stay on the device."""
        torch = self._torch
        inputs = self._haze_inputs(conditions, int(batch.shape[0]))
        if isinstance(batch, torch.Tensor):
            return self._infer_tensor(batch.to(self._device), *inputs)
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self._device)
        out = self._infer_tensor(tensor, *inputs)
        return out.cpu().numpy()

    def process_frame(self, rgb: np.ndarray, conditions: Optional[FrameConditions] = None) -> np.ndarray:
        """``(H, W, 3)`` uint8/uint16 RGB → same; on CUDA the whole path stays on the device."""
        if self._frame_path is None:
            return super().process_frame(rgb, conditions)
        return self._frame_path(rgb, *self._haze_inputs(conditions, 1))

    def describe(self) -> dict:
        """Backend, device, direction, precision, preset, CUDA-graph use."""
        info = super().describe()
        info.update(precision=self.precision, preset=self.preset, cuda_graphs=self._use_graphs,
                    network_size_multiple=self.network_size_multiple, conditioned=self.conditioned)
        return info

    def close(self) -> None:
        """Drop the module and any captured graph (idempotent)."""
        self._graph = None
        self._frame_path = None
        self.module = None
