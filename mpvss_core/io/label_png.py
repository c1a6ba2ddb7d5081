"""Label maps as palette PNGs: class ids stored as palette indices.

`write_label_png` writes an HxW label map as a "P" PNG, so the file is both the exact label map and a
coloured picture (index 255, ignore, is black); `read_label_png` reads palette, grey (8/16/32-bit) and
RGB label images back to HxW uint8 ids, mapping colours through a palette when needed, and raises
`LabelError` for anything that cannot be a uint8 label map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mpvss_core.errors import LabelError
from mpvss_core.io._common import ImageSource, PathLike
from mpvss_core.io.images import _open_image
from mpvss_core.io.outputs import atomic_path
from mpvss_core.labels import IGNORE_INDEX, generic_class_names, palette_for


def _full_palette(palette: np.ndarray | None) -> bytes:
    """Kx3 uint8 (K <= 255) -> 768 palette bytes; unset entries and index 255 (ignore) are black."""
    if palette is None:
        palette = palette_for(generic_class_names(IGNORE_INDEX))
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) > 256:
        raise ValueError(f"palette must be Kx3 with K <= 256, got shape {pal.shape}")
    full = np.zeros((256, 3), np.uint8)
    full[: len(pal)] = pal.astype(np.uint8)
    if len(pal) <= IGNORE_INDEX:
        full[IGNORE_INDEX] = 0
    return full.tobytes()


def write_label_png(path: PathLike, labels: np.ndarray, palette: np.ndarray | None = None) -> Path:
    """Write an HxW label map as a palette ("P") PNG whose pixel indices are the label values.

    Args:
        labels: HxW integer array with values in 0..255 (255 = ignore).
        palette: Kx3 uint8 colours of classes 0..K-1 (None: a generic colour walk); padded to 256
            entries, index 255 black.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an HxW integer array, got shape {lab.shape} dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() > 255):
        raise ValueError(f"label values must be in 0..255, got {lab.min()}..{lab.max()}")
    lab = np.ascontiguousarray(lab, dtype=np.uint8)
    img = Image.frombuffer("P", (lab.shape[1], lab.shape[0]), lab.tobytes(), "raw", "P", 0, 1)
    img.putpalette(_full_palette(palette))
    path = Path(path)
    with atomic_path(path, suffix=".partial.png") as tmp:  # a crash never leaves a half label map
        img.save(tmp, format="PNG", optimize=False)
    return path


def read_label_png(src: ImageSource, palette: np.ndarray | None = None) -> np.ndarray:
    """Read a label map image and return its raw values as HxW uint8.

    - "P" (palette) images: the palette indices (the label values; colours are ignored).
    - "L", "1", "I;16*", "I" grey images: the grey values. 16/32-bit maps are accepted only when
      every value is <= 255 (tools often save small ids as 16-bit); larger values cannot be class ids
      of a uint8 label space, so they raise.
    - RGB(A) colour images: mapped back to indices through `palette` (Kx3); black maps to 255
      (ignore) unless the palette has black. Without a palette, or with colours not in it, raise.

    Raises:
        LabelError: unreadable file, values > 255, colour image without palette, unknown colours.
    """
    img, label, _ = _open_image(src, LabelError)
    mode = img.mode
    if mode in ("PA", "LA"):  # the alpha band of a label map carries no class information
        img, mode = img.getchannel(0), mode[0]
    if mode in ("P", "L", "1"):
        return np.asarray(img).astype(np.uint8)  # mode "1" gives bools -> 0/1
    if mode.startswith("I"):
        vals = np.asarray(img).astype(np.int64)
        bad = np.unique(vals[(vals < 0) | (vals > 255)])
        if bad.size:
            raise LabelError(
                f"label map {label} is a {mode} image with values outside 0..255 ({_list(bad)}); "
                "label maps must hold class ids 0..254 and 255 for ignore"
            )
        return vals.astype(np.uint8)
    if mode in ("RGB", "RGBA"):
        if palette is None:
            raise LabelError(
                f"label map {label} is an RGB colour image; save class ids as a palette or greyscale "
                "PNG (or pass the palette to map colours back to ids)"
            )
        rgb = np.asarray(img.convert("RGB"))
        return _colours_to_ids(rgb, np.asarray(palette, np.uint8), label)
    raise LabelError(f"label map {label} has unsupported image mode {mode!r}")


def _colours_to_ids(rgb: np.ndarray, palette: np.ndarray, label: str) -> np.ndarray:
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(keys.ravel(), return_inverse=True)
    lut: dict[int, int] = {}
    for i, c in enumerate(palette[:IGNORE_INDEX]):
        lut.setdefault((int(c[0]) << 16) | (int(c[1]) << 8) | int(c[2]), i)
    lut.setdefault(0, IGNORE_INDEX)  # black = unlabelled, the convention of write_label_png
    unknown = [int(k) for k in uniq if int(k) not in lut]
    if unknown:
        cols = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise LabelError(f"label map {label} has colours that are not in the class palette: {cols}{more}")
    ids = np.array([lut[int(k)] for k in uniq], np.uint8)
    return ids[inverse].reshape(rgb.shape[:2])


def _list(values: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")
