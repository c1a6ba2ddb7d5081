"""Colormaps and attention heatmaps.

`INFERNO_LUT` is a 256-entry lookup table interpolated from samples of matplotlib's "inferno" (no
matplotlib needed), `apply_colormap` maps values in [0, 1] through such a table, and
`attention_heatmap` normalises an attention map by its peak, resizes it and blends it over a frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mpvss_core.viz._common import _blend

# Eleven evenly spaced samples of matplotlib's "inferno" colormap (van der Walt & Smith), hex values as
# published in its documentation; linear interpolation between them keeps it close to perceptually even.
_INFERNO_STOPS = (
    "000004", "160b39", "420a68", "6a176e", "932667", "bc3754", "dd513a", "f37819", "fca50a", "f6d746",
    "fcffa4",
)  # fmt: skip


def _make_lut(stops: Sequence[str], n: int = 256) -> np.ndarray:
    pts = np.asarray([[int(s[i : i + 2], 16) for i in (0, 2, 4)] for s in stops], np.float64)
    x = np.linspace(0.0, 1.0, len(pts))
    t = np.linspace(0.0, 1.0, n)
    lut = np.stack([np.interp(t, x, pts[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


INFERNO_LUT = _make_lut(_INFERNO_STOPS)  # 256x3 uint8, dark (0) -> bright yellow (1)


def apply_colormap(values: np.ndarray, lut: np.ndarray = INFERNO_LUT) -> np.ndarray:
    """Map values in [0, 1] (HxW float, clipped; NaN -> 0) through a Nx3 uint8 LUT -> HxWx3 uint8."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    idx = np.rint(np.clip(v, 0.0, 1.0) * (len(lut) - 1)).astype(np.intp)
    return lut[idx]


def attention_heatmap(
    attn: np.ndarray,
    frame: np.ndarray | None = None,
    alpha: float = 0.6,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Colour an attention map (inferno) and blend it over a frame.

    The map is normalised by its own maximum (values / max, negatives clipped to 0, NaN -> 0), so the
    brightest colour always marks the map's peak: good for seeing *where* one query looks, but the
    absolute level is not comparable between maps. An all-zero (or non-positive) map stays dark.

    Args:
        attn: hxw float attention weights (any scale).
        frame: HxWx3 uint8 RGB to blend over, or None for the heatmap alone.
        alpha: weight of the heatmap in the blend.
        size: (H, W) of the output when `frame` is None (default: the map's own size).

    Returns:
        HxWx3 uint8 RGB; the map is resized bilinearly to the frame (or `size`).
    """
    a = np.asarray(attn, np.float32)
    if a.ndim != 2:
        raise ValueError(f"attn must be hxw, got shape {a.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    if frame is not None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
        size = frame.shape[:2]
    if size is not None and tuple(size) != a.shape:
        a = cv2.resize(a, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    a = np.clip(a, 0.0, None)
    peak = float(a.max()) if a.size else 0.0
    norm = a / peak if peak > 0 else np.zeros_like(a)
    heat = apply_colormap(norm)
    if frame is None:
        return heat
    return _blend(frame.astype(np.uint8, copy=False), heat, alpha)
