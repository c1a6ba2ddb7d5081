"""Pinhole camera with a per-frame pose, for the synthetic street-scene renderer.

World axes: X right, Y down, Z forward (the camera's axes at rest), metres. The ground is the plane
Y = camera height. Pixel (row i, column j) has its centre at image coordinates (x=j, y=i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """World->camera rotation 3x3 for yaw (about Y, positive turns right), pitch (about X, positive
    looks down) and roll (about Z), radians. Applied as R = Rz(roll) @ Rx(pitch) @ Ry(yaw)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    # Ry(yaw) is the world->camera map of a camera turned by +yaw towards +X.
    ry = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = np.array([[cr, sr, 0.0], [-sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return rz @ rx @ ry


@dataclass(frozen=True)
class Intrinsics:
    """Focal length f (pixels) and principal point (cx, cy) for an image of `size` (H, W)."""

    f: float
    cx: float
    cy: float
    size: tuple[int, int]

    @classmethod
    def for_size(cls, size: tuple[int, int], hfov_deg: float = 72.0, horizon: float = 0.42) -> Intrinsics:
        h, w = size
        f = (w / 2) / np.tan(np.radians(hfov_deg) / 2)
        return cls(f=float(f), cx=(w - 1) / 2, cy=horizon * (h - 1), size=(h, w))


@dataclass(frozen=True)
class Pose:
    """Camera pose of one frame: centre C (3,) in world and rotation R (3x3) world->camera."""

    C: np.ndarray
    R: np.ndarray

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points Nx3 -> camera coordinates Nx3."""
        return (X - self.C) @ self.R.T


def pixel_rays(K: Intrinsics, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Camera-frame ray directions Nx3 with z = 1 for pixel coordinates (ys, xs)."""
    return np.stack([(xs - K.cx) / K.f, (ys - K.cy) / K.f, np.ones_like(xs, dtype=np.float64)], -1)


def project(K: Intrinsics, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame points Nx3 -> image x (N,), y (N,) and depth z (N,). Points with z <= 0 get NaN."""
    z = Xc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(z > 1e-6, 1.0 / z, np.nan)
    return K.f * Xc[:, 0] * inv + K.cx, K.f * Xc[:, 1] * inv + K.cy, z
