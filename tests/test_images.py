"""engine.images: every bad input gives a typed one-line InputError; every odd-but-valid format
loads to the same 8-bit sRGB pixels; downscale and EXIF mappings are exact."""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from engine.errors import InputError
from engine.images import BACKGROUND_GREY, MIN_SIDE, Photo, apply_exif_orientation, load_photo
from tests.photos import photo_path, read_rgb, save_oriented


def _input_error(path: Path | str, **kw: object) -> str:
    with pytest.raises(InputError) as info:
        load_photo(path, **kw)
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 300, message
    return message


def _jpeg_bytes(rgb: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _input_error(tmp_path / "nope.jpg")


def test_directory(tmp_path: Path) -> None:
    assert "folder" in _input_error(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert "empty" in _input_error(tmp_path / "empty.jpg")


def test_text_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n" * 20)
    message = _input_error(path)
    assert "not an image" in message and "text" in message


def test_heic_is_named(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200))
    assert "HEIC" in _input_error(path)


@pytest.mark.parametrize("keep", [0.6, 0.02])
def test_truncated_jpeg(tmp_path: Path, astronaut_rgb: np.ndarray, keep: float) -> None:
    data = _jpeg_bytes(astronaut_rgb)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: int(len(data) * keep)])
    message = _input_error(path)
    assert "truncated" in message.lower() or "damaged" in message


def test_corrupt_jpeg_data(tmp_path: Path, astronaut_rgb: np.ndarray) -> None:
    data = bytearray(_jpeg_bytes(astronaut_rgb))
    rng = np.random.default_rng(0)
    data[2000:-2000] = rng.integers(0, 256, len(data) - 4000, dtype=np.uint8).tobytes()
    path = tmp_path / "noise.jpg"
    path.write_bytes(bytes(data))
    assert "damaged" in _input_error(path)


def test_truncated_png(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(takeo_rgb).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    assert "truncated" in _input_error(path)


def test_corrupt_png_data_is_not_hidden(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    """A flipped byte inside IDAT must be an error, not a silently half-decoded photo."""
    buf = io.BytesIO()
    Image.fromarray(takeo_rgb).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[100] ^= 0xFF
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))
    assert "damaged" in _input_error(path)


def test_truncated_16bit_png(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    ok, enc = cv2.imencode(".png", takeo_rgb[:, :, ::-1].astype(np.uint16) * 257)
    assert ok
    path = tmp_path / "cut16.png"
    path.write_bytes(enc.tobytes()[: len(enc) // 2])
    assert "16-bit" in _input_error(path)


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny valid 8x8 grey PNG whose IHDR then claims ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("L", (8, 8), 0).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize("side", [13_000, 60_000])
def test_decompression_bomb(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_size(side, side))
    assert "too large" in _input_error(path)


def test_max_pixels_is_configurable(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    Image.fromarray(takeo_rgb).save(tmp_path / "t.png")
    assert "too large" in _input_error(tmp_path / "t.png", max_pixels=10_000)


def test_tiny_image(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    Image.fromarray(takeo_rgb[:40, :60]).save(tmp_path / "tiny.png")
    message = _input_error(tmp_path / "tiny.png")
    assert "60x40" in message and str(MIN_SIDE) in message


# ----------------------------------------------------------------------------- formats


def test_plain_rgb_roundtrip(takeo_rgb: np.ndarray) -> None:
    photo = load_photo(photo_path("takeo"))
    assert isinstance(photo, Photo)
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (225, 150, 3)
    assert photo.rgb.flags.c_contiguous
    np.testing.assert_array_equal(photo.rgb, takeo_rgb)
    assert photo.original_size == (150, 225) and photo.scale == 1.0
    assert photo.warnings == [] and photo.alpha is None


def test_grayscale_jpeg() -> None:
    photo = load_photo(photo_path("einstein"))
    assert photo.source_mode == "L" and photo.rgb.shape == (1024, 817, 3)
    np.testing.assert_array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    np.testing.assert_array_equal(photo.rgb[..., 1], read_rgb(photo_path("einstein"))[..., 1])


def test_la_and_rgba_composite_on_grey(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    alpha = np.full(takeo_rgb.shape[:2], 255, np.uint8)
    alpha[:, :30] = 0  # transparent strip
    alpha[:, 30:40] = 128  # half-transparent strip
    Image.fromarray(np.dstack([takeo_rgb, alpha])).save(tmp_path / "rgba.png")
    grey = takeo_rgb[..., 1]
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "la.png")
    for name, src in [("rgba.png", takeo_rgb), ("la.png", np.dstack([grey] * 3))]:
        photo = load_photo(tmp_path / name)
        assert np.all(photo.rgb[:, :30] == BACKGROUND_GREY)
        np.testing.assert_array_equal(photo.rgb[:, 40:], src[:, 40:])
        expected = np.round(src[:, 30:40] * (128 / 255) + BACKGROUND_GREY * (127 / 255))
        assert np.abs(photo.rgb[:, 30:40].astype(int) - expected).max() <= 1
        np.testing.assert_array_equal(photo.alpha, alpha)
        assert any("grey" in w for w in photo.warnings)


def test_opaque_rgba_drops_alpha(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    alpha = np.full(takeo_rgb.shape[:2], 255, np.uint8)
    Image.fromarray(np.dstack([takeo_rgb, alpha])).save(tmp_path / "opaque.png")
    photo = load_photo(tmp_path / "opaque.png")
    assert photo.alpha is None and photo.warnings == []
    np.testing.assert_array_equal(photo.rgb, takeo_rgb)


def test_palette_with_and_without_transparency(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    pal = Image.fromarray(takeo_rgb).quantize(64)
    pal.save(tmp_path / "p.png")
    expected = np.asarray(pal.convert("RGB"))
    np.testing.assert_array_equal(load_photo(tmp_path / "p.png").rgb, expected)
    index = np.asarray(pal)[0, 0]
    pal.save(tmp_path / "pt.png", transparency=int(index))
    photo = load_photo(tmp_path / "pt.png")
    assert photo.alpha is not None and photo.alpha[0, 0] == 0
    assert np.all(photo.rgb[0, 0] == BACKGROUND_GREY)


def test_16bit_rgb_png_is_rounded_not_truncated(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    rgb16 = takeo_rgb.astype(np.uint16) * 257
    rgb16[0, 0] = 0xFF00  # 65280 / 257 = 254.0; Pillow's high-byte truncation would give 255
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[:, :, ::-1])
    assert Image.open(tmp_path / "rgb16.png").getpixel((0, 0))[0] == 255  # Pillow's way
    photo = load_photo(tmp_path / "rgb16.png")
    assert photo.source_mode == "RGB;16"
    assert tuple(photo.rgb[0, 0]) == (254, 254, 254)
    np.testing.assert_array_equal(photo.rgb[1:], takeo_rgb[1:])


def test_16bit_grey_and_rgba_png(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    grey16 = takeo_rgb[..., 1].astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    photo = load_photo(tmp_path / "g16.png")
    assert photo.source_mode == "I;16"
    np.testing.assert_array_equal(photo.rgb, np.dstack([takeo_rgb[..., 1]] * 3))
    alpha16 = np.full(grey16.shape, 65535, np.uint16)
    alpha16[:10] = 0
    bgra16 = np.dstack([takeo_rgb[:, :, ::-1].astype(np.uint16) * 257, alpha16])
    cv2.imwrite(str(tmp_path / "rgba16.png"), bgra16)
    photo = load_photo(tmp_path / "rgba16.png")
    assert np.all(photo.rgb[:10] == BACKGROUND_GREY)
    np.testing.assert_array_equal(photo.rgb[10:], takeo_rgb[10:])


def test_cmyk_jpeg(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    Image.fromarray(takeo_rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    photo = load_photo(tmp_path / "cmyk.jpg")
    assert photo.source_mode == "CMYK" and photo.rgb.shape == takeo_rgb.shape
    assert np.abs(photo.rgb.astype(int) - takeo_rgb).mean() < 3
    assert any("CMYK" in w for w in photo.warnings)


def test_animated_gif_uses_first_frame(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    frames = [Image.fromarray(takeo_rgb), Image.fromarray(255 - takeo_rgb)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    photo = load_photo(tmp_path / "anim.gif")
    assert any("first one" in w for w in photo.warnings)
    assert np.abs(photo.rgb.astype(int) - takeo_rgb).mean() < 12  # GIF palette, frame 0


def test_icc_profiles(tmp_path: Path, takeo_rgb: np.ndarray) -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    Image.fromarray(takeo_rgb).save(tmp_path / "srgb.png", icc_profile=profile.tobytes())
    photo = load_photo(tmp_path / "srgb.png")  # sRGB-tagged: untouched, no note
    np.testing.assert_array_equal(photo.rgb, takeo_rgb)
    assert photo.warnings == []
    Image.fromarray(takeo_rgb).save(tmp_path / "junk.png", icc_profile=b"not a profile" * 10)
    photo = load_photo(tmp_path / "junk.png")  # unreadable profile: assumed sRGB, with a note
    np.testing.assert_array_equal(photo.rgb, takeo_rgb)
    assert any("profile" in w for w in photo.warnings)


# ----------------------------------------------------------------------------- EXIF


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_exact(
    tmp_path: Path, takeo_rgb: np.ndarray, orientation: int
) -> None:
    path = save_oriented(takeo_rgb, orientation, tmp_path / f"o{orientation}.png")
    stored = read_rgb(path)
    assert np.array_equal(np.asarray(ImageOps.exif_transpose(Image.open(path))), takeo_rgb)
    photo = load_photo(path)
    assert photo.exif_orientation == orientation
    np.testing.assert_array_equal(photo.rgb, takeo_rgb)
    assert photo.original_size == (150, 225)  # displayed, not stored, size
    np.testing.assert_array_equal(apply_exif_orientation(stored, orientation), takeo_rgb)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_jpeg(tmp_path: Path, takeo_rgb: np.ndarray, orientation: int) -> None:
    path = save_oriented(takeo_rgb, orientation, tmp_path / "o.jpg", quality=95)
    photo = load_photo(path)
    assert photo.rgb.shape == takeo_rgb.shape
    assert np.abs(photo.rgb.astype(int) - takeo_rgb).mean() < 3


# ----------------------------------------------------------------------------- scale


def _dot_photo(tmp_path: Path, size: tuple[int, int], dots: np.ndarray, fmt: str) -> Path:
    """A black ``size = (w, h)`` image with 5x5 white squares centred on integer ``dots``."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    for x, y in dots.astype(int):
        img[y - 2 : y + 3, x - 2 : x + 3] = 255
    path = tmp_path / f"dots.{fmt}"
    Image.fromarray(img).save(path, quality=98) if fmt == "jpg" else Image.fromarray(img).save(path)
    return path


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_downscale_maps_back_to_input_pixels(tmp_path: Path, fmt: str) -> None:
    dots = np.array([[40, 50], [3001, 77], [1500, 1999], [5233, 3411]], dtype=np.float64)
    path = _dot_photo(tmp_path, (5300, 3500), dots, fmt)  # JPEG: decoded with DCT scaling
    photo = load_photo(path, max_side=1024)
    assert max(photo.size) == 1024 and photo.original_size == (5300, 3500)
    assert photo.scale == pytest.approx(5300 / 1024)
    assert any("downscaled" in w for w in photo.warnings)
    lum = photo.rgb[..., 1].astype(np.float64)
    found = []
    for x, y in photo.to_working_pixels(dots):
        x0, y0 = int(round(x)) - 3, int(round(y)) - 3
        win = lum[y0 : y0 + 7, x0 : x0 + 7]
        yy, xx = np.mgrid[y0 : y0 + 7, x0 : x0 + 7]
        found.append([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])
    back = photo.to_input_pixels(np.array(found))
    assert np.abs(back - dots).max() < 0.35 * photo.scale
    homog = np.c_[np.array(found), np.ones(len(found))] @ photo.input_from_working().T
    np.testing.assert_allclose(homog[:, :2], back, atol=1e-9)


def test_no_downscale_is_identity(takeo_rgb: np.ndarray) -> None:
    photo = load_photo(photo_path("takeo"))
    xy = np.array([[0.0, 0.0], [149.0, 224.0], [10.25, 3.5]])
    np.testing.assert_allclose(photo.to_input_pixels(xy), xy)
    np.testing.assert_allclose(photo.input_from_working(), np.eye(3))


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_exif_rotated_and_downscaled(tmp_path: Path, fmt: str) -> None:
    dots = np.array([[100, 200], [1800, 2900]], dtype=np.float64)  # displayed coordinates
    img = np.zeros((3000, 2000, 3), np.uint8)
    for x, y in dots.astype(int):
        img[y - 4 : y + 5, x - 4 : x + 5] = 255
    path = save_oriented(img, 6, tmp_path / f"rot.{fmt}")  # JPEG: DCT-scaled decode + rotate
    photo = load_photo(path, max_side=1000)
    assert photo.original_size == (2000, 3000) and photo.size == (667, 1000)
    lum = photo.rgb[..., 1]
    for x, y in photo.to_working_pixels(dots):
        assert lum[int(round(y)), int(round(x))] > 20
