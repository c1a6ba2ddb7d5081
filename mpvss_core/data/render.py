"""Ray-cast rendering of a layered scene, and its exact optical flow.

Each frame is rendered by intersecting every pixel's ray with every layer's plane (inside the
layer's projected bounding box) and keeping the nearest opaque hit: a z-buffer over planes. The
renderer stores, per pixel, which layer it shows and the (u, v) plane coordinates of the point it
shows; the point's position in any other frame follows from the layers' and camera's motion, which
gives the exact flow. The sky is a plane at infinity (owner 0) whose points are directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpvss_core.data.camera import Intrinsics, Pose, pixel_rays, project
from mpvss_core.data.layers import Layer

NEAR = 0.15  # metres; nearer hits are clipped (the camera sits inside the car)
SKY = 0  # owner id of the sky; layer i is owner i + 1


@dataclass
class Lighting:
    """Global lighting of a clip: the same for every frame, so a point keeps its colour."""

    exposure: float
    tint: np.ndarray  # (3,) multiplicative white balance
    haze_colour: np.ndarray  # (3,)
    haze_distance: float  # metres for 63% haze


@dataclass
class Scene:
    """Everything needed to render a clip and compute its exact flow."""

    K: Intrinsics
    poses: list[Pose]
    layers: list[Layer]
    sky_label: int
    sky_albedo: object  # (azimuth, elevation, footprint rad) -> Nx3
    lighting: Lighting

    @property
    def num_frames(self) -> int:
        return len(self.poses)


@dataclass
class FrameBuffers:
    """Per-pixel result of rendering one frame (HxW each)."""

    rgb: np.ndarray  # HxWx3 uint8
    label: np.ndarray  # HxW uint8
    owner: np.ndarray  # HxW int16: 0 = sky, i + 1 = layer i
    uv: np.ndarray  # HxWx2 float32: plane coordinates, or (azimuth, elevation) for the sky


def _clip_polygon_near(corners_cam: np.ndarray, near: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon (Nx3, camera frame) to z >= near."""
    out = []
    n = len(corners_cam)
    for i in range(n):
        a, b = corners_cam[i], corners_cam[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 3))


def _bbox(layer: Layer, pose: Pose, K: Intrinsics, t: int) -> tuple[int, int, int, int] | None:
    """Pixel bounding box (y0, y1, x0, x1), end-exclusive, of a layer in frame t, or None if unseen."""
    cam = _clip_polygon_near(pose.to_camera(layer.corners_at(t)), NEAR)
    if len(cam) == 0:
        return None
    xs, ys, _ = project(K, cam)
    h, w = K.size
    x0 = max(int(np.floor(xs.min())) - 1, 0)
    x1 = min(int(np.ceil(xs.max())) + 2, w)
    y0 = max(int(np.floor(ys.min())) - 1, 0)
    y1 = min(int(np.ceil(ys.max())) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def render_frame(scene: Scene, t: int) -> FrameBuffers:
    """Render frame t: colours, labels, owners and plane coordinates."""
    K, pose = scene.K, scene.poses[t]
    h, w = K.size
    depth = np.full((h, w), np.inf)
    owner = np.zeros((h, w), np.int16)
    uv = np.zeros((h, w, 2), np.float32)
    label = np.full((h, w), scene.sky_label, np.int16)
    footprint = np.zeros((h, w), np.float32)
    boxes: dict[int, tuple[int, int, int, int]] = {}

    for i, layer in enumerate(scene.layers):
        o = layer.origin_at(t)
        if layer.outward is not None and np.dot(pose.C - o, layer.outward) <= 0:
            continue  # back face
        box = _bbox(layer, pose, K, t)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        ys, xs = np.mgrid[y0:y1, x0:x1]
        d = pixel_rays(K, ys.ravel().astype(np.float64), xs.ravel().astype(np.float64))
        m = pose.R @ layer.normal
        oc = pose.R @ (o - pose.C)
        md = d @ m
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.dot(m, oc) / md
        cur = depth[y0:y1, x0:x1].ravel()
        hit = np.isfinite(s) & (s > NEAR) & (s < cur)
        if not hit.any():
            continue
        idx = np.flatnonzero(hit)
        p = d[idx] * s[idx, None] - oc
        u = p @ (pose.R @ layer.axis_u)
        v = p @ (pose.R @ layer.axis_v)
        u0, u1, v0, v1 = layer.extent
        inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
        idx, u, v = idx[inside], u[inside], v[inside]
        if len(idx) == 0:
            continue
        lab = layer.label(u, v)
        opaque = lab >= 0
        idx, u, v, lab = idx[opaque], u[opaque], v[opaque], lab[opaque]
        if len(idx) == 0:
            continue
        rows, cols = np.divmod(idx, x1 - x0)
        rows += y0
        cols += x0
        depth[rows, cols] = s[idx]
        owner[rows, cols] = i + 1
        uv[rows, cols, 0] = u
        uv[rows, cols, 1] = v
        label[rows, cols] = lab
        # Metres per pixel along the most stretched direction: s * |d|^2 / (f * |m.d|).
        dd = d[idx]
        footprint[rows, cols] = np.minimum(s[idx] * (dd * dd).sum(1) / (K.f * np.abs(md[idx]) + 1e-9), 50.0)
        boxes[i + 1] = box

    sky = owner == 0
    ys, xs = np.nonzero(sky)
    d = pixel_rays(K, ys.astype(np.float64), xs.astype(np.float64)) @ pose.R  # camera -> world
    uv[ys, xs, 0] = np.arctan2(d[:, 0], d[:, 2])
    uv[ys, xs, 1] = np.arctan2(-d[:, 1], np.hypot(d[:, 0], d[:, 2]))
    rgb = _shade(scene, owner, uv, depth, footprint, boxes)
    return FrameBuffers(rgb=rgb, label=label.astype(np.uint8), owner=owner, uv=uv)


def _shade(
    scene: Scene,
    owner: np.ndarray,
    uv: np.ndarray,
    depth: np.ndarray,
    footprint: np.ndarray,
    boxes: dict[int, tuple[int, int, int, int]],
) -> np.ndarray:
    """Colour every pixel from its layer's albedo, the lighting and distance haze."""
    K = scene.K
    h, w = K.size
    col = np.zeros((h, w, 3), np.float32)
    ys, xs = np.nonzero(owner == 0)
    if len(ys):
        az = uv[ys, xs, 0].astype(np.float64)
        el = uv[ys, xs, 1].astype(np.float64)
        col[ys, xs] = scene.sky_albedo(az, el, np.full(az.shape, 1.0 / K.f, np.float32))
    lit = scene.lighting
    for oid, (y0, y1, x0, x1) in boxes.items():
        sel = owner[y0:y1, x0:x1] == oid
        if not sel.any():
            continue
        layer = scene.layers[oid - 1]
        r, c = np.nonzero(sel)
        r += y0
        c += x0
        a = layer.albedo(uv[r, c, 0].astype(np.float64), uv[r, c, 1].astype(np.float64), footprint[r, c])
        haze = (1.0 - np.exp(-depth[r, c] / lit.haze_distance)).astype(np.float32)[:, None]
        col[r, c] = a * layer.shade * (1 - haze) + lit.haze_colour * haze
    col = col * lit.tint * lit.exposure
    return np.clip(np.rint(col * 255.0), 0, 255).astype(np.uint8)


def exact_flow(scene: Scene, src: FrameBuffers, src_t: int, dst: FrameBuffers, dst_t: int):
    """Exact flow from frame src_t to dst_t and its validity.

    Returns:
        flow: HxWx2 float32 (dx, dy): pixel p of src shows the point dst shows at p + flow[p].
        valid: HxW bool: the point is in front of the dst camera, inside frame dst and visible there
            (frame dst shows the same layer at the nearest pixel of p + flow[p]).
    """
    K = scene.K
    h, w = K.size
    ys, xs = np.mgrid[0:h, 0:w]
    own = src.owner.ravel().astype(np.int64)
    u = src.uv[..., 0].ravel().astype(np.float64)
    v = src.uv[..., 1].ravel().astype(np.float64)
    pose = scene.poses[dst_t]

    n = len(scene.layers)
    origins = np.zeros((n + 1, 3))
    axes_u = np.zeros((n + 1, 3))
    axes_v = np.zeros((n + 1, 3))
    for i, layer in enumerate(scene.layers):
        origins[i + 1] = layer.origin_at(dst_t)
        axes_u[i + 1] = layer.axis_u
        axes_v[i + 1] = layer.axis_v

    world = origins[own] + u[:, None] * axes_u[own] + v[:, None] * axes_v[own]
    cam = pose.to_camera(world)
    sky = own == 0
    if sky.any():
        # Points at infinity: a direction, moved by the camera's rotation only.
        ce = np.cos(v[sky])
        direction = np.stack([ce * np.sin(u[sky]), -np.sin(v[sky]), ce * np.cos(u[sky])], -1)
        cam[sky] = direction @ pose.R.T
    x2, y2, z2 = project(K, cam)
    flow = np.stack([x2 - xs.ravel(), y2 - ys.ravel()], -1).astype(np.float32)

    valid = np.isfinite(x2) & (z2 > NEAR * (~sky)) & (x2 >= -0.5) & (x2 < w - 0.5)
    valid &= (y2 >= -0.5) & (y2 < h - 0.5)
    xi = np.clip(np.rint(np.nan_to_num(x2)), 0, w - 1).astype(np.int64)
    yi = np.clip(np.rint(np.nan_to_num(y2)), 0, h - 1).astype(np.int64)
    valid &= dst.owner[yi, xi] == own
    flow[~np.isfinite(flow).all(1)] = 0.0
    return flow.reshape(h, w, 2), valid.reshape(h, w)
