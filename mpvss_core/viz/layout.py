"""Composite images: grids of titled images and key-frame badges.

`tile_images` arranges images (grey, RGB or RGBA) in a padded grid with optional title bars, resizing
them to a common height; `draw_key_marker` writes a "KEY" or "+d" badge in a corner of a frame,
scaled up on large frames so it stays readable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from mpvss_core.viz._common import Colour
from mpvss_core.viz._text import _font, _text_size


def _to_rgb(image: np.ndarray, background: Colour) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 (alpha composited over `background`) -> HxWx3 uint8."""
    im = np.asarray(image)
    if im.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {im.dtype}")
    if im.ndim == 2:
        im = im[..., None]
    if im.ndim != 3 or im.shape[2] not in (1, 3, 4):
        raise ValueError(f"images must be HxW, HxWx3 or HxWx4, got shape {im.shape}")
    if im.shape[2] == 1:
        return np.repeat(im, 3, axis=2)
    if im.shape[2] == 4:
        a = im[..., 3:4].astype(np.float64) / 255.0
        bg = np.asarray(background, np.float64)
        return np.clip(np.rint(im[..., :3] * a + bg * (1.0 - a)), 0, 255).astype(np.uint8)
    return im


def tile_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int | None = None,
    pad: int = 4,
    background: Colour = (255, 255, 255),
) -> np.ndarray:
    """Arrange images in a grid, each with an optional title bar above it.

    Images whose height differs from the first one's are resized (bilinear, aspect kept) to that
    height; every cell is as wide as the widest image, images are left-aligned in their cell.

    Args:
        images: N images, HxWx3 uint8 (HxW grey and HxWx4 RGBA accepted; alpha is composited over
            `background`).
        titles: N titles or None (no title bars).
        columns: images per row (default: all in one row).
        pad: pixels between cells and around the grid.
        background: RGB of padding and title bars (titles are drawn in black).

    Returns:
        HxWx3 uint8 RGB.
    """
    if len(images) == 0:
        raise ValueError("tile_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ims = [_to_rgb(im, background) for im in images]
    h = ims[0].shape[0]
    resized = []
    for im in ims:
        if im.shape[0] != h:
            w = max(1, round(im.shape[1] * h / im.shape[0]))
            im = cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)
        resized.append(im)
    cols = len(resized) if columns is None else max(1, min(int(columns), len(resized)))
    rows = math.ceil(len(resized) / cols)
    cell_w = max(im.shape[1] for im in resized)
    font = _font(12)
    title_h = 0
    if titles is not None:
        title_h = max(_text_size(font, t or " ")[1] for t in titles) + 6
    cell_h = title_h + h
    canvas = Image.new(
        "RGB", (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad), background
    )
    draw = ImageDraw.Draw(canvas)
    for i, im in enumerate(resized):
        r, c = divmod(i, cols)
        x = pad + c * (cell_w + pad)
        y = pad + r * (cell_h + pad)
        if titles is not None and titles[i]:
            left, top, _, _ = font.getbbox(titles[i])
            draw.text((x + 2 - left, y + 3 - top), titles[i], fill=(0, 0, 0), font=font)
        canvas.paste(Image.fromarray(im), (x, y + title_h))
    return np.asarray(canvas, np.uint8)


KEY_BADGE_COLOUR: Colour = (220, 40, 40)


PROPAGATED_BADGE_COLOUR: Colour = (40, 40, 40)


def draw_key_marker(
    frame: np.ndarray,
    is_key: bool,
    distance: int = 0,
    corner: str = "top-left",
) -> np.ndarray:
    """Write a small badge in a corner: "KEY" on key frames, "+d" on frames propagated d frames from
    their key frame.

    The badge is rendered at a fixed small size and scaled up by an integer factor (nearest) for large
    frames (about 1x per 240 rows) so it stays readable at 480p and above.

    Args:
        frame: HxWx3 uint8 RGB (not modified).
        is_key: whether the frame is a key frame.
        distance: frames since the last key frame (shown when not a key frame).
        corner: "top-left", "top-right", "bottom-left" or "bottom-right".

    Returns:
        A new HxWx3 uint8 RGB frame with the badge (clipped if the frame is tiny).
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
    if corner not in ("top-left", "top-right", "bottom-left", "bottom-right"):
        raise ValueError(f"unknown corner {corner!r}")
    text = "KEY" if is_key else f"+{int(distance)}"
    colour = KEY_BADGE_COLOUR if is_key else PROPAGATED_BADGE_COLOUR
    font = _font(11)
    left, top, right, bottom = font.getbbox(text)
    bw, bh = int(right - left) + 8, int(bottom - top) + 6
    badge = Image.new("RGB", (bw, bh), colour)
    ImageDraw.Draw(badge).text((4 - left, 3 - top), text, fill=(255, 255, 255), font=font)
    h, w = frame.shape[:2]
    scale = max(1, h // 240)
    badge_arr = np.asarray(badge, np.uint8)
    if scale > 1:
        badge_arr = np.repeat(np.repeat(badge_arr, scale, axis=0), scale, axis=1)
    margin = 2 * scale
    bh, bw = min(badge_arr.shape[0], max(0, h - margin)), min(badge_arr.shape[1], max(0, w - margin))
    out = frame.astype(np.uint8, copy=True)
    if bh == 0 or bw == 0:
        return out
    y0 = margin if corner.startswith("top") else h - margin - bh
    x0 = margin if corner.endswith("left") else w - margin - bw
    out[y0 : y0 + bh, x0 : x0 + bw] = badge_arr[:bh, :bw]
    return out
