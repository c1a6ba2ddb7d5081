"""Street furniture and vegetation of a synthetic street: poles and lamp posts, traffic signs,
traffic lights, walls, fences, trees and hedges. Each function returns a layer (see layers.py)
whose label and albedo are closures over parameters drawn from the clip's random generator.
"""

from __future__ import annotations

import numpy as np

from mpvss_core.data.layers import Layer, billboard, capsule_distance, circle_distance, constant_label
from mpvss_core.data.scene_static import C
from mpvss_core.data.textures import NoiseBank, colour, jitter_colour, mix, periodic_box, smooth_box

# --- street furniture -----------------------------------------------------------------------------


def pole_layers(name: str, base: np.ndarray, height: float, arm: float, noise: NoiseBank) -> list[Layer]:
    """A street pole, optionally with a lamp arm reaching `arm` metres across (signed)."""
    metal = np.array([0.46, 0.47, 0.48], np.float32)
    r = 0.08

    def label(u, v):
        d = capsule_distance(u, v, (0.0, 0.0), (0.0, height), r)
        if arm != 0.0:
            d = np.minimum(d, capsule_distance(u, v, (0.0, height), (arm, height + 0.3), 0.05))
            d = np.minimum(
                d,
                capsule_distance(u, v, (arm - 0.35 * np.sign(arm), height + 0.22), (arm, height + 0.3), 0.09),
            )
        return np.where(d <= 0, C["pole"], -1).astype(np.int16)

    def albedo(u, v, fp):
        return (
            metal * (0.9 + 0.1 * np.clip(v / height, 0, 1) + 0.05 * noise.fbm(2, u * 3, v, fp, 2.0))[:, None]
        )

    lo, hi = (min(-r, arm - 0.1), max(r, arm + 0.1))
    return [billboard(name, base, (lo, hi, 0.0, height + 0.45), label, albedo)]


def sign_layer(name: str, base: np.ndarray, centre_v: float, kind: int) -> Layer:
    """A traffic sign plate just in front of its pole: 0 no-entry, 1 prohibitory, 2 mandatory (blue),
    3 warning triangle, 4 information rectangle."""
    red, white, blue = (
        np.array(c, np.float32) for c in ((0.75, 0.1, 0.1), (0.92, 0.92, 0.9), (0.1, 0.25, 0.65))
    )
    dark = np.array([0.1, 0.1, 0.1], np.float32)
    r = 0.32

    def shape(u, v):
        y = v - centre_v
        if kind == 3:  # triangle pointing up
            return (y >= -0.28) & (y <= 0.32 - 1.6 * np.abs(u)) & (np.abs(u) <= 0.37)
        if kind == 4:
            return (np.abs(u) <= 0.3) & (np.abs(y) <= 0.3)
        return np.hypot(u, y) <= r

    def label(u, v):
        return np.where(shape(u, v), C["traffic sign"], -1).astype(np.int16)

    def albedo(u, v, fp):
        y = v - centre_v
        rad = np.hypot(u, y)
        n = len(u)
        if kind == 0:
            bar = smooth_box(u, -0.22, 0.22, fp) * smooth_box(y, -0.06, 0.06, fp)
            return mix(colour(red, n), white, bar)
        if kind == 1:
            ring = 1 - smooth_box(rad, 0, r - 0.07, fp)
            return mix(colour(white, n), red, ring)
        if kind == 2:
            arrow = smooth_box(u, -0.05, 0.05, fp) * smooth_box(y, -0.2, 0.12, fp)
            head = smooth_box(y, 0.05, 0.22 - np.abs(u), fp) * (np.abs(u) < 0.15)
            return mix(colour(blue, n), white, np.maximum(arrow, head))
        if kind == 3:
            inner = (y >= -0.2) & (y <= 0.2 - 1.6 * np.abs(u))
            glyph = smooth_box(u, -0.03, 0.03, fp) * smooth_box(y, -0.12, 0.05, fp)
            return mix(mix(colour(red, n), white, inner.astype(np.float32)), dark, glyph)
        square = smooth_box(u, -0.12, 0.12, fp) * smooth_box(y, -0.12, 0.12, fp)
        return mix(colour(blue, n), white, square)

    return billboard(name, base, (-0.4, 0.4, centre_v - 0.4, centre_v + 0.4), label, albedo)


def traffic_light_layer(name: str, base: np.ndarray, bottom: float, lit: int) -> Layer:
    """A three-lamp traffic light housing; lamp `lit` (0 red, 1 amber, 2 green) is on."""
    on = [np.array(c, np.float32) for c in ((1.0, 0.15, 0.1), (1.0, 0.7, 0.1), (0.2, 1.0, 0.4))]
    off = np.array([0.12, 0.12, 0.1], np.float32)
    housing = np.array([0.08, 0.08, 0.08], np.float32)
    top = bottom + 0.9

    def label(u, v):
        return np.where((np.abs(u) <= 0.17) & (v >= bottom) & (v <= top), C["traffic light"], -1).astype(
            np.int16
        )

    def albedo(u, v, fp):
        col = colour(housing, len(u))
        for k in range(3):
            cv = top - 0.16 - 0.29 * k
            lamp = 1 - smooth_box(np.hypot(u, v - cv), 0.095, 10, fp)
            col = mix(col, on[k] if k == lit else off, lamp)
        return col

    return billboard(name, base, (-0.17, 0.17, bottom, top), label, albedo)


def wall_layer(
    name: str, x: float, z0: float, z1: float, height: float, rng: np.random.Generator, noise: NoiseBank
) -> Layer:
    """A low wall along the road (brick or concrete)."""
    base = jitter_colour(rng, (0.6, 0.57, 0.52) if rng.random() < 0.5 else (0.6, 0.34, 0.26), 0.1)
    brick = rng.random() < 0.5

    def albedo(u, v, fp):
        col = base * (1 + 0.08 * noise.fbm(0, u, v, fp, 2.0))[:, None]
        if brick:
            mortar = np.maximum(
                periodic_box(v, 0.075, 0, 0.012, fp),
                periodic_box(u + 0.11 * (np.floor(v / 0.075) % 2), 0.22, 0, 0.012, fp),
            )
            col = col * (1 - 0.3 * mortar)[:, None]
        cap = smooth_box(v, height - 0.08, height + 1, fp)
        return mix(col, np.array([0.7, 0.7, 0.68], np.float32), cap)

    return billboard(
        name, np.array([x, 0.0, 0.0]), (z0, z1, 0.0, height), constant_label(C["wall"]), albedo, facing="x"
    )


def fence_layer(
    name: str, x: float, z0: float, z1: float, height: float, rng: np.random.Generator, noise: NoiseBank
) -> Layer:
    """A fence along the road: see-through posts and rails, or solid boards."""
    solid = rng.random() < 0.4
    base = jitter_colour(rng, (0.45, 0.33, 0.22) if solid else (0.35, 0.38, 0.36), 0.15)
    spacing = float(rng.uniform(1.8, 2.6))

    def label(u, v):
        if solid:
            return np.full(u.shape, C["fence"], np.int16)
        posts = np.mod(u - z0, spacing) <= 0.09
        rails = (
            (np.abs(v - 0.25 * height) <= 0.04) | (np.abs(v - 0.6 * height) <= 0.04) | (v >= height - 0.07)
        )
        return np.where(posts | rails, C["fence"], -1).astype(np.int16)

    def albedo(u, v, fp):
        col = base * (1 + 0.1 * noise.fbm(1, u, v, fp, 3.0))[:, None]
        if solid:
            col = col * (1 - 0.35 * periodic_box(u, 0.16, 0, 0.015, fp))[:, None]
        return col

    return billboard(name, np.array([x, 0.0, 0.0]), (z0, z1, 0.0, height), label, albedo, facing="x")


# --- vegetation -----------------------------------------------------------------------------------


def tree_layer(name: str, base: np.ndarray, rng: np.random.Generator, noise: NoiseBank) -> Layer:
    """A tree seen from the road: trunk and a lobed canopy (both `vegetation`)."""
    trunk_h = float(rng.uniform(1.8, 3.0))
    crown_r = float(rng.uniform(1.4, 3.2))
    cy = trunk_h + crown_r * 0.8
    lobes = [
        (
            float(rng.uniform(-0.6, 0.6) * crown_r),
            cy + float(rng.uniform(-0.4, 0.5) * crown_r),
            crown_r * float(rng.uniform(0.55, 0.85)),
        )
        for _ in range(int(rng.integers(3, 6)))
    ]
    leaf = jitter_colour(rng, (0.22, 0.38, 0.12), 0.25)
    bark = jitter_colour(rng, (0.32, 0.24, 0.16), 0.15)
    kk = int(rng.integers(0, 4))

    def canopy_d(u, v):
        d = np.full(u.shape, np.inf)
        for lu, lv, lr in lobes:
            d = np.minimum(d, circle_distance(u, v, (lu, lv), lr))
        return d + 0.25 * noise.sample(kk, u * 3.0, v * 3.0)

    def label(u, v):
        trunk = capsule_distance(u, v, (0.0, 0.0), (0.0, cy), 0.16) <= 0
        return np.where(trunk | (canopy_d(u, v) <= 0), C["vegetation"], -1).astype(np.int16)

    def albedo(u, v, fp):
        inside = canopy_d(u, v) <= 0
        g = noise.fbm(kk, u, v, fp, 2.5)
        col = (
            leaf
            * (1 + 0.35 * g)[:, None]
            * (0.75 + 0.25 * np.clip((v - trunk_h) / (2 * crown_r), 0, 1))[:, None]
        )
        tr = bark * (1 + 0.2 * noise.fbm(kk + 1, u * 4, v, fp, 3.0))[:, None]
        return np.where(inside[:, None], col, tr)

    top = max(lv + lr for _, lv, lr in lobes) + 0.3
    half = max(abs(lu) + lr for lu, _, lr in lobes) + 0.3
    return billboard(name, base, (-half, half, 0.0, top), label, albedo)


def hedge_layer(
    name: str, x: float, z0: float, z1: float, height: float, rng: np.random.Generator, noise: NoiseBank
) -> Layer:
    leaf = jitter_colour(rng, (0.18, 0.33, 0.12), 0.2)

    def label(u, v):
        top = height + 0.15 * noise.sample(1, u * 1.5, np.zeros_like(u))
        return np.where(v <= top, C["vegetation"], -1).astype(np.int16)

    def albedo(u, v, fp):
        return leaf * (1 + 0.3 * noise.fbm(2, u, v, fp, 3.0))[:, None]

    return billboard(name, np.array([x, 0.0, 0.0]), (z0, z1, 0.0, height + 0.5), label, albedo, facing="x")
