"""A picture of one synthetic clip: frames, labels and exact flow side by side (README, app, demo)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.viz import colorize_labels, colour_wheel_legend, flow_scale, flow_to_rgb, tile_images


def preview_rows(clip: Clip, frames: Sequence[int], gap: int = 1) -> tuple[list[np.ndarray], list[str]]:
    """Tiles for each chosen frame t: the frame, its labels, and the exact flow t -> t-gap
    (invalid pixels grey) on one colour scale fixed for the whole preview."""
    flows = [clip.flow(t, max(t - gap, 0)) for t in frames]
    scale = flow_scale([f for f, _ in flows], [v for _, v in flows])
    tiles, titles = [], []
    for t, (f, v) in zip(frames, flows, strict=True):
        rgb = flow_to_rgb(np.where(v[..., None], f, np.nan), scale)
        tiles += [clip.frames[t], colorize_labels(clip.labels[t], clip.palette), rgb]
        titles += [f"frame {t}", f"labels {t}", f"exact flow {t}->{max(t - gap, 0)} (max {scale:.1f} px)"]
    return tiles, titles


def make_preview(clip: Clip, frames: Sequence[int] | None = None, gap: int = 1) -> np.ndarray:
    """HxWx3 uint8 grid: one row per frame (frame | labels | exact flow), plus the colour wheel."""
    if frames is None:
        n = clip.num_frames
        frames = sorted({min(n - 1, max(1, k)) for k in (1, n // 2, n - 1)})
    tiles, titles = preview_rows(clip, frames, gap)
    grid = np.array(tile_images(tiles, titles, columns=3))
    wheel = colour_wheel_legend(96)
    alpha = wheel[..., 3:] / 255.0
    y0, x0 = grid.shape[0] - wheel.shape[0] - 6, grid.shape[1] - wheel.shape[1] - 6
    patch = grid[y0 : y0 + wheel.shape[0], x0 : x0 + wheel.shape[1]].astype(np.float32)
    grid[y0 : y0 + wheel.shape[0], x0 : x0 + wheel.shape[1]] = (
        patch * (1 - alpha) + wheel[..., :3] * alpha
    ).astype(np.uint8)
    return grid
