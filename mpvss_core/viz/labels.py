"""Label-map pictures: colouring, overlays and class legends.

`colorize_labels` maps class ids through a palette (ignored and unknown ids get one colour),
`overlay_labels` blends class colours over a frame with optional 1-pixel class boundaries, and
`label_legend` draws colour swatches with class names in columns. Inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.viz._common import Colour, _as_palette, _blend
from mpvss_core.viz._text import _font, _text_size


def _known_label_mask(labels: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """HxW bool: ids that have a palette colour (in [0, K) and not the ignore id)."""
    return (labels >= 0) & (labels < num_classes) & (labels != ignore_index)


def colorize_labels(
    labels: np.ndarray,
    palette: np.ndarray,
    ignore_index: int = IGNORE_INDEX,
    ignore_colour: Colour = (0, 0, 0),
) -> np.ndarray:
    """Colour a label map with a palette (a lookup table, fast enough for video).

    Args:
        labels: HxW integer class ids.
        palette: Kx3 uint8 colours of ids 0..K-1.
        ignore_index: id painted with `ignore_colour`.
        ignore_colour: RGB of ignored pixels; ids outside [0, K) (unknown classes) get it too, so a
            label map from another label space never raises here.

    Returns:
        HxWx3 uint8 RGB.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    pal = _as_palette(palette)
    k = len(pal)
    # One extra LUT row for "no colour" keeps this a single gather.
    lut = np.concatenate([pal, np.asarray([ignore_colour], np.uint8)], axis=0)
    idx = np.where(_known_label_mask(labels, k, ignore_index), labels, k)
    return lut[idx.astype(np.intp)]


def _boundary_mask(labels: np.ndarray) -> np.ndarray:
    """HxW bool: pixels whose right or lower neighbour has another id (1-pixel-thick lines)."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def overlay_labels(
    frame: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    alpha: float = 0.5,
    ignore_index: int = IGNORE_INDEX,
    boundaries: bool = False,
    boundary_colour: Colour = (255, 255, 255),
) -> np.ndarray:
    """Blend class colours over a frame.

    Args:
        frame: HxWx3 uint8 RGB.
        labels: HxW integer class ids.
        palette: Kx3 uint8.
        alpha: weight of the class colour (0 = frame only, 1 = colours only). Each channel is
            `round((1 - alpha) * frame + alpha * colour)` with halves rounded up.
        ignore_index: pixels with this id (and ids outside [0, K)) keep the frame unchanged.
        boundaries: also draw class boundaries (any change of id, ignore included), 1 pixel wide.
        boundary_colour: RGB of the boundary lines (white by default).

    Returns:
        HxWx3 uint8 RGB.
    """
    frame = np.asarray(frame)
    labels = np.asarray(labels)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match frame {frame.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    pal = _as_palette(palette)
    frame = frame.astype(np.uint8, copy=False)
    colours = colorize_labels(labels, pal, ignore_index=ignore_index)
    known = _known_label_mask(labels, len(pal), ignore_index)
    out = frame.copy()
    out[known] = _blend(frame[known], colours[known], alpha)
    if boundaries:
        out[_boundary_mask(labels)] = boundary_colour
    return out


def label_legend(
    class_names: Sequence[str],
    palette: np.ndarray,
    columns: int | None = None,
    swatch: int = 14,
    background: Colour = (255, 255, 255),
) -> np.ndarray:
    """A legend of colour swatches with class names, filled column by column.

    Args:
        class_names: K names.
        palette: Kx3 uint8 (at least K rows).
        columns: number of columns; default about sqrt(K / 3), i.e. a layout roughly three times taller
            in rows than in columns (1 column up to 5 classes, 3 for 18, 7 for 124).
        swatch: side of a swatch in pixels.
        background: RGB of the background (text is black).

    Returns:
        HxWx3 uint8 RGB.
    """
    pal = _as_palette(palette)
    k = len(class_names)
    if k == 0:
        raise ValueError("label_legend needs at least one class")
    if len(pal) < k:
        raise ValueError(f"{k} class names but only {len(pal)} palette colours")
    cols = columns if columns is not None else max(1, math.ceil(math.sqrt(k / 3)))
    cols = max(1, min(int(cols), k))
    rows = math.ceil(k / cols)
    font = _font(max(9, swatch - 3))
    text_w = max(_text_size(font, str(n))[0] for n in class_names)
    gap = 4
    cell_w = swatch + gap + text_w + 2 * gap
    cell_h = swatch + gap
    img = Image.new("RGB", (cols * cell_w + gap, rows * cell_h + gap), background)
    draw = ImageDraw.Draw(img)
    for i, name in enumerate(class_names):
        c, r = divmod(i, rows)
        x, y = gap + c * cell_w, gap + r * cell_h
        colour = tuple(int(v) for v in pal[i])
        # Thin dark outline so white/near-background swatches stay visible.
        draw.rectangle([x, y, x + swatch - 1, y + swatch - 1], fill=colour, outline=(60, 60, 60))
        left, top, _, bottom = font.getbbox(str(name))
        ty = y + (swatch - (bottom - top)) / 2 - top
        draw.text((x + swatch + gap - left, ty), str(name), fill=(0, 0, 0), font=font)
    return np.asarray(img, np.uint8)
