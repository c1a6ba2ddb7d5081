"""Image reading: any common image (grey, alpha, 16-bit, float, palette) as HxWx3 uint8 RGB.

`read_image_rgb` normalises the image and notes each conversion it made (alpha dropped, grey
replicated, 16-bit scaled, an image above Pillow's decompression-bomb warning size decoded);
`_open_image`, shared with the label-map reader, decodes a path or bytes
with Pillow and turns every Pillow/OS failure into the caller's `InputError` subclass.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mpvss_core.errors import InputError
from mpvss_core.io._common import ImageSource, _short_reason


def _open_image(
    src: ImageSource, err: type[InputError], notes: list[str] | None = None
) -> tuple[Image.Image, str, bool]:
    """Open and decode an image; returns (image, label for messages, stored with 16-bit samples).

    An image above Pillow's decompression-bomb warning size (`Image.MAX_IMAGE_PIXELS`) is decoded
    and a one-line note says so in `notes` (None: no note, e.g. a label map, whose frame of the same
    size carries it); Pillow's raw warning is never printed. Above twice that size Pillow refuses it.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        label, fp = "the uploaded image", io.BytesIO(bytes(src))
    else:
        label, fp = f"'{Path(src).name}'", os.fspath(src)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            img = Image.open(fp)
            # Pillow decodes 16-bit colour PNGs straight to 8 bit; only the raw mode (gone after load()) tells
            is_16bit = any(";16" in str(getattr(t, "args", "")) for t in (img.tile or []))
            img.load()
    except FileNotFoundError as exc:
        raise err(f"{label} does not exist") from exc
    except UnidentifiedImageError as exc:
        raise err(f"{label} is not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise err(f"{label} is too large to decode ({_short_reason(exc)})") from exc
    except Exception as exc:  # truncated data, OS errors
        raise err(f"{label} could not be read as an image ({_short_reason(exc)})") from exc
    for w in caught:
        if not issubclass(w.category, Image.DecompressionBombWarning):  # not ours to silence
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        elif notes is not None:
            limit = (Image.MAX_IMAGE_PIXELS or 0) / 1e6
            notes.append(
                f"a {img.width}x{img.height} image ({img.width * img.height / 1e6:.1f} Mpixel) decoded "
                f"although it is above Pillow's decompression-bomb warning size ({limit:.1f} Mpixel)"
            )
    return img, label, is_16bit


def read_image_rgb(src: ImageSource, notes: list[str] | None = None) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB, whatever its mode.

    Grey is replicated to 3 channels, alpha is dropped (not composited: the colour values are what
    a segmenter should see), 16-bit data is scaled to 8 bit, palette images are expanded. Each such
    conversion appends a short note to `notes` (when given).

    Raises:
        InputError: the file is missing, not an image, truncated or has an unsupported mode.
    """
    notes = notes if notes is not None else []
    img, label, is_16bit = _open_image(src, InputError, notes)
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        notes.append("greyscale replicated to RGB")
        grey = _grey_to_uint8(np.asarray(img), mode, notes)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        notes.append("alpha channel dropped")
    if mode in ("L", "LA", "1"):
        notes.append("greyscale replicated to RGB")
    if is_16bit and mode in ("RGB", "RGBA"):
        notes.append("16-bit samples scaled to 8 bit")
    try:
        rgb = img.convert("RGB")
    except Exception as exc:
        raise InputError(f"image {label} has unsupported mode {mode!r} ({_short_reason(exc)})") from exc
    return np.asarray(rgb, dtype=np.uint8).copy()


def _grey_to_uint8(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """16/32-bit integer or float grey -> uint8: integers are taken as 16-bit, floats as 0..1."""
    a = arr.astype(np.float64)
    if mode == "F":
        scale, what = 255.0, "float samples (0..1) scaled to 8 bit"
    else:
        scale, what = 255.0 / 65535.0, "16-bit samples scaled to 8 bit"
    notes.append(what)
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
