"""ONNX export: round trip, parity with PyTorch on real frames, metadata, checker, determinism, CLI."""

import onnx
import pytest

from haze_ros.core.types import Direction
from haze_ros.export import metadata as md
from haze_ros.export import onnx_export
from model_fixtures import sample_frame, write_random_checkpoint

# (H, W): multiples of the size multiple, odd sizes, a tiny frame and a whole 960x540 sample frame.
PARITY_SIZES = [(64, 64), (67, 93), (121, 160), (7, 5), (540, 960)]  # graphs need H, W >= 4


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "edge")


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "edge_dehaze.onnx"
    result, module = onnx_export.export_checkpoint(checkpoint, "dehaze", out)
    return result, module


def test_round_trip_parity_on_real_frames(exported):
    result, module = exported
    frame = sample_frame(3)
    batches = onnx_export.frames_to_batches([frame[:h, :w] for h, w in PARITY_SIZES])
    cases = onnx_export.check_parity(result.onnx_path, module, batches, max_abs_tol=1e-4)
    assert [c.size for c in cases] == PARITY_SIZES
    for case in cases:
        assert case.ok, f"ORT vs PyTorch max abs {case.max_abs:.2e} at {case.size}"


def test_dynamic_batch(exported):
    result, module = exported
    batch = onnx_export.random_batches([(33, 47)], seed=1)[0].repeat(2, axis=0)
    (case,) = onnx_export.check_parity(result.onnx_path, module, [batch])
    assert case.ok


def test_metadata_written_and_checked(exported, checkpoint, tmp_path):
    result, module = exported
    meta = md.read_onnx_metadata(result.onnx_path, Direction.DEHAZE)
    assert meta.direction == "dehaze" and meta.preset == "edge"
    assert meta.size_multiple == module.size_multiple == 16
    assert meta.generator == "physics" and meta.condition_inputs == ""
    assert meta.checkpoint_sha256 == md.sha256_file(checkpoint)
    from haze_ros.networks.loading import read_checkpoint_meta

    assert meta.config_sha256 == md.sha256_json(read_checkpoint_meta(checkpoint)["training"])
    assert meta.opset == md.DEFAULT_OPSET and meta.input_range == "0,1" and meta.layout == md.IO_LAYOUT
    props = md.props_of(onnx.load(str(result.onnx_path)))
    for key in ("direction", "size_multiple", "preset", "package_version", "checkpoint_sha256",
                "config_sha256", "opset", "input_range", "output_range"):
        assert md.PREFIX + key in props
    with pytest.raises(md.MetadataError, match="direction 'dehaze'"):
        md.read_onnx_metadata(result.onnx_path, Direction.HAZE)
    # a file without the metadata is refused, naming the file and the key
    stripped = onnx.load(str(result.onnx_path))
    del stripped.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(stripped, str(bare))
    with pytest.raises(md.MetadataError, match=r"bare\.onnx.*haze_ros\.direction"):
        md.read_onnx_metadata(bare)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a protobuf" * 10)
    with pytest.raises(md.MetadataError, match="garbage.onnx"):
        md.read_onnx_metadata(garbage)


def test_checker_passes_and_ops_portable(exported):
    result, _ = exported
    model = onnx.load(str(result.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert onnx_export.unsupported_ops(model) == []
    names = {i.name for i in model.graph.input}, {o.name for o in model.graph.output}
    assert names == ({md.INPUT_NAME}, {md.OUTPUT_NAME})
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_unsupported_ops_are_reported():
    helper = onnx.helper
    nodes = [helper.make_node("Pad", ["x", "p"], ["y"], mode="wrap", name="pad_wrap"),
             helper.make_node("InstanceNormalization", ["y", "s", "b"], ["z"], epsilon=1e-9, name="tiny_eps"),
             helper.make_node("Resize", ["z", "", "sc"], ["r"], mode="cubic", name="cubic"),
             helper.make_node("NonMaxSuppression", ["r", "r"], ["n"], name="nms")]
    graph = helper.make_graph(nodes, "g", [], [])
    problems = " ".join(onnx_export.unsupported_ops(helper.make_model(graph)))
    for expected in ("pad_wrap", "tiny_eps", "cubic", "NonMaxSuppression"):
        assert expected in problems


def test_export_is_deterministic(checkpoint, tmp_path):
    first, _ = onnx_export.export_checkpoint(checkpoint, "haze", tmp_path / "a.onnx")
    second, _ = onnx_export.export_checkpoint(checkpoint, "haze", tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    assert first.onnx_sha256 == second.onnx_sha256 == md.sha256_file(tmp_path / "a.onnx")
    assert md.read_onnx_metadata(tmp_path / "a.onnx").direction == "haze"


def test_missing_checkpoint_half_is_an_error(checkpoint, tmp_path):
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes(checkpoint.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"lonely\.json"):
        onnx_export.export_checkpoint(lonely, "dehaze", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_exports_and_verifies(checkpoint, tmp_path, capsys):
    from haze_ros.export import cli

    out = tmp_path / "cli.onnx"
    args = ["--checkpoint", str(checkpoint), "--direction", "dehaze", "--onnx", str(out), "--verify"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "onnx.checker: passed" in text and text.count(" ok") == len(onnx_export.default_parity_sizes())
    assert md.read_onnx_metadata(out, "dehaze").preset == "edge"
    with pytest.raises(SystemExit):
        cli.main(["--checkpoint", str(checkpoint), "--direction", "dehaze", "--onnx", str(out),
                  "--min-shape", "1x4x8x8"])


def test_cli_keeps_the_old_file_when_verification_fails(checkpoint, tmp_path, capsys):
    from haze_ros.export import cli

    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")
    args = ["--checkpoint", str(checkpoint), "--direction", "dehaze", "--onnx", str(out)]
    assert cli.main(args + ["--verify", "--tolerance", "0"]) == 1  # no run matches to 0
    assert "parity check failed" in capsys.readouterr().err
    assert out.read_bytes() == b"previous export" and [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert cli.main(args + ["--opset", "9"]) == 2
    assert "needs opset 11" in capsys.readouterr().err
    assert cli.main(args) == 0  # replaced once the export succeeded
    assert md.read_onnx_metadata(out, "dehaze").preset == "edge"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_cli_engine_without_tensorrt_fails_clearly(checkpoint, tmp_path, capsys, monkeypatch):
    import sys

    from haze_ros.export import cli

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    status = cli.main(["--checkpoint", str(checkpoint), "--direction", "haze",
                       "--onnx", str(tmp_path / "h.onnx"), "--engine", str(tmp_path / "h.engine")])
    assert status == 1
    assert "cannot build a TensorRT engine here" in capsys.readouterr().err
    assert not (tmp_path / "h.engine").exists()
