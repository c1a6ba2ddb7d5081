"""Random street scenes: layout, camera path, lighting, and the placement of every object.

`build_scene(seed, num_frames, size)` draws everything from `np.random.default_rng(seed)`, so a
seed fully determines a clip. Frame rate is 15 fps (VSPW's), distances are metres.
"""

from __future__ import annotations

import numpy as np

from mpvss_core.data.camera import Intrinsics, Pose, rotation
from mpvss_core.data.layers import Layer
from mpvss_core.data.render import Lighting, Scene
from mpvss_core.data.scene_agents import VEHICLE_LENGTH, VEHICLES, cyclist_layer, person_layer
from mpvss_core.data.scene_static import (
    C,
    Layout,
    end_wall_layers,
    facade_layer,
    ground_layer,
    sample_building_row,
    sky_albedo_fn,
    skyline_layer,
)
from mpvss_core.data.street_furniture import (
    fence_layer,
    hedge_layer,
    pole_layers,
    sign_layer,
    traffic_light_layer,
    tree_layer,
    wall_layer,
)
from mpvss_core.data.textures import NoiseBank

FPS = 15.0
Z_STATIC = (-30.0, 320.0)  # where street furniture and buildings are placed


def sample_layout(rng: np.random.Generator) -> Layout:
    kinds = ["buildings", "buildings", "park", "canal"]
    sides = {-1: kinds[rng.integers(4)], 1: kinds[rng.integers(4)]}
    if sides[-1] == "canal" and sides[1] == "canal":
        sides[1] = "buildings"
    lanes = int(rng.choice([1, 1, 2]))
    lay = Layout(
        cam_height=float(rng.uniform(1.3, 1.65)),
        lane_width=float(rng.uniform(3.0, 3.6)),
        lanes=lanes,
        sidewalk=float(rng.uniform(2.0, 4.5)),
        sides=sides,
        setback={s: (0.0 if rng.random() < 0.5 else float(rng.uniform(1.0, 5.0))) for s in (-1, 1)},
        canal=None,
        intersection=(float(rng.uniform(32, 70)), float(rng.uniform(8, 13))) if rng.random() < 0.45 else None,
        parking=float(rng.uniform(2.1, 2.5)) if rng.random() < 0.6 else 0.0,
    )
    canal_side = [s for s, k in sides.items() if k == "canal"]
    if canal_side:
        inner = lay.kerb + float(rng.uniform(0.5, 2.5))
        lay.canal = (inner, inner + float(rng.uniform(8, 25)))
    return lay


def camera_path(rng: np.random.Generator, lay: Layout, num_frames: int) -> tuple[list[Pose], float, float]:
    """Forward motion along the lane with pan (slow yaw) and shake (small fast rotations/bumps).

    Returns the poses, the forward speed (m/frame) and the camera's lane centre X."""
    speed = float(rng.uniform(0.35, 0.8))
    lane = int(rng.integers(lay.lanes))
    x0 = (lane + 0.5) * lay.lane_width
    yaw0, amp = np.radians(rng.uniform(-2, 2)), np.radians(rng.uniform(1, 6))
    period, phase = float(rng.uniform(25, 80)), float(rng.uniform(0, 2 * np.pi))
    pitch0 = np.radians(rng.uniform(-1.0, 2.5))
    shake = [(float(rng.uniform(0.3, 1.5)), float(rng.uniform(0, 2 * np.pi))) for _ in range(6)]
    s_amp = np.radians(rng.uniform(0.1, 0.35))
    poses = []
    for t in range(num_frames):
        sh = [s_amp * np.sin(w * t + p) / 3 for w, p in shake]
        yaw = yaw0 + amp * np.sin(2 * np.pi * t / period + phase)
        pitch = pitch0 + sh[0] + sh[1] + sh[2]
        roll = sh[3] + sh[4]
        C_ = np.array(
            [x0 + 0.15 * np.sin(2 * np.pi * t / 90 + phase), -lay.cam_height + 0.6 * sh[5], speed * t]
        )
        poses.append(Pose(C=C_, R=rotation(yaw, pitch, roll)))
    return poses, speed, x0


def sample_lighting(rng: np.random.Generator) -> tuple[Lighting, np.ndarray, float, float, float]:
    """Lighting plus the sun direction (towards the sun), ambient, diffuse and overcast amounts."""
    el, az = np.radians(rng.uniform(15, 65)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(el) * np.sin(az), -np.sin(el), np.cos(el) * np.cos(az)])
    overcast = float(rng.uniform(0, 0.7))
    ambient = 0.5 + 0.3 * overcast
    diffuse = (1 - overcast) * float(rng.uniform(0.35, 0.55))
    warm = float(rng.uniform(-0.06, 0.06))
    lit = Lighting(
        exposure=float(rng.uniform(0.85, 1.15)),
        tint=np.array([1 + warm, 1.0, 1 - warm], np.float32),
        haze_colour=np.array([0.7, 0.75, 0.8], np.float32),
        haze_distance=float(rng.uniform(250, 700)),
    )
    return lit, sun, ambient, diffuse, overcast


def _static_side(rng, lay: Layout, noise: NoiseBank, s: int) -> list[Layer]:
    """Buildings, walls, fences, hedges, trees and poles on one side (s = -1 left, +1 right)."""
    out: list[Layer] = []
    kind = lay.sides[s]
    skip = lambda z: bool(lay.in_intersection(np.array(z), lay.sidewalk + 1.0))  # noqa: E731
    z0, z1 = Z_STATIC

    def along_road_segments(min_len: float, max_len: float) -> list[tuple[float, float]]:
        segs, z = [], z0
        while z < z1 * 0.7:
            length = float(rng.uniform(min_len, max_len))
            if not (skip(z) or skip(z + length)):
                segs.append((z, z + length))
            z += length + float(rng.uniform(5, 40))
        return segs

    if kind == "buildings":
        x = s * (lay.kerb + lay.setback[s])
        row = sample_building_row(rng, z0, z1, 0.35, (8.0, 35.0), skip)
        out.append(facade_layer(f"facade{s}", x, row, noise))
        out += end_wall_layers(f"facade{s}", x, s, row, noise)
        back = sample_building_row(rng, z0, z1 + 100, 0.1, (15.0, 45.0))
        out.append(facade_layer(f"backdrop{s}", x + s * float(rng.uniform(15, 25)), back, noise))
        if lay.setback[s] > 1.5 and rng.random() < 0.7:
            maker = [wall_layer, fence_layer, hedge_layer][rng.integers(3)]
            for a, b in along_road_segments(15, 60):
                h = float(rng.uniform(0.7, 1.6))
                out.append(maker(f"edge{s}_{a:.0f}", s * (lay.kerb + 0.1), a, b, h, rng, noise))
    elif kind == "park":
        if rng.random() < 0.6:
            maker = [fence_layer, hedge_layer][rng.integers(2)]
            for a, b in along_road_segments(20, 80):
                out.append(
                    maker(
                        f"edge{s}_{a:.0f}",
                        s * (lay.kerb + 0.2),
                        a,
                        b,
                        float(rng.uniform(0.8, 1.5)),
                        rng,
                        noise,
                    )
                )
        for k in range(int(rng.integers(12, 30))):
            z = float(rng.uniform(-5, 160))
            xt = s * (lay.kerb + float(rng.uniform(2.0, 30.0)))
            out.append(tree_layer(f"parktree{s}_{k}", np.array([xt, 0.0, z]), rng, noise))
        back = sample_building_row(rng, z0, z1 + 100, 0.15, (10.0, 40.0))
        out.append(facade_layer(f"backdrop{s}", s * (lay.kerb + float(rng.uniform(35, 60))), back, noise))
    else:  # canal: railing or wall along the bank, buildings across the water
        inner, outer = lay.canal
        maker = fence_layer if rng.random() < 0.6 else wall_layer
        out.append(maker(f"bank{s}", s * (lay.kerb + 0.15), z0, z1, float(rng.uniform(0.8, 1.2)), rng, noise))
        far = sample_building_row(rng, z0, z1 + 100, 0.2, (8.0, 30.0))
        out.append(facade_layer(f"farbank{s}", s * (outer + float(rng.uniform(3, 10))), far, noise))

    if kind != "park" and rng.random() < 0.55:  # street trees on the sidewalk
        z = float(rng.uniform(-10, 5))
        while z < 200:
            if not skip(z):
                out.append(
                    tree_layer(f"tree{s}_{z:.0f}", np.array([s * (lay.kerb - 0.7), 0.0, z]), rng, noise)
                )
            z += float(rng.uniform(7, 15))

    z = float(rng.uniform(-10, 10))  # lamp posts, with the arm over the road
    while z < 230:
        if not skip(z):
            base = np.array([s * (lay.road_half + 0.45), 0.0, z])
            out += pole_layers(
                f"lamp{s}_{z:.0f}", base, float(rng.uniform(5, 8)), -s * float(rng.uniform(0.8, 1.8)), noise
            )
        z += float(rng.uniform(15, 32))
    z = float(rng.uniform(0, 30))  # traffic signs on short posts
    while z < 200:
        if not skip(z) and rng.random() < 0.7:
            base = np.array([s * (lay.road_half + 0.35), 0.0, z])
            h = float(rng.uniform(2.0, 2.6))
            out += pole_layers(f"signpost{s}_{z:.0f}", base, h, 0.0, noise)
            out.append(
                sign_layer(f"sign{s}_{z:.0f}", base - np.array([0, 0, 0.06]), h + 0.3, int(rng.integers(5)))
            )
        z += float(rng.uniform(20, 60))
    return out


def _intersection_furniture(rng, lay: Layout, noise: NoiseBank) -> list[Layer]:
    out: list[Layer] = []
    if lay.intersection is None:
        return out
    z0, _ = lay.intersection
    lit = int(rng.integers(3))
    for s in (-1, 1):
        base = np.array([s * (lay.road_half + 0.5), 0.0, z0 - lay.sidewalk / 2])
        out += pole_layers(f"tlpole{s}", base, 3.0, 0.0, noise)
        out.append(traffic_light_layer(f"tlight{s}", base - np.array([0, 0, 0.1]), 2.9, lit))
    return out


def _traffic(rng, lay: Layout, noise: NoiseBank, speed: float, cam_x: float, num_frames: int) -> list[Layer]:
    """Vehicles in both directions, parked cars, crossing traffic, pedestrians and cyclists."""
    out: list[Layer] = []
    T = num_frames
    kinds = ["car"] * 7 + ["truck"] * 2 + ["bus"] * 2

    def crosses_junction(z_start: float, v: float, length: float) -> bool:
        if lay.intersection is None:
            return False
        z0, wi = lay.intersection
        zs = z_start + v * np.arange(T)
        return bool(np.any((zs + length / 2 > z0 - 5) & (zs - length / 2 < z0 + wi + 1)))

    for direction in (1, -1):
        for k in range(lay.lanes):
            x = direction * (k + 0.5) * lay.lane_width
            own_lane = direction == 1 and abs(x - cam_x) < 0.5
            if direction == 1:
                v = speed * float(rng.uniform(0.85, 1.15) if own_lane else rng.uniform(0.6, 1.4))
                z = float(rng.uniform(14, 30)) if own_lane else float(rng.uniform(-25, 10))
            else:
                v = -float(rng.uniform(0.4, 0.9))
                z = float(rng.uniform(5, 40))
            n = 0
            while z < 220 and n < 8:
                kind = kinds[rng.integers(len(kinds))]
                length = VEHICLE_LENGTH[kind]
                zc = z + length / 2
                # Nothing may drive into the camera: keep 6 m ahead of it all along the clip.
                gap_ok = not own_lane or all(zc - length / 2 + (v - speed) * t > 6.0 for t in range(T))
                if gap_ok and not crosses_junction(zc, v, length):
                    pos = np.array([x, 0.0, zc])
                    heading = "+z" if direction == 1 else "-z"
                    out += VEHICLES[kind](
                        f"{kind}{direction}{k}_{n}", rng, noise, pos, np.array([0, 0, v]), heading
                    )
                    n += 1
                z += length + float(rng.uniform(6, 45))

    if lay.parking > 0:
        for s in (-1, 1):
            if rng.random() > 0.65:
                continue
            z = float(rng.uniform(-10, 10))
            while z < 160:
                if not lay.in_intersection(np.array(z), 6.0) and rng.random() < 0.8:
                    pos = np.array([s * (lay.road_half - lay.parking / 2), 0.0, z])
                    out += VEHICLES["car"](
                        f"parked{s}_{z:.0f}", rng, noise, pos, np.zeros(3), "+z" if s > 0 else "-z"
                    )
                z += float(rng.uniform(5.5, 12))

    if lay.intersection is not None:
        z0, wi = lay.intersection
        for k in range(int(rng.integers(1, 4))):
            d = 1 if rng.random() < 0.5 else -1
            zc = z0 + wi * (0.3 if d == 1 else 0.7)
            kind = kinds[rng.integers(len(kinds))]
            x0 = -d * float(rng.uniform(6, 40)) - d * 15 * k
            out += VEHICLES[kind](
                f"cross{k}",
                rng,
                noise,
                np.array([x0, 0.0, zc]),
                np.array([d * float(rng.uniform(0.3, 0.7)), 0, 0]),
                "+x" if d == 1 else "-x",
            )
        for k in range(int(rng.integers(0, 5))):  # pedestrians on the zebra crossing
            d = 1 if rng.random() < 0.5 else -1
            base = np.array(
                [-d * float(rng.uniform(lay.road_half - 2, lay.kerb)), 0.0, z0 - float(rng.uniform(1.5, 3.5))]
            )
            out.append(
                person_layer(
                    f"crosser{k}",
                    rng,
                    noise,
                    base,
                    np.array([d * float(rng.uniform(0.06, 0.1)), 0, 0]),
                    float(rng.uniform(0, np.pi)),
                )
            )
        if rng.random() < 0.5:
            d = 1 if rng.random() < 0.5 else -1
            base = np.array([-d * float(rng.uniform(3, 15)), 0.0, z0 + wi * 0.5])
            out.append(
                cyclist_layer(
                    "crosscyclist",
                    rng,
                    noise,
                    base,
                    np.array([d * float(rng.uniform(0.25, 0.4)), 0, 0]),
                    True,
                )
            )

    for s in (-1, 1):  # pedestrians on the sidewalks
        for k in range(int(rng.integers(1, 6))):
            base = np.array(
                [
                    s * (lay.road_half + float(rng.uniform(0.5, lay.sidewalk - 0.3))),
                    0.0,
                    float(rng.uniform(2, 90)),
                ]
            )
            vz = float(rng.choice([-1, 1])) * float(rng.uniform(0.06, 0.11)) if rng.random() < 0.8 else 0.0
            out.append(
                person_layer(
                    f"walker{s}_{k}", rng, noise, base, np.array([0, 0, vz]), float(rng.uniform(0, np.pi))
                )
            )

    outer_x = lay.road_half - (lay.parking / 2 if lay.parking else 0.6)
    if abs(outer_x - cam_x) > 1.8:  # cyclists riding ahead along the kerb
        for k in range(int(rng.integers(0, 3))):
            base = np.array([outer_x, 0.0, float(rng.uniform(8, 70))])
            out.append(
                cyclist_layer(
                    f"cyclist{k}", rng, noise, base, np.array([0, 0, float(rng.uniform(0.18, 0.4))]), False
                )
            )
    return out


def build_scene(seed: int, num_frames: int, size: tuple[int, int]) -> Scene:
    """A random street scene for `seed`, with `num_frames` camera poses at image `size` (H, W)."""
    rng = np.random.default_rng(seed)
    noise = NoiseBank(rng)
    lay = sample_layout(rng)
    K = Intrinsics.for_size(size, hfov_deg=float(rng.uniform(66, 80)), horizon=float(rng.uniform(0.38, 0.46)))
    poses, speed, cam_x = camera_path(rng, lay, num_frames)
    lighting, sun, ambient, diffuse, overcast = sample_lighting(rng)

    layers: list[Layer] = [ground_layer(lay, noise, rng), skyline_layer(rng, noise)]
    for s in (-1, 1):
        layers += _static_side(rng, lay, noise, s)
    layers += _intersection_furniture(rng, lay, noise)
    layers += _traffic(rng, lay, noise, speed, cam_x, num_frames)

    c0 = poses[0].C
    for layer in layers:
        n = layer.outward if layer.outward is not None else layer.normal
        if layer.outward is None and np.dot(n, c0 - layer.origin) < 0:
            n = -n  # light the side the camera sees
        layer.shade = float(ambient + diffuse * max(0.0, float(np.dot(n, sun))))
    return Scene(
        K=K,
        poses=poses,
        layers=layers,
        sky_label=C["sky"],
        sky_albedo=sky_albedo_fn(rng, noise, overcast),
        lighting=lighting,
    )
