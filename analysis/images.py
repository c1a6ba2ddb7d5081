"""Image grids as plotly figures (Figures C and D), and choosing the frames they show.

Panels are embedded as PNG data URIs in `go.Image(source=...)`: a 128x256 RGB panel is ~20 kB this way
instead of ~100k numbers in the figure JSON, so saved HTML/JSON stay small and load offline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import cv2
import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

__all__ = ["PANEL_WIDTH", "chosen_frames", "image_grid", "png_uri", "shrink"]

PANEL_WIDTH = 256  # display width of one panel (px); frames are downscaled to it, never upscaled


def png_uri(image: np.ndarray) -> str:
    """HxWx3 uint8 -> "data:image/png;base64,..."."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def shrink(image: np.ndarray, width: int = PANEL_WIDTH, nearest: bool = False) -> np.ndarray:
    """Downscale an HxWx3 image to `width` (aspect kept); nearest for label colourings (no new colours)."""
    h, w = image.shape[:2]
    if w <= width:
        return image
    size = (width, max(1, round(h * width / w)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def image_grid(
    cells: Sequence[Sequence[np.ndarray | None]],
    row_titles: Sequence[str],
    col_titles: Sequence[str],
    title: str,
) -> go.Figure:
    """A rows x columns grid of images with row and column titles (None cells stay empty).

    Args:
        cells: rows of HxWx3 uint8 images (all panels of one grid should share a size).
        row_titles: one per row (shown at the left of the row's first panel).
        col_titles: one per column (shown above the first row).
    """
    rows, cols = len(cells), max(len(r) for r in cells)
    titles = [
        f"{row_titles[r]} | {col_titles[c]}" if c < len(col_titles) else row_titles[r]
        for r in range(rows)
        for c in range(cols)
    ]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=titles,
        vertical_spacing=0.3 / max(rows, 1),
        horizontal_spacing=0.02,
    )
    panel_h = PANEL_WIDTH // 2
    for r, row in enumerate(cells):
        for c, img in enumerate(row):
            if img is None:
                continue
            panel_h = img.shape[0]
            fig.add_trace(go.Image(source=png_uri(img), name=titles[r * cols + c]), row=r + 1, col=c + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=10)
    fig.update_layout(
        title=title,
        height=80 + rows * (panel_h + 40),
        width=max(600, cols * (PANEL_WIDTH + 20)),
        margin=dict(l=10, r=10, t=70, b=10),
        showlegend=False,
    )
    return fig


def chosen_frames(num_frames: int, interval: int, count: int = 3) -> list[int]:
    """Non-key frames farthest from their key frame (distance K-1), the hardest to propagate to.

    Falls back to the last frame when the clip is shorter than one key-frame cycle.
    """
    frames = [i for i in range(num_frames) if i % interval == interval - 1][:count]
    if not frames and num_frames > 1:
        frames = [num_frames - 1]
    return frames
