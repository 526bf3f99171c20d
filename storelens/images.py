"""Reading photos with a clear error for every way a file can be unusable.

OpenCV decodes; the checks around it exist because ``cv2.imdecode`` returns ``None`` without a
reason and silently fills a truncated JPEG with grey. Before any decoding, Pillow reads the size from
the file's header (without decoding pixels), so that a decompression bomb (a small PNG that declares
30000x30000 pixels, 2.7 GB once decoded) is refused at the cost of reading a header.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from storelens.errors import ImageError
from storelens.stage_messages import Frame

MIN_SIDE = 1
MAX_PIXELS = 50_000_000  # default photo limit: above a 48-megapixel phone camera (enrolment.max_photo_pixels)


Image.MAX_IMAGE_PIXELS = None  # Pillow only reads headers here; the size is judged below, with our own message


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared in an image's header, read by Pillow without decoding; None if unknown."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.size[0]), int(img.size[1])
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):  # not a format Pillow knows
        return None


def to_bgr8(img: NDArray[np.generic], source: str) -> NDArray[np.uint8]:
    """Normalise any decoded image to 8-bit, 3-channel BGR.

    Args:
        img: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), uint8 or uint16 (or float in [0, 1]).
        source: name used in error messages.

    Returns:
        (H, W, 3) uint8 BGR; an alpha channel is dropped, grey is replicated.
    """
    if img.dtype == np.uint16:
        img8 = (img.astype(np.uint32) * 255 // 65535).astype(np.uint8)  # 16-bit PNG: full range to 8 bits
    elif img.dtype in (np.float32, np.float64):
        img8 = (np.clip(img.astype(np.float64), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif img.dtype == np.uint8:
        img8 = np.asarray(img, dtype=np.uint8)
    else:
        raise ImageError(f"{source}: unsupported pixel type {img.dtype}")
    if img8.ndim == 2 or (img8.ndim == 3 and img8.shape[2] == 1):
        return np.asarray(cv2.cvtColor(img8, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if img8.ndim != 3:
        raise ImageError(f"{source}: unsupported image shape {img8.shape}")
    channels = img8.shape[2]
    if channels == 3:
        return np.ascontiguousarray(img8)
    if channels == 4:
        return np.asarray(cv2.cvtColor(img8, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    raise ImageError(f"{source}: unsupported channel count {channels}")


def decode_image(data: bytes, source: str, max_pixels: int = MAX_PIXELS) -> NDArray[np.uint8]:
    """Decode image bytes (JPEG, PNG, BMP, WebP, TIFF ...) to (H, W, 3) uint8 BGR.

    Raises:
        ImageError: naming ``source`` and the reason (empty, not an image, truncated, too large).
    """
    if not data:
        raise ImageError(f"{source}: empty file")
    declared = header_size(data)
    if declared is not None and declared[0] * declared[1] > max_pixels:
        w, h = declared
        raise ImageError(f"{source}: {w}x{h} pixels is more than the {max_pixels:,} accepted; send a smaller photo")
    # The main image's end-of-image marker must follow its last start-of-scan marker (an EXIF
    # thumbnail has its own pair earlier in the file; markers cannot occur inside scan data).
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageError(f"{source}: truncated JPEG (the file ends before its end-of-image marker)")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS) or a decoder failure
        raise ImageError(f"{source}: not a decodable image ({str(exc).strip().splitlines()[-1][:200]})") from exc
    if img is None:
        head = data[:16]
        if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
            raise ImageError(f"{source}: not an image (the file holds text)")
        raise ImageError(f"{source}: not a decodable image (unknown format or corrupt data)")
    h, w = img.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE or h * w > max_pixels:
        raise ImageError(f"{source}: unusable size {w}x{h}")
    return to_bgr8(img, source)


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> NDArray[np.uint8]:
    """Read a photo file to (H, W, 3) uint8 BGR.

    Raises:
        ImageError: naming the file and the reason.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path}: is a directory, not a photo") from exc
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from exc
    return decode_image(data, str(path), max_pixels)


class PhotoFrames:
    """Frames of photo files for a command: an unreadable photo is reported on stderr and skipped.

    Iterate for ``(path, frame)`` pairs; ``failed`` counts the photos that could not be read.
    """

    def __init__(self, photos: list[str]) -> None:
        self.photos = photos
        self.failed = 0

    def __iter__(self) -> Iterator[tuple[str, Frame]]:
        for photo in self.photos:
            try:
                yield photo, Frame(load_image(Path(photo)), camera_id=photo)
            except ImageError as exc:
                self.failed += 1
                sys.stderr.write(f"storelens: error: {exc}\n")
