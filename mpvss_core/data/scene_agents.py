"""Moving and parked agents of a synthetic street: cars, trucks, buses (boxes with textured faces),
pedestrians and cyclists (upright cut-outs built from capsules). All move by pure translation, so
their flow is exact; entering, leaving and mutual occlusion come from their trajectories.
"""

from __future__ import annotations

import numpy as np

from mpvss_core.data.layers import (
    HEADINGS,
    UP,
    Z_AXIS,
    BoxFace,
    Layer,
    billboard,
    box_layers,
    capsule_distance,
    circle_distance,
    yaw_vector,
)
from mpvss_core.data.scene_static import C
from mpvss_core.data.textures import NoiseBank, jitter_colour, mix, periodic_box, smooth_box

_CAR_COLOURS = [
    (0.85, 0.85, 0.85),
    (0.1, 0.1, 0.11),
    (0.55, 0.56, 0.58),
    (0.6, 0.08, 0.07),
    (0.1, 0.2, 0.45),
    (0.75, 0.75, 0.78),
    (0.2, 0.3, 0.22),
    (0.85, 0.6, 0.1),
    (0.35, 0.2, 0.15),
    (0.3, 0.45, 0.65),
]
_BUS_COLOURS = [(0.85, 0.7, 0.1), (0.75, 0.1, 0.1), (0.15, 0.3, 0.65), (0.85, 0.85, 0.82), (0.2, 0.55, 0.35)]
GLASS = np.array([0.12, 0.15, 0.19], np.float32)
TYRE = np.array([0.05, 0.05, 0.05], np.float32)


def _painted(body: np.ndarray, noise: NoiseBank, k: int):
    def albedo(u, v, fp):
        return body * (1 + 0.04 * noise.fbm(k, u, v, fp, 3.0))[:, None]

    return albedo


def _label(cls: int, shape):
    def label(u, v):
        return np.where(shape(u, v), cls, -1).astype(np.int16)

    return label


def _side_with_wheels(cls, body, noise, half_len, body_bottom, wheel_u, wheel_r, stripe=None):
    """A vehicle side: body above `body_bottom`, wheels below it at u = +-wheel_u."""

    def shape(u, v):
        wheels = np.zeros(u.shape, bool)
        for wu in wheel_u:
            wheels |= circle_distance(u, v, (wu, wheel_r), wheel_r) <= 0
        return (v >= body_bottom) | wheels

    def albedo(u, v, fp):
        col = body * (1 + 0.04 * noise.fbm(1, u, v, fp, 3.0))[:, None]
        if stripe is not None:  # a window band (bus) or a trim line
            lo, hi, pillar = stripe
            win = smooth_box(v, lo, hi, fp) * (1 - periodic_box(u, pillar, 0, 0.12, fp))
            col = mix(col, GLASS, win)
        col = col * (1 - 0.35 * smooth_box(v, body_bottom, body_bottom + 0.12, fp))[:, None]
        for wu in wheel_u:
            r = np.hypot(u - wu, v - wheel_r)
            tyre = 1 - smooth_box(r, wheel_r + 0.02, 10, fp)
            hub = 1 - smooth_box(r, wheel_r * 0.45, 10, fp)
            col = mix(col, TYRE, tyre)
            col = mix(col, np.array([0.55, 0.55, 0.56], np.float32), hub)
        return col

    return BoxFace(_label(cls, shape), albedo)


def _end_face(cls, body, noise, half_w, body_bottom, lights, lamp_v, glass_band=None, plate=True):
    """Rear or front of a vehicle: body, tyres visible below it at the corners, lamps, plate."""

    def shape(u, v):
        return (v >= body_bottom) | (np.abs(u) >= half_w - 0.3)

    def albedo(u, v, fp):
        col = body * (1 + 0.04 * noise.fbm(2, u, v, fp, 3.0))[:, None]
        col = np.where((v < body_bottom)[:, None], TYRE, col)
        lamp = smooth_box(np.abs(u), half_w - 0.38, half_w - 0.08, fp) * smooth_box(
            v, lamp_v, lamp_v + 0.14, fp
        )
        col = mix(col, lights, lamp)
        if plate:
            p = smooth_box(u, -0.26, 0.26, fp) * smooth_box(v, lamp_v - 0.22, lamp_v - 0.09, fp)
            col = mix(col, np.array([0.9, 0.88, 0.75], np.float32), p)
        if glass_band is not None:
            col = mix(
                col, GLASS, smooth_box(np.abs(u), -1, half_w - 0.12, fp) * smooth_box(v, *glass_band, fp)
            )
        return col

    return BoxFace(_label(cls, shape), albedo)


def _cabin_face(body, noise, half, height, cls):
    """A car cabin face: glass inset in a body-coloured frame."""

    def albedo(u, v, fp):
        glass = smooth_box(u, -half + 0.1, half - 0.1, fp) * smooth_box(v, 0.05, height - 0.06, fp)
        return mix(body * (1 + 0.04 * noise.fbm(3, u, v, fp, 3.0))[:, None], GLASS, glass)

    return BoxFace(_label(cls, lambda u, v: np.ones(u.shape, bool)), albedo)


def car_layers(name, rng, noise, pos, velocity, heading) -> list[Layer]:
    length, width = float(rng.uniform(4.0, 4.9)), float(rng.uniform(1.7, 1.9))
    body = jitter_colour(rng, _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))], 0.06)
    bottom, top = 0.3, float(rng.uniform(0.85, 1.0))
    cab_h = float(rng.uniform(0.45, 0.6))
    wheel_u = (-(length / 2 - 0.8), length / 2 - 0.8)
    red, white = np.array([0.8, 0.05, 0.05], np.float32), np.array([0.95, 0.95, 0.85], np.float32)
    lower = {
        "rear": _end_face(C["car"], body, noise, width / 2, bottom, red, top - 0.3),
        "front": _end_face(C["car"], body, noise, width / 2, bottom, white, top - 0.3, plate=True),
        "left": _side_with_wheels(C["car"], body, noise, length / 2, bottom, wheel_u, 0.32),
        "right": _side_with_wheels(C["car"], body, noise, length / 2, bottom, wheel_u, 0.32),
        "top": BoxFace(_label(C["car"], lambda u, v: np.ones(u.shape, bool)), _painted(body, noise, 4)),
    }
    cab_len, cab_w = length * float(rng.uniform(0.45, 0.55)), width - 0.16
    cabin = {
        k: _cabin_face(body, noise, (cab_w if k in ("rear", "front") else cab_len) / 2, cab_h, C["car"])
        for k in ("rear", "front", "left", "right")
    }
    cabin["top"] = BoxFace(_label(C["car"], lambda u, v: np.ones(u.shape, bool)), _painted(body, noise, 5))
    fwd = yaw_vector(Z_AXIS, HEADINGS[heading])
    out = box_layers(f"{name}.body", pos, (length, width, top), lower, velocity, heading)
    out += box_layers(
        f"{name}.cabin",
        pos + UP * top - fwd * 0.15 * length,
        (cab_len, cab_w, cab_h),
        cabin,
        velocity,
        heading,
    )
    return out


def truck_layers(name, rng, noise, pos, velocity, heading) -> list[Layer]:
    cab_len, cargo_len = 2.0, float(rng.uniform(5.5, 8.0))
    width = 2.45
    cab_col = jitter_colour(rng, _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))], 0.06)
    cargo_col = jitter_colour(
        rng, [(0.88, 0.88, 0.86), (0.6, 0.62, 0.65), (0.7, 0.25, 0.2)][rng.integers(3)], 0.05
    )
    fwd = yaw_vector(Z_AXIS, HEADINGS[heading])
    red, white = np.array([0.8, 0.05, 0.05], np.float32), np.array([0.95, 0.95, 0.85], np.float32)
    total = cab_len + cargo_len
    cab_centre = pos + fwd * (total / 2 - cab_len / 2)
    cargo_centre = pos - fwd * (total / 2 - cargo_len / 2)
    cab = {
        "front": _end_face(C["truck"], cab_col, noise, width / 2, 0.55, white, 0.8, glass_band=(1.7, 2.6)),
        "left": _side_with_wheels(
            C["truck"], cab_col, noise, cab_len / 2, 0.55, (0.0,), 0.5, stripe=(1.7, 2.5, 9.0)
        ),
        "right": _side_with_wheels(
            C["truck"], cab_col, noise, cab_len / 2, 0.55, (0.0,), 0.5, stripe=(1.7, 2.5, 9.0)
        ),
        "top": BoxFace(_label(C["truck"], lambda u, v: np.ones(u.shape, bool)), _painted(cab_col, noise, 4)),
        "rear": BoxFace(_label(C["truck"], lambda u, v: v >= 0.55), _painted(cab_col * 0.7, noise, 5)),
    }
    cargo_h = float(rng.uniform(3.3, 3.9))
    wheel_u = (-(cargo_len / 2 - 1.0), -(cargo_len / 2 - 2.1))
    cargo = {
        "rear": _end_face(C["truck"], cargo_col, noise, width / 2, 0.9, red, 1.0),
        "left": _side_with_wheels(C["truck"], cargo_col, noise, cargo_len / 2, 0.9, wheel_u, 0.5),
        "right": _side_with_wheels(C["truck"], cargo_col, noise, cargo_len / 2, 0.9, wheel_u, 0.5),
        "top": BoxFace(
            _label(C["truck"], lambda u, v: np.ones(u.shape, bool)), _painted(cargo_col * 0.9, noise, 6)
        ),
        "front": BoxFace(_label(C["truck"], lambda u, v: v >= 0.9), _painted(cargo_col * 0.8, noise, 7)),
    }
    out = box_layers(f"{name}.cab", cab_centre, (cab_len, width, 2.9), cab, velocity, heading)
    out += box_layers(
        f"{name}.cargo", cargo_centre, (cargo_len, width + 0.05, cargo_h), cargo, velocity, heading
    )
    return out


def bus_layers(name, rng, noise, pos, velocity, heading) -> list[Layer]:
    length, width, height = float(rng.uniform(10.5, 12.0)), 2.55, 3.1
    body = jitter_colour(rng, _BUS_COLOURS[rng.integers(len(_BUS_COLOURS))], 0.05)
    wheel_u = (-(length / 2 - 2.2), length / 2 - 2.6)
    red, white = np.array([0.8, 0.05, 0.05], np.float32), np.array([0.95, 0.95, 0.85], np.float32)
    faces = {
        "rear": _end_face(C["bus"], body, noise, width / 2, 0.35, red, 0.75, glass_band=(2.0, 2.8)),
        "front": _end_face(C["bus"], body, noise, width / 2, 0.35, white, 0.75, glass_band=(1.1, 2.8)),
        "left": _side_with_wheels(
            C["bus"], body, noise, length / 2, 0.35, wheel_u, 0.5, stripe=(1.3, 2.7, 1.3)
        ),
        "right": _side_with_wheels(
            C["bus"], body, noise, length / 2, 0.35, wheel_u, 0.5, stripe=(1.3, 2.7, 1.3)
        ),
        "top": BoxFace(
            _label(C["bus"], lambda u, v: np.ones(u.shape, bool)), _painted(body * 0.85, noise, 4)
        ),
    }
    return box_layers(name, pos, (length, width, height), faces, velocity, heading)


VEHICLES = {"car": car_layers, "truck": truck_layers, "bus": bus_layers}
VEHICLE_LENGTH = {"car": 5.0, "truck": 10.0, "bus": 12.0}


# --- people ---------------------------------------------------------------------------------------


def _capsule_figure(parts, u, v):
    """Signed distance to a union of capsules/circles and the index of the nearest part."""
    d = np.stack([capsule_distance(u, v, a, b, r) for a, b, r in parts])
    return d.min(0), d.argmin(0)


def person_layer(name, rng, noise, base, velocity, bob_phase) -> Layer:
    """A pedestrian cut-out facing the road direction; height 1.55-1.95 m."""
    h = float(rng.uniform(1.55, 1.95))
    skin = jitter_colour(
        rng, [(0.87, 0.7, 0.58), (0.6, 0.42, 0.3), (0.38, 0.26, 0.18)][rng.integers(3)], 0.05
    )
    shirt = jitter_colour(rng, tuple(rng.uniform(0.1, 0.9, 3)), 0.0)
    trousers = jitter_colour(
        rng, [(0.15, 0.18, 0.3), (0.2, 0.2, 0.2), (0.45, 0.38, 0.3)][rng.integers(3)], 0.1
    )
    hair = jitter_colour(rng, (0.15, 0.1, 0.06), 0.5)
    spread = float(rng.uniform(0.02, 0.1))
    parts = [
        ((-0.09, 0.5 * h), (-0.1 - spread, 0.06), 0.065),  # legs
        ((0.09, 0.5 * h), (0.1 + spread, 0.06), 0.065),
        ((0.0, 0.56 * h), (0.0, 0.78 * h), 0.16),  # torso
        ((-0.21, 0.8 * h), (-0.25, 0.5 * h), 0.05),  # arms
        ((0.21, 0.8 * h), (0.25, 0.5 * h), 0.05),
        ((0.0, 0.82 * h), (0.0, 0.87 * h), 0.05),  # neck
        ((0.0, 0.93 * h), (0.0, 0.93 * h), 0.1),  # head
    ]
    part_colour = np.stack([trousers, trousers, shirt, shirt, shirt, skin, skin])

    def label(u, v):
        d, _ = _capsule_figure(parts, u, v)
        return np.where(d <= 0, C["person"], -1).astype(np.int16)

    def albedo(u, v, fp):
        _, k = _capsule_figure(parts, u, v)
        col = part_colour[k] * (1 + 0.06 * noise.fbm(2, u, v, fp, 8.0))[:, None]
        col = np.where(((k == 6) & (v > 0.94 * h))[:, None], hair, col)
        col = np.where((v < 0.09)[:, None], TYRE * 2, col)
        return col

    layer = billboard(name, base, (-0.45, 0.45, 0.0, h + 0.05), label, albedo, velocity=velocity)
    layer.bob = (0.025, 7.0, bob_phase)
    return layer


def cyclist_layer(name, rng, noise, base, velocity, profile: bool) -> Layer:
    """A rider on a bicycle: from behind (`profile=False`) or from the side, facing +u when moving
    towards +X and mirrored otherwise. Labels: the body is `rider`, the bicycle `bicycle`."""
    mirror = -1.0 if profile and velocity[0] < 0 else 1.0
    jersey = jitter_colour(rng, tuple(rng.uniform(0.1, 0.9, 3)), 0.0)
    frame_col = jitter_colour(rng, tuple(rng.uniform(0.1, 0.9, 3)), 0.0)
    helmet = jitter_colour(rng, (0.85, 0.85, 0.88), 0.15)
    if profile:
        rider = [
            ((-0.15, 0.92), (0.22, 1.42), 0.14),
            ((0.3, 1.6), (0.3, 1.6), 0.11),
            ((0.2, 1.38), (0.47, 1.0), 0.045),
            ((-0.12, 0.95), (0.08, 0.62), 0.065),
            ((0.08, 0.62), (0.02, 0.3), 0.055),
        ]
        bike = [
            ((-0.55, 0.34), (-0.15, 0.85), 0.025),
            ((-0.15, 0.85), (0.45, 0.88), 0.025),
            ((0.0, 0.32), (-0.15, 0.85), 0.025),
            ((0.0, 0.32), (0.45, 0.88), 0.025),
            ((0.45, 0.88), (0.55, 0.34), 0.025),
            ((-0.55, 0.34), (0.0, 0.32), 0.025),
            ((0.42, 1.0), (0.52, 1.02), 0.025),
        ]
        wheels = [(-0.55, 0.34), (0.55, 0.34)]
    else:
        rider = [
            ((0.0, 1.0), (0.0, 1.42), 0.17),
            ((0.0, 1.6), (0.0, 1.6), 0.11),
            ((-0.19, 1.38), (-0.27, 1.03), 0.045),
            ((0.19, 1.38), (0.27, 1.03), 0.045),
            ((-0.12, 0.98), (-0.15, 0.35), 0.06),
            ((0.12, 0.98), (0.15, 0.35), 0.06),
        ]
        bike = [
            ((0.0, 0.02), (0.0, 0.68), 0.03),
            ((-0.29, 1.02), (0.29, 1.02), 0.025),
            ((0.0, 0.68), (0.0, 1.0), 0.03),
        ]
        wheels = []

    def parts_d(u, v):
        uu = u * mirror
        dr, kr = _capsule_figure(rider, uu, v)
        db, _ = _capsule_figure(bike, uu, v)
        for c in wheels:
            ring = np.abs(np.hypot(uu - c[0], v - c[1]) - 0.31) - 0.035
            db = np.minimum(db, ring)
        return dr, kr, db

    def label(u, v):
        dr, _, db = parts_d(u, v)
        out = np.full(u.shape, -1, np.int16)
        out[db <= 0] = C["bicycle"]
        out[dr <= 0] = C["rider"]
        return out

    def albedo(u, v, fp):
        dr, kr, db = parts_d(u, v)
        col = np.where((kr == 1)[:, None], helmet, jersey)  # part 1 is the head in both views
        legs = kr >= (3 if profile else 4)
        col = np.where(legs[:, None], np.array([0.12, 0.12, 0.14], np.float32), col)
        bike_col = frame_col if profile else TYRE
        col = np.where((dr > 0)[:, None], bike_col, col)
        return col * (1 + 0.05 * noise.fbm(1, u, v, fp, 8.0))[:, None]

    return billboard(name, base, (-0.95, 0.95, 0.0, 1.8), label, albedo, velocity=velocity)
