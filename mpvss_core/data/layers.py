"""Planar layers: the only primitive of the synthetic renderer.

A layer is a textured rectangle of a 3-D plane, P(u, v) = O(t) + u*A + v*B, that moves by pure
translation O(t). Its shape (transparent parts) and class come from `label(u, v)`, its colour from
`albedo(u, v, footprint)`. Because a surface point is identified by (layer, u, v) in every frame,
semantic labels and optical flow between any two frames are exact: the renderer never guesses.
Boxes (vehicles) are several layers, one per face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

LabelFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
AlbedoFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

UP = np.array([0.0, -1.0, 0.0])  # world Y points down
X_AXIS = np.array([1.0, 0.0, 0.0])
Z_AXIS = np.array([0.0, 0.0, 1.0])


@dataclass
class Layer:
    """A planar, translating, textured layer.

    Attributes:
        name: for debugging ("ground", "car3.rear", ...).
        origin: (3,) world position of (u, v) = (0, 0) at frame 0.
        axis_u, axis_v: (3,) orthonormal world directions of the u and v coordinates.
        extent: (u0, u1, v0, v1) rectangle of the plane that can be visible.
        label: (u, v) -> int16 class id per point, -1 where the layer is transparent.
        albedo: (u, v, footprint) -> Nx3 float32 reflectance in [0, 1].
        velocity: (3,) world metres per frame.
        bob: (amplitude m, period frames, phase rad) of a vertical oscillation (walkers), or None.
        shade: light reaching the layer (ambient + sun), set by the scene.
        outward: (3,) normal of the visible side for back-face culling, or None for two-sided.
    """

    name: str
    origin: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    extent: tuple[float, float, float, float]
    label: LabelFn
    albedo: AlbedoFn
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bob: tuple[float, float, float] | None = None
    shade: float = 1.0
    outward: np.ndarray | None = None

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.axis_u, self.axis_v)

    def origin_at(self, t: float) -> np.ndarray:
        o = self.origin + self.velocity * t
        if self.bob is not None:
            amp, period, phase = self.bob
            o = o + UP * amp * abs(np.sin(np.pi * t / period + phase))
        return o

    def corners_at(self, t: float) -> np.ndarray:
        """4x3 world corners of the extent rectangle at frame t."""
        u0, u1, v0, v1 = self.extent
        o = self.origin_at(t)
        uv = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]])
        return o + uv[:, :1] * self.axis_u + uv[:, 1:] * self.axis_v


def constant_label(cls: int) -> LabelFn:
    """A fully opaque layer of one class."""

    def label(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.full(u.shape, cls, np.int16)

    return label


def billboard(
    name: str,
    base: np.ndarray,
    extent: tuple[float, float, float, float],
    label: LabelFn,
    albedo: AlbedoFn,
    velocity: np.ndarray | None = None,
    facing: str = "z",
) -> Layer:
    """An upright layer standing on `base` (u across, v up from the ground).

    facing="z": the plane faces the road direction (u along X) — trees, poles, people, signs.
    facing="x": the plane runs along the road (u along Z) — facades, walls, fences, hedges.
    """
    axis_u = X_AXIS if facing == "z" else Z_AXIS
    return Layer(
        name=name,
        origin=np.asarray(base, float),
        axis_u=axis_u,
        axis_v=UP,
        extent=extent,
        label=label,
        albedo=albedo,
        velocity=np.zeros(3) if velocity is None else np.asarray(velocity, float),
    )


@dataclass
class BoxFace:
    """Texture and shape of one face of a box, in that face's (u, v) metres (u across, v up from
    the box bottom for vertical faces; u across, v forward for the top)."""

    label: LabelFn
    albedo: AlbedoFn


HEADINGS = {"+z": 0.0, "-z": np.pi, "+x": np.pi / 2, "-x": -np.pi / 2}


def yaw_vector(v: np.ndarray, angle: float) -> np.ndarray:
    """Rotate a world vector about the vertical axis (towards +X for positive angles)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2]])


def box_layers(
    name: str,
    centre_bottom: np.ndarray,
    size: tuple[float, float, float],
    faces: dict[str, BoxFace],
    velocity: np.ndarray,
    heading: str = "+z",
) -> list[Layer]:
    """Layers for the faces of a box of (length, width, height) whose front points along `heading`
    ("+z", "-z", "+x" or "-x").

    `faces` maps any of "rear", "front", "left", "right", "top" to its texture; missing faces are not
    built. Vertical faces use u across the face (from the viewer's left to right when seen from
    outside) and v up from the box bottom; the top uses u across and v from rear to front. Each face
    gets its outward normal for back-face culling.
    """
    a = HEADINGS[heading]
    fwd, right = yaw_vector(Z_AXIS, a), yaw_vector(X_AXIS, a)
    length, width, height = size
    c = np.asarray(centre_bottom, float)
    hl, hw = length / 2, width / 2
    geo = {
        "rear": (c - fwd * hl, right, UP, (-hw, hw, 0.0, height), -fwd),
        "front": (c + fwd * hl, -right, UP, (-hw, hw, 0.0, height), fwd),
        "left": (c - right * hw, -fwd, UP, (-hl, hl, 0.0, height), -right),
        "right": (c + right * hw, fwd, UP, (-hl, hl, 0.0, height), right),
        "top": (c + UP * height, right, fwd, (-hw, hw, -hl, hl), UP),
    }
    layers = []
    for key, face in faces.items():
        origin, au, av, ext, normal = geo[key]
        layers.append(
            Layer(
                name=f"{name}.{key}",
                origin=origin,
                axis_u=au,
                axis_v=av,
                extent=ext,
                label=face.label,
                albedo=face.albedo,
                velocity=np.asarray(velocity, float),
                outward=normal,
            )
        )
    return layers


# --- 2-D shape helpers (signed distances in a layer's (u, v) plane) -----------------------------


def capsule_distance(
    u: np.ndarray, v: np.ndarray, a: tuple[float, float], b: tuple[float, float], radius: float
) -> np.ndarray:
    """Signed distance to a capsule (segment a-b thickened by `radius`); negative inside."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = np.clip(((u - ax) * dx + (v - ay) * dy) / den, 0.0, 1.0) if den > 0 else np.zeros_like(u)
    px, py = ax + t * dx - u, ay + t * dy - v
    return np.sqrt(px * px + py * py) - radius


def circle_distance(u: np.ndarray, v: np.ndarray, c: tuple[float, float], r: float) -> np.ndarray:
    return np.hypot(u - c[0], v - c[1]) - r


def rect_inside(u: np.ndarray, v: np.ndarray, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
