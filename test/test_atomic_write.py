"""atomic_write_bytes: all or nothing, and the permissions of an ordinary new file."""

import os
import stat

import pytest

from haze_ros.core.files import atomic_write_bytes


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_written_file_follows_the_umask_not_mkstemp(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "sub" / "model.onnx", b"abc")
    finally:
        os.umask(old)
    target = tmp_path / "sub" / "model.onnx"
    assert target.read_bytes() == b"abc"
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "engine.plan"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # the write raises inside the temporary file
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["engine.plan"]
