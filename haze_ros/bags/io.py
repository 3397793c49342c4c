"""Rosbag reading and writing for the bag tools, on ``rosbags`` (pure Python, no ROS install needed).

* Input: a rosbag2 folder (sqlite3 or MCAP storage), a single ``.mcap`` (or ``.db3``) file, or a
  ROS 1 ``.bag`` file (read by ``rosbags.highlevel.AnyReader``; its messages are converted to CDR).
* Output: a rosbag2 folder (metadata version 9, sqlite3 or MCAP storage), written under a temporary
  name in the output's directory and renamed only when complete (``OutputBag.commit``), so that an
  interrupted or failed run never leaves something that looks like a finished bag.
* Messages cross this module as raw CDR bytes; every message that is not rewritten is copied byte
  for byte with its original timestamp, message definition, type hash and QoS profiles.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from haze_ros.core.files import partial_path

LOG = logging.getLogger(__name__)

STORAGES = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"

# Errors that rosbags and its storages raise for damaged files (besides their own error types).
_READ_ERRORS = (AnyReaderError, sqlite3.DatabaseError, OSError, EOFError, ValueError, KeyError,
                IndexError, AssertionError)


class BagToolError(RuntimeError):
    """A bag cannot be processed; the message says which file and why (CLI: exit status 2)."""


def ros2_typestore():
    """Typestore with the ROS 2 Kilted message definitions (Humble's Image/CompressedImage are identical)."""
    return get_typestore(Stores.ROS2_KILTED)


@dataclass
class InputBag:
    """An open input bag. Use ``open_input`` to create one; close with ``close()`` or ``with``."""

    path: Path
    reader: AnyReader
    storage: str
    _ros2_types: object = None

    @property
    def typestore(self):
        """Types the CDR of ``messages()`` decodes with: the bag's own; ROS 2 Kilted for ROS 1 bags."""
        if not self.is_ros1:
            return self.reader.typestore
        if self._ros2_types is None:
            self._ros2_types = ros2_typestore()
        return self._ros2_types

    def _ros1_to_cdr(self, raw: bytes, msgtype: str) -> bytes:
        """ROS 1 wire format → CDR (ROS 2 definition when known: the ROS 1 header ``seq`` is dropped)."""
        store = self.typestore if msgtype in self.typestore.fielddefs else self.reader.typestore
        return bytes(store.ros1_to_cdr(raw, msgtype))

    @property
    def is_ros1(self) -> bool:
        """Tell whether the input is a ROS 1 ``.bag`` (messages are converted to CDR on the way out)."""
        return not self.reader.is2

    @property
    def connections(self) -> List[Connection]:
        """List the connections of the bag: topic, type, definition, QoS."""
        return list(self.reader.connections)

    def topic_types(self) -> Dict[str, str]:
        """Topic name → message type name (``pkg/msg/Type``)."""
        return {c.topic: c.msgtype for c in self.reader.connections}

    def messages(self, connections: Sequence[Connection] = ()) -> Iterator[Tuple[Connection, int, bytes]]:
        """Yield ``(connection, timestamp_ns, raw_cdr)`` in timestamp order (all connections if empty).

        Raises ``BagToolError`` when the file turns out to be corrupt or truncated while reading.
        """
        try:
            for conn, stamp, raw in self.reader.messages(connections=list(connections)):
                if self.is_ros1:
                    raw = self._ros1_to_cdr(raw, conn.msgtype)
                yield conn, stamp, raw
        except _READ_ERRORS as exc:
            raise BagToolError(f"input bag {self.path} is corrupt or truncated: "
                               f"{type(exc).__name__}: {exc}") from exc

    def deserialize(self, raw: bytes, msgtype: str):
        """CDR bytes (as from ``messages()``) → rosbags message dataclass."""
        return self.typestore.deserialize_cdr(raw, msgtype)

    def serialize(self, message, msgtype: str) -> bytes:
        """Rosbags message dataclass → CDR bytes (little endian), with ``typestore``."""
        return bytes(self.typestore.serialize_cdr(message, msgtype))

    def check_counts(self, seen: Dict[int, int]) -> None:
        """Raise ``BagToolError`` if fewer messages were readable than the bag's index announces.

        ``seen`` maps connection id → messages read. Catches silently truncated storage files.
        """
        for conn in self.reader.connections:
            announced = conn.msgcount
            if announced and seen.get(conn.id, 0) < announced:
                raise BagToolError(
                    f"input bag {self.path} is truncated: topic {conn.topic} announces {announced} "
                    f"messages, only {seen.get(conn.id, 0)} could be read")

    def close(self) -> None:
        """Close the reader (idempotent)."""
        if self.reader.stack is not None:
            self.reader.close()

    def __enter__(self) -> "InputBag":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def detect_storage(path: Path) -> str:
    """Storage of ``path``: ``"sqlite3"``, ``"mcap"`` or ``"ros1"``; raises ``BagToolError`` if unknown."""
    if path.is_dir():
        if not (path / "metadata.yaml").is_file():
            raise BagToolError(f"{path} is a folder without metadata.yaml: not a rosbag2 bag")
        files = {p.suffix for p in path.iterdir()}
        if ".mcap" in files:
            return "mcap"
        if ".db3" in files:
            return "sqlite3"
        raise BagToolError(f"{path} holds no .mcap or .db3 storage file")
    storage = {".mcap": "mcap", ".db3": "sqlite3", ".bag": "ros1"}.get(path.suffix)
    if storage is None:
        raise BagToolError(f"{path}: expected a rosbag2 folder, a .mcap/.db3 file or a ROS 1 .bag")
    return storage


def open_input(path: Path) -> InputBag:
    """Open a bag for reading; raises ``BagToolError`` (missing, unknown format, corrupt)."""
    path = Path(path)
    if not path.exists():
        raise BagToolError(f"input bag {path} does not exist")
    storage = detect_storage(path)
    try:
        reader = AnyReader([path], default_typestore=ros2_typestore())
        reader.open()
    except (FileNotFoundError, *_READ_ERRORS, Exception) as exc:  # rosbags raises many kinds
        raise BagToolError(f"cannot open input bag {path} (corrupt or truncated?): "
                           f"{type(exc).__name__}: {exc}") from exc
    return InputBag(path=path, reader=reader, storage=storage)


def offered_qos(conn: Connection) -> list:
    """Return the connection's recorded QoS profiles (rosbags ``Qos`` list; empty for ROS 1 bags)."""
    if isinstance(conn.ext, ConnectionExtRosbag2):
        return list(conn.ext.offered_qos_profiles)
    return []


def discard_partial(path: Path) -> None:
    """Remove this process's staging folder for ``path`` if there is one (idempotent)."""
    shutil.rmtree(partial_path(path), ignore_errors=True)


class OutputBag:
    """A rosbag2 bag written under a temporary name and renamed to ``path`` by ``commit()``.

    The bag is written to ``<staging>/<name>`` with ``staging = partial_path(path)``, so its storage
    file already carries the final name (rosbags names it after the bag folder: ``<name>.mcap``,
    ``<name>.db3``); ``commit`` only moves that folder up and removes the staging folder.

    Args:
        path: final bag folder. Must not exist unless ``overwrite`` (then replaced on commit only).
        storage: ``"sqlite3"`` or ``"mcap"``.
        overwrite: allow replacing an existing ``path`` once the new bag is complete.
    """

    def __init__(self, path: Path, storage: str, overwrite: bool = False) -> None:
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagToolError(f"--storage must be one of {sorted(STORAGES)}, got {storage!r}")
        if self.path.exists() and not overwrite:
            raise BagToolError(f"output {self.path} exists already (pass --overwrite to replace it)")
        if not self.path.parent.is_dir():
            raise BagToolError(f"output folder {self.path.parent} does not exist")
        self.storage = storage
        self.staging = partial_path(self.path)
        discard_partial(self.path)
        self.staging.mkdir()
        self.tmp_path = self.staging / self.path.name
        try:
            self.writer = Writer(self.tmp_path, version=9, storage_plugin=STORAGES[storage])
            self.writer.open()
        except BaseException:
            discard_partial(self.path)
            raise
        self._ros2_types = ros2_typestore()
        self._by_input: Dict[int, Connection] = {}
        self._by_topic: Dict[str, Connection] = {}
        self.sidecars: Dict[str, str] = {}

    def connection_like(self, conn: Connection, bag_typestore) -> Connection:
        """Output connection mirroring input ``conn``: same topic, type, definition, hash and QoS."""
        if conn.id in self._by_input:
            return self._by_input[conn.id]
        msgdef, digest = None, None
        if isinstance(conn.ext, ConnectionExtRosbag2) and conn.msgdef.format != MessageDefinitionFormat.NONE \
                and conn.digest:
            msgdef, digest = conn.msgdef.data, conn.digest
        typestore = self._ros2_types if conn.msgtype in self._ros2_types.fielddefs else bag_typestore
        fmt = conn.ext.serialization_format if isinstance(conn.ext, ConnectionExtRosbag2) else "cdr"
        out = self._add(conn.topic, conn.msgtype, typestore, msgdef, digest, fmt, offered_qos(conn))
        self._by_input[conn.id] = out
        return out

    def new_connection(self, topic: str, msgtype: str, qos: Sequence = ()) -> Connection:
        """Add (once) a connection for a new topic with a ROS 2 Kilted message type."""
        if topic not in self._by_topic:
            self._by_topic[topic] = self._add(topic, msgtype, self._ros2_types, None, None, "cdr", qos)
        return self._by_topic[topic]

    def _add(self, topic, msgtype, typestore, msgdef, digest, fmt, qos) -> Connection:
        kwargs = {"msgdef": msgdef, "rihs01": digest} if msgdef else {"typestore": typestore}
        for existing in self.writer.connections:  # same topic+type+QoS twice: share the connection
            if existing.topic == topic and existing.msgtype == msgtype \
                    and list(existing.ext.offered_qos_profiles) == list(qos):
                return existing
        return self.writer.add_connection(topic, msgtype, serialization_format=fmt,
                                          offered_qos_profiles=list(qos), **kwargs)

    def serialize_new(self, message, msgtype: str) -> bytes:
        """Serialize a message built with ``ros2_typestore()`` types to CDR bytes."""
        return bytes(self._ros2_types.serialize_cdr(message, msgtype))

    def write(self, conn: Connection, stamp_ns: int, raw: bytes) -> None:
        """Append one raw CDR message at bag time ``stamp_ns``."""
        self.writer.write(conn, stamp_ns, raw)

    def set_metadata(self, key: str, value: str) -> None:
        """Store ``key: value`` in the bag's ``custom_data`` (metadata.yaml)."""
        self.writer.set_custom_data(key, value)

    def add_sidecar(self, name: str, text: str) -> None:
        """Write ``text`` as file ``name`` inside the bag folder at commit time."""
        self.sidecars[name] = text

    def commit(self) -> Path:
        """Finish the bag and move it to its final name (replacing an old one if allowed)."""
        self.writer.close()
        for name, text in self.sidecars.items():
            (self.tmp_path / name).write_text(text, encoding="utf-8")
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.old-{os.getpid()}"
            os.replace(self.path, old)
        os.replace(self.tmp_path, self.path)
        self.staging.rmdir()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        return self.path

    def abort(self) -> None:
        """Discard everything written so far (nothing is left at ``path`` or the temporary name)."""
        try:
            self.writer.abort()
        except Exception as exc:  # noqa: BLE001 - best effort before deleting the files
            LOG.debug("writer abort failed: %s", exc)
        shutil.rmtree(self.staging, ignore_errors=True)
