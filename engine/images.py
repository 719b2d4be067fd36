"""Robust photo loading: any common photo file -> one 8-bit sRGB working image plus the mapping
back to the pixels of the input photo.

Coordinates
-----------
Pixel coordinates follow ``docs/conventions.md``: column ``u`` (x, right), row ``v`` (y, down),
origin top-left, pixel centres at integer coordinates.

* The **input photo** is the file *as displayed*: its EXIF orientation tag has been applied, so a
  portrait taken with a rotated phone is measured upright. ``Photo.original_size`` is its
  ``(width, height)`` in that displayed orientation. ``params.json`` (camera ``K``, landmarks) is
  expressed in these pixels.
* The **working image** ``Photo.rgb`` is the input photo downscaled (never upscaled) so that its
  longer side is at most ``max_side``. Every stage works on it; results go back to input pixels
  with :meth:`Photo.to_input_pixels` (points) and :meth:`Photo.input_from_working` (a 3x3 matrix
  for intrinsics: ``K_input = photo.input_from_working() @ K_working``).

Colour
------
``Photo.rgb`` is 8-bit sRGB. Grey photos are replicated to three channels; 16-bit photos are
rounded to 8 bits; CMYK and photos with an embedded non-sRGB ICC profile (e.g. Display P3) are
converted to sRGB. Transparent pixels are composited over neutral mid-grey (sRGB 128, about 22 %
linear), not white: semi-transparent hair and skin edges then keep their brightness instead of
gaining a white halo that the delighting and hair stages would read as highlights, and a grey
background is neither skin-coloured nor a bright light source. The original alpha is kept in
``Photo.alpha`` so later stages know which pixels were background.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from engine.errors import InputError

__all__ = [
    "Photo",
    "load_photo",
    "apply_exif_orientation",
    "BACKGROUND_GREY",
    "MIN_SIDE",
    "MAX_PIXELS",
]

BACKGROUND_GREY = 128
"""sRGB 8-bit value that transparent pixels are composited over (neutral mid-grey)."""

MIN_SIDE = 64
"""Smallest accepted photo side in pixels (a face needs at least 64 pixels, see landmarks)."""

MAX_PIXELS = 150_000_000
"""Largest accepted photo (width x height of the file); larger files are refused unread."""

_EXIF_ORIENTATION_TAG = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError)


@dataclass
class Photo:
    """A loaded photo.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 sRGB working image, row 0 = top, displayed orientation.
        path: the file it came from.
        original_size: ``(width, height)`` of the input photo in its displayed orientation.
        scale: nominal input pixels per working pixel (``>= 1``; ``1.0`` when not downscaled).
            The exact per-axis factors are :attr:`scale_xy`.
        warnings: one-line notes for the user about what was changed while loading.
        alpha: ``(H, W)`` uint8 opacity of the working image (255 = opaque), or ``None`` when
            the file had no (non-trivial) transparency.
        exif_orientation: the EXIF orientation tag found in the file (1..8; 1 = upright).
        source_mode: pixel format of the file, e.g. ``"RGB"``, ``"L"``, ``"RGBA"``, ``"CMYK"``,
            ``"RGB;16"`` (16-bit colour), ``"I;16"`` (16-bit grey).
    """

    rgb: np.ndarray
    path: Path
    original_size: tuple[int, int]
    scale: float
    warnings: list[str] = field(default_factory=list)
    alpha: np.ndarray | None = None
    exif_orientation: int = 1
    source_mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the working image."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Exact ``(sx, sy)`` input pixels per working pixel along x and y."""
        w, h = self.size
        return self.original_size[0] / w, self.original_size[1] / h

    def to_input_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` working-image pixel coordinates ``(x, y)`` to input-photo pixels.

        Pixel centres are at integer coordinates in both images, so the map is
        ``x_in = (x + 0.5) * sx - 0.5`` (identity when not downscaled). Returns float64.
        """
        s = np.asarray(self.scale_xy, dtype=np.float64)
        return (np.asarray(xy, dtype=np.float64) + 0.5) * s - 0.5

    def to_working_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_input_pixels`: ``(..., 2)`` input pixels -> working pixels."""
        s = np.asarray(self.scale_xy, dtype=np.float64)
        return (np.asarray(xy, dtype=np.float64) + 0.5) / s - 0.5

    def input_from_working(self) -> np.ndarray:
        """``(3, 3)`` float64 matrix ``A`` with ``[x_in, y_in, 1] = A @ [x, y, 1]``.

        Intrinsics found on the working image map to the input photo as ``K_in = A @ K``.
        """
        sx, sy = self.scale_xy
        return np.array(
            [[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]],
            dtype=np.float64,
        )


def load_photo(
    path: str | Path, max_side: int = 2048, max_pixels: int = MAX_PIXELS
) -> Photo:
    """Load a photo file into an 8-bit sRGB working image (see the module docstring).

    Args:
        path: JPEG, PNG (8/16-bit, grey, palette, alpha), TIFF, WebP, BMP, PPM, AVIF, ... file.
        max_side: the working image's longer side is at most this many pixels.
        max_pixels: files with more pixels than this are refused before decoding
            (decompression-bomb guard).

    Raises:
        InputError: missing file, folder, empty file, not an image, truncated or corrupt data,
            unsupported format, too large, or smaller than ``MIN_SIDE`` pixels.
    """
    path = Path(path).expanduser()
    data = _read_bytes(path)
    notes: list[str] = []
    im = _open_image(path, data, max_pixels)
    orientation = _exif_orientation(im, notes)
    stored_w, stored_h = im.size
    original_size = (stored_h, stored_w) if orientation >= 5 else (stored_w, stored_h)
    if min(original_size) < MIN_SIDE:
        raise InputError(
            f"The photo {path.name} is only {original_size[0]}x{original_size[1]} pixels; "
            f"at least {MIN_SIDE} pixels on each side are needed.",
            hint="use a larger photo of the face",
        )
    if getattr(im, "n_frames", 1) > 1 and im.format != "MPO":  # MPO: phone JPEG + previews
        notes.append(f"{path.name} has {im.n_frames} frames; the first one was used.")
    scale = max(original_size) / max_side if max(original_size) > max_side else 1.0
    target = _target_size(original_size, scale, orientation)
    rgba, mode = _decode(path, data, im, target, notes)
    rgba = apply_exif_orientation(rgba, orientation)
    rgba = _resize(rgba, _target_size(original_size, scale, 1))
    if scale > 1.0:
        notes.append(
            f"The photo ({original_size[0]}x{original_size[1]}) was downscaled by {scale:.2f} "
            "for processing; results are reported in the original pixels."
        )
    rgb, alpha = _composite_alpha(rgba, notes)
    return Photo(
        rgb=np.ascontiguousarray(rgb),
        path=path,
        original_size=original_size,
        scale=float(scale),
        warnings=notes,
        alpha=alpha,
        exif_orientation=orientation,
        source_mode=mode,
    )


def apply_exif_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Return ``image`` ``(H, W, ...)`` as displayed for an EXIF orientation tag 1..8.

    Same result as ``PIL.ImageOps.exif_transpose``: 2 mirror left-right, 3 rotate 180,
    4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse,
    8 rotate 90 counter-clockwise. Other values return the image unchanged.
    """
    swapped = np.swapaxes(image, 0, 1)
    table = {
        2: lambda: image[:, ::-1],
        3: lambda: image[::-1, ::-1],
        4: lambda: image[::-1],
        5: lambda: swapped,
        6: lambda: swapped[:, ::-1],
        7: lambda: swapped[::-1, ::-1],
        8: lambda: swapped[::-1],
    }
    return np.ascontiguousarray(table[orientation]()) if orientation in table else image


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"Photo not found: {path}.", hint="check the file name and folder")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a photo.", hint="pick an image file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"Cannot read {path.name}: {err.strerror or err}.") from err
    if not data:
        raise InputError(f"The file {path.name} is empty.", hint="pick a JPEG or PNG photo")
    return data


def _open_image(path: Path, data: bytes, max_pixels: int) -> Image.Image:
    """Open the header only (no pixel decoding) and refuse bombs and non-images."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:
        raise _too_large(path, max_pixels) from err
    except UnidentifiedImageError as err:
        raise InputError(
            f"{path.name} is not an image file that can be read ({_guess_kind(data)}).",
            hint="save the photo as JPEG or PNG",
        ) from err
    except _DECODE_ERRORS as err:
        raise InputError(f"{path.name} is damaged and cannot be read ({err}).") from err
    if im.size[0] * im.size[1] > max_pixels:
        raise _too_large(path, max_pixels, im.size)
    return im


def _too_large(path: Path, max_pixels: int, size: tuple[int, int] | None = None) -> InputError:
    dims = f" ({size[0]}x{size[1]})" if size else ""
    return InputError(
        f"The photo {path.name}{dims} is too large to open safely "
        f"(limit {max_pixels / 1e6:.0f} megapixels).",
        hint="downscale or crop the photo",
    )


def _guess_kind(data: bytes) -> str:
    head = data[:32]
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"mif1"):
        return "HEIC/HEIF photos are not supported"
    printable = all(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if printable or head.lstrip().startswith((b"<", b"{")):
        return "it contains text, not pixels"
    return "unknown or unsupported format"


def _exif_orientation(im: Image.Image, notes: list[str]) -> int:
    """The EXIF orientation tag, read without decoding pixels (Pillow's ``getexif`` decodes a
    whole PNG to look for a trailing eXIf chunk, and would hide its decoding errors)."""
    try:
        if im.format == "PNG":
            exif = Image.Exif()
            if im.info.get("exif"):
                exif.load(im.info["exif"])
        else:
            exif = im.getexif()
        value = int(exif.get(_EXIF_ORIENTATION_TAG, 1))
    except _DECODE_ERRORS:
        notes.append("The photo's EXIF data is damaged; its orientation tag was ignored.")
        return 1
    if not 1 <= value <= 8:
        notes.append(f"Invalid EXIF orientation {value} ignored.")
        return 1
    return value


def _target_size(
    displayed: tuple[int, int], scale: float, orientation: int
) -> tuple[int, int]:
    """Working size ``(w, h)``; in stored orientation when ``orientation`` swaps axes."""
    w, h = (max(1, round(displayed[0] / scale)), max(1, round(displayed[1] / scale)))
    return (h, w) if orientation >= 5 else (w, h)


def _is_16bit_png(data: bytes) -> bool:
    return data[:8] == _PNG_SIGNATURE and len(data) > 25 and data[24] == 16


def _decode(
    path: Path, data: bytes, im: Image.Image, target: tuple[int, int], notes: list[str]
) -> tuple[np.ndarray, str]:
    """Decode to ``(H, W, 4)`` uint8 RGBA in stored orientation; also return the source mode."""
    if _is_16bit_png(data):
        return _decode_16bit_png(path, data), "RGB;16" if data[25] in (2, 6) else "I;16"
    mode = im.mode
    try:
        if im.format == "JPEG" and (im.size[0] > 2 * target[0]):
            im.draft(im.mode, target)  # libjpeg DCT scaling: decode big JPEGs at 1/2..1/8 size
        im.load()
        return _to_rgba(im, notes), mode
    except _DECODE_ERRORS as err:
        raise InputError(
            f"{path.name} is truncated or damaged and cannot be decoded ({err}).",
            hint="re-export or re-download the photo",
        ) from err


def _decode_16bit_png(path: Path, data: bytes) -> np.ndarray:
    """16-bit PNGs go through OpenCV (Pillow truncates 16-bit colour to its high byte)."""
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        raise InputError(
            f"{path.name} is a truncated or damaged 16-bit PNG and cannot be decoded.",
            hint="re-export the photo",
        )
    arr8 = ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if arr8.ndim == 2:
        arr8 = arr8[:, :, None]
    channels = arr8.shape[2]
    if channels == 1:
        return _with_alpha(np.repeat(arr8, 3, axis=2), None)
    if channels == 2:
        return _with_alpha(np.repeat(arr8[:, :, :1], 3, axis=2), arr8[:, :, 1])
    rgb = arr8[:, :, 2::-1]
    return _with_alpha(rgb, arr8[:, :, 3] if channels == 4 else None)


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    a = np.full(rgb.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.ascontiguousarray(np.dstack([rgb, a]))


def _to_rgba(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode -> ``(H, W, 4)`` uint8 sRGB + alpha."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        grey = _high_depth_grey_to_u8(np.asarray(im), im.mode, notes)
        return _with_alpha(np.repeat(grey[:, :, None], 3, axis=2), None)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("LA", "La", "PA", "RGBa"):
        im = im.convert("RGBA")
    elif im.mode == "1":
        im = im.convert("L")
    im = _to_srgb(im, notes)
    if im.mode == "L":
        grey = np.asarray(im)
        return _with_alpha(np.repeat(grey[:, :, None], 3, axis=2), None)
    if im.mode == "RGBA":
        return np.array(im, dtype=np.uint8)
    return _with_alpha(np.asarray(im.convert("RGB")), None)


def _to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert RGB/CMYK with an embedded non-sRGB ICC profile (and plain CMYK) to sRGB."""
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            name = ImageCms.getProfileDescription(src).strip()
            if "srgb" not in name.lower().replace(" ", ""):
                out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
                converted = ImageCms.profileToProfile(
                    im, src, ImageCms.createProfile("sRGB"), outputMode=out_mode
                )
                notes.append(f"Colours were converted from the '{name}' profile to sRGB.")
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            notes.append("The photo's colour profile could not be read; assumed sRGB.")
    if im.mode == "CMYK":
        notes.append("A CMYK photo was converted to RGB without a colour profile.")
        return im.convert("RGB")
    return im


def _high_depth_grey_to_u8(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    if mode == "F":
        a = np.nan_to_num(arr.astype(np.float64))
        notes.append("A floating-point grey photo was read as values in [0, 1].")
        return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    a = arr.astype(np.int64)
    if mode == "I" and a.max(initial=0) <= 255:
        return np.clip(a, 0, 255).astype(np.uint8)
    return np.clip((a + 128) // 257, 0, 255).astype(np.uint8)


def _resize(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resample ``(H, W, 4)`` uint8 to ``size = (w, h)`` (no-op when already that size)."""
    if (rgba.shape[1], rgba.shape[0]) == size:
        return rgba
    return cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)


def _composite_alpha(
    rgba: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Composite over :data:`BACKGROUND_GREY`; alpha is dropped when fully opaque."""
    alpha = rgba[:, :, 3]
    if alpha.min() == 255:
        return rgba[:, :, :3], None
    a = alpha.astype(np.float32)[:, :, None] / 255.0
    rgb = rgba[:, :, :3].astype(np.float32) * a + BACKGROUND_GREY * (1.0 - a)
    notes.append("Transparent areas of the photo were filled with neutral grey.")
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), np.ascontiguousarray(alpha)
