"""File helpers shared by checkpoints, ONNX export, the engine cache and the bag writers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union


def _umask() -> int:
    """The process umask: from ``/proc/self/status`` (Linux), else by setting it and setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def partial_path(path: Union[str, Path]) -> Path:
    """Name under which this process writes an output until it is complete: ``.<name>.partial-<pid>``.

    In the same folder as ``path`` (so the final rename stays on one file system), hidden, and marked
    as partial, so an interrupted run never leaves something that looks finished.
    """
    path = Path(path)
    return path.parent / f".{path.name}.partial-{os.getpid()}"


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then a rename.

    An interrupted write never leaves a partial file under ``path``; the folder is created if needed.
    The file gets the usual permissions of a new file (0666 minus the umask), not ``mkstemp``'s 0600,
    so a node running as another user can read an exported model or engine.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
