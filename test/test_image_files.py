"""Image files in and out (haze_ros.core.image_files): round trips, bit depths, bad files."""

import cv2
import numpy as np
import pytest

from haze_ros.core.image_files import ImageReadError, read_rgb, read_rgb8, write_jpeg, write_png


def _gradient(dtype, full_scale):
    ramp = np.linspace(0, full_scale, 7 * 5 * 3).reshape(7, 5, 3)
    return ramp.astype(dtype)


@pytest.mark.parametrize("dtype,full_scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_png_round_trip_keeps_rgb_order_and_bit_depth(tmp_path, dtype, full_scale):
    rgb = _gradient(dtype, full_scale)
    rgb[0, 0] = (full_scale, 0, 0)  # pure red: a BGR mix-up would read it back as blue
    write_png(tmp_path / "a.png", rgb)
    back = read_rgb(tmp_path / "a.png")
    assert back.dtype == dtype and np.array_equal(back, rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left beside it


def test_read_rgb8_refuses_16_bit_files(tmp_path):
    write_png(tmp_path / "deep.png", _gradient(np.uint16, 65535))
    with pytest.raises(ImageReadError, match="deep.png.*8-bit"):
        read_rgb8(tmp_path / "deep.png")
    write_png(tmp_path / "flat.png", _gradient(np.uint8, 255))
    assert read_rgb8(tmp_path / "flat.png").dtype == np.uint8


def test_grey_and_alpha_files_become_rgb(tmp_path):
    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    back = read_rgb(tmp_path / "grey.png")
    assert back.shape == (4, 5, 3) and all(np.array_equal(back[..., c], grey) for c in range(3))
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 200, 17  # red in BGR order, alpha 17
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    back = read_rgb(tmp_path / "alpha.png")
    assert back.shape == (4, 5, 3) and (back[..., 0] == 200).all() and (back[..., 1:] == 0).all()


@pytest.mark.parametrize("content", [None, b"", b"not an image at all"])
def test_bad_files_raise_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match="bad.png"):
        read_rgb(path)


def test_truncated_png_is_an_error(tmp_path):
    write_png(tmp_path / "whole.png", _gradient(np.uint8, 255))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="cut.png"):
        read_rgb(tmp_path / "cut.png")


def test_jpeg_writer_writes_a_readable_file(tmp_path):
    rgb = np.full((16, 24, 3), (200, 40, 10), np.uint8)
    write_jpeg(tmp_path / "f.jpg", rgb, quality=95)
    back = read_rgb8(tmp_path / "f.jpg")
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).max() <= 4
    assert [p.name for p in tmp_path.iterdir()] == ["f.jpg"]
