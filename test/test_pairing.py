"""Pairing files by the last run of digits in their names."""

from pathlib import Path

import pytest

from haze_ros.evaluation.pairing import last_digit_run, pair_folders, pair_key

from conftest import shared_data


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_last_digit_run():
    assert last_digit_run("LIma-000012.png") == 12
    assert last_digit_run("U080-000012.png") == 12  # the last run, not the first
    assert last_digit_run("cam2_frame_0007.jpg") == 7
    assert last_digit_run("15569195938415230.jpg") == 15569195938415230
    assert last_digit_run("no_digits.png") is None
    assert last_digit_run("a1.b22.jpg") == 22  # the suffix is not part of the stem


def test_pairs_unpaired_and_skipped(tmp_path):
    clear, depth = tmp_path / "clear", tmp_path / "depth"
    _touch(clear, "LIma-000001.png", "LIma-000002.png", "LIma-000003.png", "readme_image.png",
           "notes.txt")
    _touch(depth, "LDep-1.png", "LDep-000002.npz", "LDep-000004.png", "LDep-0004.png")
    result = pair_folders(clear, depth, suffixes_b=(".png", ".npz"))
    assert [(a.name, b.name) for a, b in result.pairs] == [("LIma-000001.png", "LDep-1.png"),
                                                           ("LIma-000002.png", "LDep-000002.npz")]
    assert [p.name for p in result.unpaired_a] == ["LIma-000003.png"]
    assert [p.name for p in result.unpaired_b] == ["LDep-000004.png"]
    reasons = {p.name: why for p, why in result.skipped}
    assert "no digits" in reasons["readme_image.png"]
    assert "same number" in reasons["LDep-0004.png"]  # sorted order: the first one keeps the key
    assert "notes.txt" not in reasons  # not an image: ignored
    assert "2 pairs" in result.summary()


def test_nested_folders_pair_per_subfolder(tmp_path):
    rgb, lidar = tmp_path / "scene" / "rgb", tmp_path / "lidar" / "scene"
    _touch(rgb, "CAMERA_01/100.jpg", "CAMERA_05/100.jpg", "CAMERA_05/200.jpg")
    _touch(lidar, "CAMERA_01/100.png", "CAMERA_05/100.png", "CAMERA_06/200.png")
    result = pair_folders(rgb, lidar)
    pairs = {(a.parent.name, a.name): b.relative_to(lidar).as_posix() for a, b in result.pairs}
    assert pairs == {("CAMERA_01", "100.jpg"): "CAMERA_01/100.png",
                     ("CAMERA_05", "100.jpg"): "CAMERA_05/100.png"}
    assert [p.relative_to(rgb).as_posix() for p in result.unpaired_a] == ["CAMERA_05/200.jpg"]
    assert [p.relative_to(lidar).as_posix() for p in result.unpaired_b] == ["CAMERA_06/200.png"]
    assert pair_key(rgb / "CAMERA_05" / "100.jpg", rgb) == "CAMERA_05/100"


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        pair_folders(tmp_path / "absent", tmp_path)


def test_frida2_pairs_every_scene():
    frida = shared_data("frida2")
    result = pair_folders(frida / "clear", frida / "depth_cm_uint16")
    assert len(result.pairs) == 66 and not result.unpaired_a and not result.unpaired_b
    for clear, depth in result.pairs:
        assert last_digit_run(clear.name) == last_digit_run(depth.name)
    fog = pair_folders(frida / "fog_U080_homogeneous", frida / "clear")
    assert len(fog.pairs) == 66


def test_number_ranges():
    from haze_ros.evaluation.pairing import number_in_ranges, parse_number_ranges

    ranges = parse_number_ranges("45-66, 70")
    assert ranges == [(45, 66), (70, 70)]
    assert number_in_ranges(Path("LIma-000045.png"), ranges) and number_in_ranges(Path("x70.jpg"), ranges)
    assert not number_in_ranges(Path("LIma-000044.png"), ranges)
    assert not number_in_ranges(Path("x.png"), ranges)
    for bad in ("", "a-b", "9-3"):
        with pytest.raises(ValueError):
            parse_number_ranges(bad)


def test_every_selects_the_held_out_dawn_split(tmp_path):
    from haze_ros.evaluation.protocol import collect_pairs, hazy_files

    dawn = tmp_path / "dawn_fog"
    _touch(dawn, *[f"foggy-{i:03d}.jpg" for i in (2, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15, 17)], "foggy-005.xml")
    picked = hazy_files(dawn, every=5)
    assert [p.name for p in picked] == ["foggy-002.jpg", "foggy-008.jpg", "foggy-015.jpg"]  # indices 0, 5, 10
    assert [p.name for p in hazy_files(dawn, every=5, limit=2)] == ["foggy-002.jpg", "foggy-008.jpg"]
    try:
        from haze_ros.training.data import dawn_split
    except ImportError as exc:  # the training extras (torch) are absent
        pytest.skip(f"haze_ros.training unavailable: {exc}")
    assert picked == dawn_split(tmp_path, 5)[1]
    with pytest.raises(ValueError, match="--every"):
        hazy_files(dawn, every=0)

    clear, depth = tmp_path / "clear", tmp_path / "depth"
    _touch(clear, *[f"c-{i}.png" for i in range(1, 8)])
    _touch(depth, *[f"d-{i}.png" for i in range(1, 8)])
    triples, _ = collect_pairs([clear], [depth], every=3)
    assert [a.name for _, a, _ in triples] == ["c-1.png", "c-4.png", "c-7.png"]


def test_real_dawn_held_out_split_has_every_fifth_image():
    from haze_ros.evaluation.protocol import hazy_files

    dawn = shared_data("dawn_fog")
    every = hazy_files(dawn, every=5)
    images = hazy_files(dawn)
    assert every == images[::5] and len(every) == -(-len(images) // 5)
