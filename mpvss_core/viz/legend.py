"""Class legends of a shown label map: which classes it holds, in which colour, with which share.

`legend_entries` lists exactly the classes present in a label map (largest share first); the app draws
them beside each overlay and `with_legend` burns them into a video frame as a strip under it. The strip's
height depends only on the frame width, the label space and `max_rows`, never on the frame's content, so
every frame of a video has the same size (an encoder needs that); classes that do not fit are summed up
in a last "+n more" cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.viz._common import Colour, _as_palette
from mpvss_core.viz._text import _font, _text_size


@dataclass(frozen=True)
class LegendEntry:
    """One class of a shown label map: id, name, colour and share of the frame's pixels (%)."""

    index: int
    name: str
    colour: Colour
    share: float


def legend_entries(
    labels: np.ndarray, class_names: Sequence[str], palette: np.ndarray, ignore_index: int = IGNORE_INDEX
) -> list[LegendEntry]:
    """The classes present in `labels` (HxW ids), largest share first (ties by id).

    The share is of all the frame's pixels, so ignored pixels (and ids outside the label space, which
    `overlay_labels` leaves undrawn) count in the denominator but get no entry.
    """
    labels = np.asarray(labels)
    pal = _as_palette(palette)
    k = min(len(class_names), len(pal))
    counts = np.bincount(labels.ravel().astype(np.int64).clip(0, 256), minlength=257)
    total = max(1, labels.size)
    out = [
        LegendEntry(i, str(class_names[i]), tuple(int(v) for v in pal[i]), 100.0 * counts[i] / total)
        for i in range(k)
        if counts[i] and i != ignore_index
    ]
    return sorted(out, key=lambda e: (-e.share, e.index))


def format_share(share: float) -> str:
    """A share in % as legends print it: one decimal, "<0.1%" for a present class that rounds to 0."""
    return f"{share:.1f}%" if share >= 0.05 else "<0.1%"


def _layout(width: int, class_names: Sequence[str]) -> tuple[int, int, int, int]:
    """(font size, swatch, cell width, cell height) for a strip `width` px wide (text grows with it)."""
    size = max(10, min(22, width // 48))
    font = _font(size)
    text_w = max(_text_size(font, f"{n} 100.0%")[0] for n in class_names) if class_names else 40
    swatch = size + 2
    return size, swatch, swatch + 4 + text_w + 12, swatch + 6


def legend_strip(
    entries: Sequence[LegendEntry],
    width: int,
    class_names: Sequence[str],
    max_rows: int = 3,
    background: Colour = (255, 255, 255),
) -> np.ndarray:
    """HxWx3 uint8 strip `width` px wide: a swatch, the name and the share of each entry, row by row.

    Args:
        entries: what to list (usually `legend_entries` of the shown labels), in order.
        width: the strip's width (the frame's).
        class_names: the whole label space; fixes the cell width, so the layout is the same on every
            frame of a video.
        max_rows: rows of cells; the height is `min(max_rows, rows needed by the whole label space)`.
    """
    size, swatch, cell_w, cell_h = _layout(width, class_names)
    cols = max(1, width // cell_w)
    rows = max(1, min(max_rows, math.ceil(max(1, len(class_names)) / cols)))
    capacity = cols * rows
    shown = list(entries)
    rest: list[LegendEntry] = []
    if len(shown) > capacity:
        shown, rest = shown[: capacity - 1], shown[capacity - 1 :]
    font = _font(size)
    height = rows * cell_h + 4
    img = Image.new("RGB", (width, height + height % 2), background)  # even: H.264 frames need it
    draw = ImageDraw.Draw(img)
    cells = [(e.colour, f"{e.name} {format_share(e.share)}") for e in shown]
    if rest:
        cells.append((None, f"+{len(rest)} more {format_share(sum(e.share for e in rest))}"))
    for i, (colour, text) in enumerate(cells):
        r, c = divmod(i, cols)
        x, y = 4 + c * cell_w, 4 + r * cell_h
        if colour is not None:
            draw.rectangle([x, y, x + swatch - 1, y + swatch - 1], fill=colour, outline=(60, 60, 60))
        left, top, _, bottom = font.getbbox(text)
        draw.text(
            (x + swatch + 4 - left, y + (swatch - (bottom - top)) / 2 - top), text, fill=(0, 0, 0), font=font
        )
    return np.asarray(img, np.uint8)


def with_legend(
    image: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    palette: np.ndarray,
    max_rows: int = 3,
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """`image` (HxWx3 uint8, the overlay of `labels`) with the legend of `labels` stacked under it.

    Returns:
        (H + strip)xWx3 uint8; the strip height depends on W, `class_names` and `max_rows` only.
    """
    image = np.asarray(image, np.uint8)
    entries = legend_entries(labels, class_names, palette, ignore_index)
    strip = legend_strip(entries, image.shape[1], class_names, max_rows)
    return np.concatenate([image, strip], axis=0)
