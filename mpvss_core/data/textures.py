"""Procedural, band-limited textures for the synthetic renderer.

Every texture is a function of a surface point's plane coordinates (u, v) in metres and of the
pixel footprint `fp` (metres covered by one pixel there). A surface point therefore has the same
colour in every frame, up to the detail that fades as it recedes, which is what makes the exact
flow of the benchmark photometrically exact too: features finer than about two pixels are faded
out (as mip-mapping would) instead of aliasing into sparkle that no flow could explain.
"""

from __future__ import annotations

import numpy as np

TILE = 128  # noise tile side in texels; one texel is one noise "cell"


class NoiseBank:
    """A few periodic value-noise tiles, generated once per clip from its random generator."""

    def __init__(self, rng: np.random.Generator, count: int = 4) -> None:
        import cv2

        tiles = []
        for _ in range(count):
            t = rng.standard_normal((TILE, TILE)).astype(np.float32)
            # A wrapped blur keeps the tile periodic and removes content above ~0.3 cycles/texel.
            t = cv2.GaussianBlur(np.tile(t, (3, 3)), (0, 0), 1.0)[TILE : 2 * TILE, TILE : 2 * TILE]
            tiles.append(t / (t.std() + 1e-6))
        self.tiles = np.stack(tiles)

    def sample(self, k: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Bilinear, wrapped sample of tile k at texel coordinates (u, v) (any shape)."""
        tile = self.tiles[k % len(self.tiles)]
        x0 = np.floor(u)
        y0 = np.floor(v)
        fx = (u - x0).astype(np.float32)
        fy = (v - y0).astype(np.float32)
        xi = x0.astype(np.int64) % TILE
        yi = y0.astype(np.int64) % TILE
        xj = (xi + 1) % TILE
        yj = (yi + 1) % TILE
        top = tile[yi, xi] * (1 - fx) + tile[yi, xj] * fx
        bot = tile[yj, xi] * (1 - fx) + tile[yj, xj] * fx
        return top * (1 - fy) + bot * fy

    def fbm(
        self,
        k: int,
        u: np.ndarray,
        v: np.ndarray,
        fp: np.ndarray,
        freq: float,
        octaves: int = 4,
        gain: float = 0.5,
        aniso: float = 1.0,
    ) -> np.ndarray:
        """Fractal noise (about zero mean, unit-ish amplitude) with `freq` cells per metre at the base
        octave; octaves whose cells get smaller than ~2 pixels fade out (see `fade`)."""
        out = np.zeros(u.shape, np.float32)
        amp, f = 1.0, freq
        for o in range(octaves):
            w = fade(f * fp)
            if np.any(w > 0):
                out += amp * w * self.sample(k + o, u * f + 17.3 * o, v * f * aniso + 5.1 * o)
            amp *= gain
            f *= 2.0
        return out


def fade(cells_per_pixel: np.ndarray) -> np.ndarray:
    """Weight of a detail of the given screen frequency: 1 below 0.25 cells/pixel, 0 above 0.5."""
    return np.clip(2.0 - 4.0 * cells_per_pixel, 0.0, 1.0).astype(np.float32)


def smooth_box(x: np.ndarray, lo: float, hi: float, width: np.ndarray) -> np.ndarray:
    """Anti-aliased indicator of lo <= x <= hi with edges blurred over `width` (same units as x)."""
    w = np.maximum(width, 1e-4)
    a = np.clip((x - lo) / w + 0.5, 0.0, 1.0)
    b = np.clip((hi - x) / w + 0.5, 0.0, 1.0)
    return (a * b).astype(np.float32)


def periodic_box(x: np.ndarray, period: float, lo: float, hi: float, width: np.ndarray) -> np.ndarray:
    """Anti-aliased indicator of lo <= (x mod period) <= hi, fading to its mean (hi-lo)/period
    when the period shrinks below ~2 pixels."""
    xm = np.mod(x, period)
    box = smooth_box(xm, lo, hi, width)
    mean = (hi - lo) / period
    w = fade(width / period)
    return box * w + mean * (1 - w)


def mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per-point linear blend of colours a, b (Nx3 or 3) by t (N,)."""
    t = t[..., None]
    return a * (1 - t) + b * t


def colour(rgb: tuple[float, float, float] | np.ndarray, n: int) -> np.ndarray:
    """A constant colour (0..1 floats) repeated Nx3."""
    return np.broadcast_to(np.asarray(rgb, np.float32), (n, 3)).copy()


def jitter_colour(rng: np.random.Generator, rgb: tuple[float, float, float], amount: float) -> np.ndarray:
    """A random variation of a base colour (0..1 floats), clipped to [0, 1]."""
    return np.clip(np.asarray(rgb, np.float32) * (1 + amount * rng.uniform(-1, 1, 3)), 0, 1).astype(
        np.float32
    )
