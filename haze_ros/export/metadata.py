"""Metadata written into exported ONNX files (``metadata_props``) and checked when they are loaded.

Every key is prefixed ``haze_ros.`` and every value is a string (ONNX stores string pairs). The
metadata says what the graph does (direction), what it expects (layout, value range, size
multiple) and where it came from (package version, checkpoint and training-config SHA-256), so a
runtime can refuse a model exported for the other direction or by an incompatible exporter.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

from haze_ros import __version__
from haze_ros.core.types import Direction

PREFIX = "haze_ros."
FORMAT_VERSION = "1"
IO_RANGE = "0,1"
IO_LAYOUT = "NCHW,RGB,float32"
INPUT_NAME = "input"
OUTPUT_NAME = "output"
VISIBILITY_NAME = "visibility_m"  # haze graphs of the physics generator: (B, 1) float32 metres > 0
AIRLIGHT_NAME = "airlight"        # ... and (B, 3) float32 RGB in [0, 1]
CONDITION_NAMES = (VISIBILITY_NAME, AIRLIGHT_NAME)
DEFAULT_OPSET = 17


class MetadataError(ValueError):
    """ONNX metadata missing, malformed or not matching what the caller needs; names the source."""


def sha256_file(path: Union[str, Path], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (streamed, any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value) -> str:
    """Hex SHA-256 of a JSON value in canonical form (sorted keys, no whitespace): stable across runs."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ModelMetadata:
    """What an exported translator is and where it came from.

    Attributes:
        direction: ``dehaze`` (F_I→J = G_J∘E_I) or ``haze`` (F_J→I = G_I∘E_J).
        size_multiple: the network's spatial multiple; the graph pads to it internally, so any H, W
            is accepted, but sizes that are multiples avoid the padding.
        preset: network preset (``edge``, ``paper``, ...).
        package_version: haze_ros version that exported the file.
        checkpoint_sha256: SHA-256 of the checkpoint's ``.safetensors`` file ("" if exported from a
            module with no checkpoint).
        config_sha256: SHA-256 of the training config in canonical JSON ("" if unknown).
        opset: ONNX opset of the graph.
        input_range / output_range: value range of input and output, ``"0,1"``.
        layout: ``"NCHW,RGB,float32"`` for input and output.
        input_name / output_name: graph I/O tensor names.
        format_version: version of this metadata scheme.
        generator: ``pixel`` or ``physics`` (see :class:`haze_ros.networks.config.NetworkConfig`).
        condition_inputs: comma-separated names of the extra inputs, ``"visibility_m,airlight"`` for
            the physics haze graph (visibility ``(B, 1)`` metres, airlight ``(B, 3)`` in [0, 1]);
            ``""`` for graphs that take the image only.
    """

    direction: str
    size_multiple: int
    preset: str
    package_version: str = __version__
    checkpoint_sha256: str = ""
    config_sha256: str = ""
    opset: int = DEFAULT_OPSET
    input_range: str = IO_RANGE
    output_range: str = IO_RANGE
    layout: str = IO_LAYOUT
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    format_version: str = FORMAT_VERSION
    generator: str = "pixel"
    condition_inputs: str = ""

    @property
    def conditions(self) -> tuple:
        """Names of the extra inputs (empty for image-only graphs)."""
        return tuple(name for name in self.condition_inputs.split(",") if name)

    def __post_init__(self) -> None:
        Direction(self.direction)  # raises ValueError for anything but dehaze/haze
        if int(self.size_multiple) < 1:
            raise MetadataError(f"size_multiple must be >= 1, got {self.size_multiple!r}")
        if self.conditions not in ((), CONDITION_NAMES):
            raise MetadataError(f"condition_inputs must be '' or {','.join(CONDITION_NAMES)!r}, "
                                f"got {self.condition_inputs!r}")

    def to_props(self) -> Dict[str, str]:
        """The ``metadata_props`` pairs: ``{"haze_ros.<field>": str(value)}``."""
        return {PREFIX + key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "model") -> "ModelMetadata":
        """Parse ``metadata_props``; raises ``MetadataError`` naming ``source`` and the missing key."""
        values = {}
        for item in fields(cls):
            key = PREFIX + item.name
            if key not in props:
                if item.name in ("direction", "size_multiple", "preset", "format_version"):
                    raise MetadataError(f"{source}: ONNX metadata key {key!r} is missing (not exported by "
                                        f"haze_export, or by an incompatible version)")
                continue
            values[item.name] = props[key]
        try:
            values["size_multiple"] = int(values["size_multiple"])
            if "opset" in values:
                values["opset"] = int(values["opset"])
            return cls(**values)
        except (ValueError, TypeError) as exc:
            raise MetadataError(f"{source}: invalid haze_ros ONNX metadata: {exc}") from None

    def check(self, source: str = "model", direction: Optional[Union[str, Direction]] = None) -> None:
        """Raise ``MetadataError`` if the model is not usable here (format, ranges, direction)."""
        if self.format_version != FORMAT_VERSION:
            raise MetadataError(f"{source}: metadata format {self.format_version!r}, this haze_ros "
                                f"reads {FORMAT_VERSION!r}; re-export with haze_export")
        if self.input_range != IO_RANGE or self.output_range != IO_RANGE or self.layout != IO_LAYOUT:
            raise MetadataError(f"{source}: expected I/O {IO_LAYOUT} in [{IO_RANGE}], got "
                                f"{self.layout} in [{self.input_range}] -> [{self.output_range}]")
        if direction is not None and Direction(direction).value != self.direction:
            raise MetadataError(f"{source} was exported for direction {self.direction!r}, but "
                                f"{Direction(direction).value!r} was asked for")


def write_metadata(model_proto, metadata: ModelMetadata) -> None:
    """Replace the ``haze_ros.*`` entries of an ``onnx.ModelProto``'s ``metadata_props`` in place.

    Entries are written in sorted key order so that the serialised bytes are deterministic.
    """
    kept = [(p.key, p.value) for p in model_proto.metadata_props if not p.key.startswith(PREFIX)]
    del model_proto.metadata_props[:]
    for key, value in sorted(kept + list(metadata.to_props().items())):
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value


def props_of(model_proto) -> Dict[str, str]:
    """``metadata_props`` of an ``onnx.ModelProto`` as a dict."""
    return {p.key: p.value for p in model_proto.metadata_props}


def read_onnx_metadata(path: Union[str, Path], direction: Optional[Union[str, Direction]] = None
                       ) -> ModelMetadata:
    """Read and check the metadata of an ONNX file; ``direction`` (if given) must match.

    Raises ``MetadataError`` (naming the file) for missing/invalid metadata or a wrong direction, and
    ``FileNotFoundError`` if the file does not exist. The graph's weights are not loaded.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise MetadataError(f"{path}: not a readable ONNX file ({exc})") from None
    metadata = ModelMetadata.from_props(props_of(model), source=str(path))
    metadata.check(str(path), direction)
    return metadata
