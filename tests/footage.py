"""A user's own footage that is not a street: a hand-held look over a table with objects moving on it.

Procedural, so it ships as code, not as a video file: a wood-grain table top under a slowly panning and
zooming camera, a ball rolling across it with its shadow, a sliding book and a spinning coaster, with
soft lighting and sensor noise. No labels (like most footage users bring). `python -m tests.footage
out.mp4` writes it as H.264.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def _wood(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """HxWx3 float wood grain: rings bent by low-frequency noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    bend = sum(
        rng.uniform(4, 12) * np.sin(2 * np.pi * (x * fx + y * fy) + rng.uniform(0, 6))
        for fx, fy in ((1 / 300, 1 / 900), (1 / 120, 1 / 500), (1 / 60, 1 / 250))
    )
    rings = 0.5 + 0.5 * np.sin((y + bend) / 5.0)
    grain = rings**3 * 0.35 + rng.normal(0, 0.03, (h, w))
    base = np.array([0.55, 0.36, 0.2], np.float32)
    return np.clip(base * (0.8 + grain[..., None]), 0, 1)


def _disc(yy, xx, cy, cx, r):
    return ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r


def table_clip(num_frames: int = 40, size: tuple[int, int] = (240, 426), seed: int = 7) -> np.ndarray:
    """num_frames x H x W x 3 uint8 RGB frames of the table scene."""
    rng = np.random.default_rng(seed)
    h, w = size
    big = _wood(2 * h, 2 * w, rng)  # the camera looks at a window of a larger table top
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 0.75 + 0.35 * np.exp(-(((yy - 0.3 * h) / h) ** 2 + ((xx - 0.6 * w) / w) ** 2) * 3)
    frames = []
    for t in range(num_frames):
        s = t / max(1, num_frames - 1)
        zoom = 1.0 + 0.15 * s  # the camera creeps closer while it pans right and down
        oy, ox = 0.2 * h + 0.3 * h * s, 0.2 * w + 0.5 * w * s
        sy = np.clip((oy + (yy - h / 2) / zoom + h / 2).astype(int), 0, 2 * h - 1)
        sx = np.clip((ox + (xx - w / 2) / zoom + w / 2).astype(int), 0, 2 * w - 1)
        img = big[sy, sx].copy()
        # table coordinates of each pixel, so the objects stay on the table as the camera moves
        ty, tx = sy.astype(np.float32), sx.astype(np.float32)
        # a book sliding up-left, slightly rotating
        a = 0.3 * s
        cy, cx = 1.1 * h - 0.4 * h * s, 0.9 * w + 0.2 * w * s
        u = (tx - cx) * np.cos(a) + (ty - cy) * np.sin(a)
        v = -(tx - cx) * np.sin(a) + (ty - cy) * np.cos(a)
        book = (np.abs(u) < 0.22 * w) & (np.abs(v) < 0.15 * h)
        img[book] = np.array([0.15, 0.25, 0.55]) * (0.9 + 0.1 * np.sin(u[book] / 3))[:, None]
        spine = book & (np.abs(u + 0.2 * w) < 0.02 * w)
        img[spine] = [0.85, 0.8, 0.7]
        # a coaster (ring) spinning in place, its pattern turning
        ccy, ccx, r = 0.8 * h, 1.4 * w, 0.12 * h
        coaster = _disc(ty, tx, ccy, ccx, r)
        ang = np.arctan2(ty - ccy, tx - ccx) + 0.4 * t
        img[coaster] = (0.6 + 0.3 * np.sign(np.sin(6 * ang[coaster])))[:, None] * np.array([0.9, 0.75, 0.5])
        # a ball rolling across the table, with a soft shadow
        by, bx, br = 0.6 * h + 0.5 * h * s, 0.3 * w + 1.2 * w * s, 0.1 * h
        shadow = _disc(ty, tx, by + 0.5 * br, bx + 0.6 * br, 1.1 * br)
        img[shadow] *= 0.55
        ball = _disc(ty, tx, by, bx, br)
        shade = 1.0 - 0.6 * (((ty - by + 0.4 * br) ** 2 + (tx - bx + 0.4 * br) ** 2) / (2 * br * br))
        stripe = 0.75 + 0.25 * np.sign(np.sin((tx - bx) / br * 3 + 0.5 * t))
        img[ball] = (np.clip(shade, 0.2, 1) * stripe)[ball][:, None] * np.array([0.85, 0.15, 0.12])
        img = img * light[..., None] + rng.normal(0, 0.012, img.shape)
        frames.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.stack(frames)


def write_table_video(path: str | Path, num_frames: int = 40, size: tuple[int, int] = (240, 426)) -> Path:
    from mpvss_core.io.video_encode import write_video

    write_video(path, table_clip(num_frames, size), fps=15)
    return Path(path)


if __name__ == "__main__":
    print(write_table_video(sys.argv[1] if len(sys.argv) > 1 else "table.mp4"))
