"""Primitives shared by the `mpvss_core.viz` modules.

The `Colour` RGB tuple type, palette validation (`_as_palette`, Kx3 -> uint8) and `_blend`, the
round-half-up alpha blend used by label overlays and attention heatmaps so that exact output values
are predictable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Colour = tuple[int, int, int]


def _as_palette(palette: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"palette must be Kx3, got shape {pal.shape}")
    return pal.astype(np.uint8)


def _blend(base: np.ndarray, top: np.ndarray, alpha: float) -> np.ndarray:
    """Round-half-up of (1 - alpha) * base + alpha * top, in float64 so exact values are predictable."""
    out = (1.0 - alpha) * base.astype(np.float64) + alpha * top.astype(np.float64)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
