"""Export a one-direction translator to ONNX, check it, and compare ONNX Runtime against PyTorch.

The graph takes and returns ``(B, 3, H, W)`` float32 RGB in [0, 1] with dynamic B, H and W; the
translator's own padding to its size multiple (replicate) and the final crop are part of the graph,
so any frame size is accepted. Export uses PyTorch's TorchScript-based exporter (``dynamo=False``):
it needs no ``onnxscript`` and produces byte-identical files for identical inputs.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from haze_ros.core.files import atomic_write_bytes
from haze_ros.core.stages import to_batch
from haze_ros.core.types import Direction
from haze_ros.export import metadata as md
from haze_ros.export.onnx_session import make_session

LOG = logging.getLogger(__name__)

# Ops that both TensorRT 10's ONNX parser and ONNX Runtime's CPU provider implement. Anything else
# in an exported graph is reported by ``unsupported_ops`` (and fails ``export_translator``).
PORTABLE_OPS = frozenset("""
Abs Add And AveragePool BatchNormalization Cast Ceil Clip Concat Constant ConstantOfShape Conv
ReduceMax ReduceMin
ConvTranspose DepthToSpace Div Elu Equal Erf Exp Expand Flatten Floor Gather Gemm GlobalAveragePool Greater
HardSigmoid Identity InstanceNormalization LeakyRelu Less MatMul Max MaxPool Min Mod Mul Neg Not Or
Pad Pow PRelu Range Reciprocal ReduceMean ReduceSum Relu Reshape Resize Shape Sigmoid Slice Softplus
SpaceToDepth Split Sqrt Squeeze Sub Tanh Tile Transpose Unsqueeze Where
""".split())
PORTABLE_PAD_MODES = {"constant", "reflect", "edge"}
PORTABLE_RESIZE_MODES = {"nearest", "linear"}
PORTABLE_RESIZE_COORDS = {"asymmetric", "half_pixel", "pytorch_half_pixel", "align_corners"}
MIN_NORM_EPSILON = 1e-6  # smaller epsilons vanish in fp16 engines (fp16 subnormals start at 6e-8)
TRACE_SIZE_HW = (67, 93)  # odd size: traces the translator's pad-to-multiple and crop branches


@dataclass
class ExportResult:
    """What ``export_translator`` wrote.

    Attributes:
        onnx_path: the written file.
        metadata: the ``haze_ros.*`` metadata embedded in it.
        onnx_sha256: SHA-256 of the file's bytes (engine cache key input).
        ops: sorted op types used by the graph.
        warnings: exporter warnings worth reading (tracer warnings about shape-dependent Python code).
    """

    onnx_path: Path
    metadata: md.ModelMetadata
    onnx_sha256: str
    ops: List[str]
    warnings: List[str] = field(default_factory=list)


@dataclass
class ParityCase:
    """ONNX Runtime vs PyTorch on one input: ``size`` as (H, W), max/mean absolute error in [0, 1] units."""

    size: Tuple[int, int]
    max_abs: float
    mean_abs: float
    ok: bool


@functools.lru_cache(maxsize=1)
def graph_code_sha256() -> str:
    """Hex SHA-256 of the source of ``haze_ros.networks`` and of this module: the code of the graphs.

    Part of the ONNX cache's file names (``haze_ros.backends.model_files``), so an upgrade of
    haze_ros that changes the graphs re-exports a cached checkpoint instead of running the old
    graph. Computed once per process (``*.py`` files, sorted by name).
    """
    digest = hashlib.sha256()
    networks = Path(__file__).resolve().parent.parent / "networks"
    for path in sorted(networks.glob("*.py")) + [Path(__file__)]:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _attribute(node, name: str, default=None):
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            value = onnx.helper.get_attribute_value(attr)
            return value.decode() if isinstance(value, bytes) else value
    return default


def unsupported_ops(model_proto) -> List[str]:
    """Problems that would stop TensorRT or ONNX Runtime from running the graph (empty = portable).

    Checks op types against ``PORTABLE_OPS``, Pad and Resize modes, and InstanceNormalization
    epsilon (must be ≥ ``MIN_NORM_EPSILON`` to survive fp16).
    """
    problems = []
    for node in model_proto.graph.node:
        if node.op_type not in PORTABLE_OPS:
            problems.append(f"op {node.op_type} ({node.name}) is not in the TensorRT/ORT portable set")
        elif node.op_type == "Pad" and _attribute(node, "mode", "constant") not in PORTABLE_PAD_MODES:
            problems.append(f"Pad mode {_attribute(node, 'mode')!r} ({node.name})")
        elif node.op_type == "Resize":
            mode = _attribute(node, "mode", "nearest")
            coords = _attribute(node, "coordinate_transformation_mode", "half_pixel")
            if mode not in PORTABLE_RESIZE_MODES or coords not in PORTABLE_RESIZE_COORDS:
                problems.append(f"Resize mode={mode!r} coordinates={coords!r} ({node.name})")
        elif node.op_type == "InstanceNormalization":
            epsilon = _attribute(node, "epsilon", 1e-5)
            if epsilon < MIN_NORM_EPSILON:
                problems.append(f"InstanceNormalization epsilon {epsilon:g} < {MIN_NORM_EPSILON:g} "
                                f"({node.name})")
    return problems


def condition_arrays(batch_size: int, visibility_m: float = 150.0,
                     airlight: Sequence[float] = (0.9, 0.9, 0.9)) -> Tuple[np.ndarray, np.ndarray]:
    """The haze graph's extra inputs: visibility ``(B, 1)`` [m] and airlight ``(B, 3)``, float32."""
    return (np.full((batch_size, 1), visibility_m, np.float32),
            np.tile(np.asarray(airlight, np.float32)[None], (batch_size, 1)))


def _trace_to_bytes(module, opset: int, trace_hw: Tuple[int, int]) -> Tuple[bytes, List[str]]:
    """Run the TorchScript exporter on ``module`` (CPU, fp32, eval); returns (bytes, warnings).

    A ``conditioned`` module (the physics haze direction) gets the inputs ``visibility_m`` and
    ``airlight`` after the image, with a dynamic batch dimension.
    """
    import torch

    sample = torch.rand((1, 3) + tuple(trace_hw), generator=torch.Generator().manual_seed(0))
    args, names = (sample,), [md.INPUT_NAME]
    dynamic = {0: "batch", 2: "height", 3: "width"}
    axes = {md.INPUT_NAME: dynamic, md.OUTPUT_NAME: dynamic}
    if getattr(module, "conditioned", False):
        args += tuple(torch.from_numpy(a) for a in condition_arrays(1))
        names += list(md.CONDITION_NAMES)
        axes.update({name: {0: "batch"} for name in md.CONDITION_NAMES})
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught, torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("always")
        torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset,
                          input_names=names, output_names=[md.OUTPUT_NAME], dynamic_axes=axes,
                          do_constant_folding=True)
    notes = sorted({str(w.message).splitlines()[0] for w in caught
                    if issubclass(w.category, torch.jit.TracerWarning)})
    return buffer.getvalue(), notes


def export_translator(module, out_path: Union[str, Path], metadata: md.ModelMetadata,
                      trace_hw: Tuple[int, int] = TRACE_SIZE_HW) -> ExportResult:
    """Export ``module`` ((B, 3, H, W) float32 [0, 1] → same) to ``out_path`` with ``metadata``.

    The whole path is one graph: padding, network, guided upsampling and the eq. (1)
    recomposition; the physics haze direction also takes ``visibility_m`` and ``airlight``.

    The module is exported on the CPU in fp32 and eval mode (it is not modified: a copy is moved).
    Raises ``ValueError`` if the checker fails or the graph uses ops outside ``PORTABLE_OPS``.
    The file is written to a temporary name and renamed, so a failure leaves no partial output.
    """
    import copy

    import onnx

    out_path = Path(out_path)
    cpu_module = copy.deepcopy(module).float().cpu().eval()
    raw, tracer_notes = _trace_to_bytes(cpu_module, metadata.opset, trace_hw)
    model = onnx.load_from_string(raw)
    md.write_metadata(model, metadata)
    model.doc_string = f"haze_ros {metadata.direction} translator ({metadata.preset})"
    onnx.checker.check_model(model, full_check=True)
    problems = unsupported_ops(model)
    if problems:
        raise ValueError("exported graph is not portable to TensorRT/ONNX Runtime: " + "; ".join(problems))
    data = model.SerializeToString(deterministic=True)
    atomic_write_bytes(out_path, data)
    for note in tracer_notes:
        LOG.info("exporter: %s", note)
    import hashlib

    return ExportResult(onnx_path=out_path, metadata=metadata, onnx_sha256=hashlib.sha256(data).hexdigest(),
                        ops=sorted({n.op_type for n in model.graph.node}), warnings=tracer_notes)


def checkpoint_files(checkpoint: Union[str, Path]) -> Tuple[Path, Path]:
    """``(NAME.safetensors, NAME.json)`` for a checkpoint given by either file.

    Raises ``FileNotFoundError`` if either is missing.
    """
    path = Path(checkpoint)
    weights, sidecar = path.with_suffix(".safetensors"), path.with_suffix(".json")
    for item in (weights, sidecar):
        if not item.is_file():
            raise FileNotFoundError(f"checkpoint file {item} not found (a checkpoint is NAME.safetensors "
                                    f"+ NAME.json)")
    return weights, sidecar


def metadata_for_checkpoint(checkpoint: Union[str, Path], module, direction: Union[str, Direction],
                            opset: int = md.DEFAULT_OPSET) -> md.ModelMetadata:
    """Metadata for exporting ``module`` loaded from ``checkpoint`` (hashes of weights and config)."""
    from haze_ros.networks.loading import read_checkpoint_meta

    weights, _ = checkpoint_files(checkpoint)
    meta = read_checkpoint_meta(weights)
    return md.ModelMetadata(
        direction=Direction(direction).value, size_multiple=int(module.size_multiple),
        preset=str(getattr(module, "preset", meta.get("model", {}).get("preset", "unknown"))),
        checkpoint_sha256=md.sha256_file(weights), config_sha256=md.sha256_json(meta.get("training", {})),
        opset=opset, **module_io_metadata(module))


def module_io_metadata(module) -> dict:
    """``generator`` and ``condition_inputs`` metadata fields of a translator module."""
    config = getattr(module, "config", None)
    return {"generator": str(getattr(config, "generator", "pixel")),
            "condition_inputs": ",".join(md.CONDITION_NAMES) if getattr(module, "conditioned", False) else ""}


def export_checkpoint(checkpoint: Union[str, Path], direction: Union[str, Direction],
                      out_path: Union[str, Path],
                      opset: int = md.DEFAULT_OPSET) -> Tuple[ExportResult, object]:
    """Load ``checkpoint`` for ``direction`` and export it to ``out_path``; returns (result, module)."""
    from haze_ros.networks.loading import load_translator

    weights, _ = checkpoint_files(checkpoint)
    module = load_translator(weights, Direction(direction).value, device="cpu").eval()
    metadata = metadata_for_checkpoint(weights, module, direction, opset)
    return export_translator(module, out_path, metadata), module


def frames_to_batches(frames: Iterable[np.ndarray]) -> List[np.ndarray]:
    """``(H, W, 3)`` uint8/uint16 RGB frames → ``(1, 3, H, W)`` float32 [0, 1] batches."""
    return [to_batch(frame) for frame in frames]


def check_parity(onnx_path: Union[str, Path], module, batches: Sequence[np.ndarray],
                 max_abs_tol: float = 1e-4, session=None) -> List[ParityCase]:
    """Run each ``(B, 3, H, W)`` float32 [0, 1] batch through ONNX Runtime (CPU) and ``module`` (fp32 CPU).

    Returns one ``ParityCase`` per batch; ``ok`` means max |ORT − PyTorch| ≤ ``max_abs_tol``.
    """
    import torch

    session = session or make_session(str(onnx_path), providers=["CPUExecutionProvider"])
    module = module.float().cpu().eval()
    conditioned = getattr(module, "conditioned", False)
    cases = []
    for index, batch in enumerate(batches):
        feed = {md.INPUT_NAME: batch.astype(np.float32)}
        extra = condition_arrays(batch.shape[0], visibility_m=40.0 + 60.0 * index,
                                 airlight=(0.95, 0.9, 0.85)) if conditioned else ()
        feed.update(zip(md.CONDITION_NAMES, extra))
        ort_out = session.run([md.OUTPUT_NAME], feed)[0]
        with torch.no_grad():
            torch_out = module(*(torch.from_numpy(a) for a in (feed[md.INPUT_NAME],) + tuple(extra))).numpy()
        if ort_out.shape != torch_out.shape:
            raise ValueError(f"shape mismatch ORT {ort_out.shape} vs PyTorch {torch_out.shape}")
        diff = np.abs(ort_out - torch_out)
        max_abs = float(diff.max())
        cases.append(ParityCase(size=tuple(batch.shape[2:]), max_abs=max_abs,
                                mean_abs=float(diff.mean()), ok=max_abs <= max_abs_tol))
    return cases


def default_parity_sizes() -> List[Tuple[int, int]]:
    """(H, W) sizes used by ``haze_export --verify``: multiples, odd sizes and a 16:9 frame."""
    return [(64, 64), (67, 93), (121, 160), (180, 320)]


def random_batches(sizes: Sequence[Tuple[int, int]], seed: int = 0,
                   frame: Optional[np.ndarray] = None) -> List[np.ndarray]:
    """Parity inputs: crops of ``frame`` ((H, W, 3) uint8) where it is big enough, else seeded noise."""
    rng = np.random.default_rng(seed)
    batches = []
    for h, w in sizes:
        if frame is not None and frame.shape[0] >= h and frame.shape[1] >= w:
            batches.extend(frames_to_batches([np.ascontiguousarray(frame[:h, :w])]))
        else:
            batches.append(rng.random((1, 3, h, w), dtype=np.float32))
    return batches
