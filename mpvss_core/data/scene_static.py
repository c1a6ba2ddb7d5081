"""The street's layout and its large static content: ground (road, markings, sidewalks, terrain,
water), building rows, the far skyline and the sky. Each function returns layers (see layers.py)
whose label and albedo are closures over parameters drawn from the clip's random generator; smaller
objects are in street_furniture.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mpvss_core.data.layers import (
    X_AXIS,
    Layer,
    billboard,
    constant_label,
)
from mpvss_core.data.textures import NoiseBank, jitter_colour, mix, periodic_box, smooth_box
from mpvss_core.labels import SYNTH_CLASSES

C = {name: i for i, name in enumerate(SYNTH_CLASSES)}
GROUND_Z = (-40.0, 520.0)


@dataclass
class Layout:
    """The street's cross-section and features, in metres (X across, Z along the road; the ground
    is the plane Y = 0 and the camera rides `cam_height` above it)."""

    cam_height: float
    lane_width: float
    lanes: int  # per direction
    sidewalk: float
    sides: dict[int, str]  # side -1 (left) / +1 (right) -> "buildings" | "park" | "canal"
    setback: dict[int, float]  # terrain strip between sidewalk and facade
    canal: tuple[float, float] | None  # (inner |X|, outer |X|) of the water on the canal side
    intersection: tuple[float, float] | None  # (z start, width) of a crossing road
    parking: float = 0.0  # width of a parking strip at each edge of the road (0: none)

    @property
    def road_half(self) -> float:
        return self.lanes * self.lane_width + self.parking

    @property
    def kerb(self) -> float:
        """|X| of the sidewalk's outer edge."""
        return self.road_half + self.sidewalk

    def in_intersection(self, z: np.ndarray, margin: float = 0.0) -> np.ndarray:
        if self.intersection is None:
            return np.zeros(np.shape(z), bool)
        z0, wi = self.intersection
        return (z >= z0 - margin) & (z <= z0 + wi + margin)


# --- ground ---------------------------------------------------------------------------------------


def ground_layer(lay: Layout, noise: NoiseBank, rng: np.random.Generator) -> Layer:
    """The ground plane Y = 0 with road, markings, sidewalks, terrain and water."""
    asphalt = jitter_colour(rng, (0.30, 0.30, 0.31), 0.12)
    paving = jitter_colour(rng, (0.62, 0.60, 0.56), 0.10)
    grass = jitter_colour(rng, (0.30, 0.45, 0.16), 0.15)
    dry = jitter_colour(rng, (0.48, 0.42, 0.26), 0.12)
    water = jitter_colour(rng, (0.10, 0.24, 0.32), 0.15)
    paint = np.array([0.88, 0.88, 0.84], np.float32)
    tile = float(rng.uniform(0.5, 1.2))
    yellow_centre = rng.random() < 0.4
    rh, sw = lay.road_half, lay.sidewalk

    def label(x: np.ndarray, z: np.ndarray) -> np.ndarray:
        ax = np.abs(x)
        out = np.full(x.shape, C["terrain"], np.int16)
        out[ax <= lay.kerb] = C["sidewalk"]
        out[ax <= rh] = C["road"]
        if lay.intersection is not None:
            cross = lay.in_intersection(z)
            near_cross = lay.in_intersection(z, sw) & ~cross
            out[near_cross & (ax > rh)] = C["sidewalk"]
            out[cross] = C["road"]
        if lay.canal is not None:
            side = [s for s, k in lay.sides.items() if k == "canal"][0]
            wet = (x * side >= lay.canal[0]) & (x * side <= lay.canal[1])
            out[wet & (out == C["terrain"])] = C["water"]
        return out

    def albedo(x: np.ndarray, z: np.ndarray, fp: np.ndarray) -> np.ndarray:
        lab = label(x, z)
        out = np.empty((len(x), 3), np.float32)
        for cls in np.unique(lab):
            m = lab == cls
            out[m] = _ground_material(int(cls), x[m], z[m], fp[m])
        return out

    def _ground_material(cls: int, x: np.ndarray, z: np.ndarray, fp: np.ndarray) -> np.ndarray:
        n = len(x)
        if cls == C["road"]:
            base = asphalt * (1 + 0.10 * noise.fbm(0, x, z, fp, 1.5))[:, None]
            base *= (1 + 0.06 * noise.fbm(1, x, z, fp, 0.08, octaves=2))[:, None]
            ax = np.abs(x)
            w = fp
            lines = np.zeros(n, np.float32)
            on_road = ~lay.in_intersection(z)
            dashes = periodic_box(z, 9.0, 0.0, 3.0, w)
            for k in range(1, lay.lanes):  # lane separators, dashed
                lines = np.maximum(
                    lines, smooth_box(ax, k * lay.lane_width - 0.07, k * lay.lane_width + 0.07, w) * dashes
                )
            centre = smooth_box(x, -0.08, 0.08, w) * (1.0 if yellow_centre else dashes)
            e = lay.lanes * lay.lane_width + 0.1 if lay.parking else rh - 0.3
            edge = smooth_box(ax, e - 0.06, e + 0.06, w)
            lines = np.maximum(lines, np.maximum(centre, edge)) * on_road
            if lay.intersection is not None:  # zebra crossings on both sides of the junction
                z0, wi = lay.intersection
                zebra = smooth_box(z, z0 - 4.0, z0 - 1.0, w) + smooth_box(z, z0 + wi + 1.0, z0 + wi + 4.0, w)
                lines = np.maximum(
                    lines, np.clip(zebra, 0, 1) * periodic_box(x, 1.0, 0.0, 0.5, w) * (ax < rh)
                )
            paint_col = (
                paint
                if not yellow_centre
                else np.where((np.abs(x) < 0.2)[:, None], np.array([0.85, 0.7, 0.2], np.float32), paint)
            )
            return mix(base, paint_col, lines)
        if cls == C["sidewalk"]:
            base = paving * (1 + 0.07 * noise.fbm(2, x, z, fp, 3.0))[:, None]
            joints = np.maximum(periodic_box(x, tile, 0.0, 0.03, fp), periodic_box(z, tile, 0.0, 0.03, fp))
            kerb = smooth_box(np.abs(x), rh, rh + 0.25, fp)
            col = base * (1 - 0.3 * joints)[:, None]
            return mix(col, np.array([0.72, 0.72, 0.7], np.float32), kerb)
        if cls == C["water"]:
            rip = noise.fbm(3, x, z, fp, 1.0, aniso=0.25)
            col = water * (1 + 0.25 * rip)[:, None]
            glint = np.clip(rip - 1.2, 0, 1)[:, None] * 0.5
            return np.clip(col + glint, 0, 1)
        # terrain
        g = noise.fbm(1, x, z, fp, 0.4)
        col = mix(grass, dry, np.clip(0.45 + 0.3 * g, 0, 1))
        return col * (1 + 0.18 * noise.fbm(2, x, z, fp, 5.0))[:, None]

    return Layer(
        name="ground",
        origin=np.zeros(3),
        axis_u=X_AXIS,
        axis_v=np.array([0.0, 0.0, 1.0]),
        extent=(-400.0, 400.0, *GROUND_Z),
        label=label,
        albedo=albedo,
        outward=np.array([0.0, -1.0, 0.0]),
    )


# --- buildings ------------------------------------------------------------------------------------

_WALL_COLOURS = [
    (0.72, 0.66, 0.55),
    (0.62, 0.35, 0.28),
    (0.55, 0.55, 0.55),
    (0.82, 0.80, 0.74),
    (0.45, 0.40, 0.36),
    (0.70, 0.58, 0.42),
    (0.52, 0.58, 0.62),
    (0.76, 0.70, 0.62),
]


@dataclass
class BuildingRow:
    """Buildings along one side: per-building arrays indexed by segment."""

    starts: np.ndarray
    ends: np.ndarray
    heights: np.ndarray
    colours: np.ndarray  # Sx3
    spacing: np.ndarray
    floor: np.ndarray
    win_w: np.ndarray
    win_h: np.ndarray
    glass: np.ndarray  # Sx3


def sample_building_row(
    rng: np.random.Generator, z0: float, z1: float, gap_prob: float, height: tuple[float, float], skip=None
) -> BuildingRow:
    """Buildings from z0 to z1 with random widths, gaps and styles; `skip(z)` True where none."""
    rows: dict[str, list] = {k: [] for k in BuildingRow.__dataclass_fields__}
    z = z0
    while z < z1:
        width = float(rng.uniform(8, 30))
        if skip is not None and (skip(z) or skip(z + width)):
            z += 4.0
            continue
        rows["starts"].append(z)
        rows["ends"].append(z + width)
        rows["heights"].append(float(rng.uniform(*height)))
        rows["colours"].append(jitter_colour(rng, _WALL_COLOURS[rng.integers(len(_WALL_COLOURS))], 0.08))
        rows["spacing"].append(float(rng.uniform(2.2, 4.0)))
        rows["floor"].append(float(rng.uniform(3.0, 3.8)))
        rows["win_w"].append(float(rng.uniform(0.8, 1.6)))
        rows["win_h"].append(float(rng.uniform(1.2, 1.9)))
        rows["glass"].append(jitter_colour(rng, (0.16, 0.20, 0.26), 0.3))
        z += width + (float(rng.uniform(2, 9)) if rng.random() < gap_prob else 0.0)
    return BuildingRow(
        **{
            k: np.array(v, np.float64 if k not in ("colours", "glass") else np.float32)
            for k, v in rows.items()
        }
    )


def facade_layer(name: str, x: float, row: BuildingRow, noise: NoiseBank, far: bool = False) -> Layer:
    """A vertical plane X = x along the road carrying a row of building fronts (u = Z, v = up)."""

    def seg(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = np.clip(np.searchsorted(row.starts, u, side="right") - 1, 0, len(row.starts) - 1)
        return i, (u >= row.starts[i]) & (u <= row.ends[i])

    def label(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        i, inside = seg(u)
        return np.where(inside & (v <= row.heights[i]), C["building"], -1).astype(np.int16)

    def albedo(u: np.ndarray, v: np.ndarray, fp: np.ndarray) -> np.ndarray:
        i, _ = seg(u)
        local = u - row.starts[i]
        wall = row.colours[i] * (1 + 0.07 * noise.fbm(0, u, v, fp, 1.2))[:, None]
        wu = periodic_box(local, row.spacing[i], 0.5, 0.5 + row.win_w[i], fp)
        upper = v > 3.6
        wv = periodic_box(v, row.floor[i], 0.9, 0.9 + row.win_h[i], fp)
        shop = smooth_box(v, 0.5, 2.9, fp) * periodic_box(local, 5.0, 0.4, 4.2, fp) * (1 - upper)
        win = np.maximum(wu * wv * upper * (v < row.heights[i] - 1.0), shop)
        cell = np.floor(local / row.spacing[i]) * 7.3 + np.floor(v / row.floor[i]) * 3.1
        tone = 0.7 + 0.6 * (0.5 + 0.5 * np.sin(cell * 12.9898 + i * 78.233))
        glass = row.glass[i] * tone[:, None].astype(np.float32)
        col = mix(wall, glass, win.astype(np.float32))
        cornice = smooth_box(v, row.heights[i] - 0.5, row.heights[i] + 1, fp)
        col = col * (1 - 0.25 * cornice)[:, None]
        if far:
            col = mix(col, np.array([0.6, 0.65, 0.72], np.float32), np.full(len(u), 0.35, np.float32))
        return col

    return billboard(
        name,
        np.array([x, 0.0, 0.0]),
        (row.starts.min(), row.ends.max(), 0.0, row.heights.max()),
        label,
        albedo,
        facing="x",
    )


def end_wall_layers(name: str, x: float, side: int, row: BuildingRow, noise: NoiseBank) -> list[Layer]:
    """Side walls at the start of each building that follows a gap, facing the camera."""
    out = []
    for k in range(len(row.starts)):
        if k > 0 and row.starts[k] - row.ends[k - 1] < 0.5:
            continue
        depth = 14.0
        col = row.colours[k] * 0.9
        height = row.heights[k]

        def albedo(u, v, fp, col=col):
            return col * (1 + 0.07 * noise.fbm(1, u, v, fp, 1.2))[:, None]

        ext = (0.0, depth, 0.0, height) if side > 0 else (-depth, 0.0, 0.0, height)
        layer = billboard(
            f"{name}.end{k}", np.array([x, 0.0, row.starts[k]]), ext, constant_label(C["building"]), albedo
        )
        layer.outward = np.array([0.0, 0.0, -1.0])
        out.append(layer)
    return out


# --- far away -------------------------------------------------------------------------------------


def skyline_layer(rng: np.random.Generator, noise: NoiseBank) -> Layer:
    """A distant row of tall buildings that closes the view at the end of the street."""
    z = GROUND_Z[1] - 40.0
    row = sample_building_row(rng, -700.0, 700.0, 0.2, (15.0, 90.0))
    layer = facade_layer("skyline", 0.0, row, noise, far=True)
    layer.origin = np.array([0.0, 0.0, z])
    layer.axis_u = X_AXIS.copy()
    layer.extent = (row.starts.min(), row.ends.max(), 0.0, row.heights.max())
    return layer


def sky_albedo_fn(rng: np.random.Generator, noise: NoiseBank, overcast: float):
    """Sky colour as a function of direction (azimuth, elevation in radians)."""
    zenith = jitter_colour(rng, (0.25, 0.45, 0.78), 0.12)
    horizon = jitter_colour(rng, (0.72, 0.80, 0.88), 0.06)
    grey = np.array([0.7, 0.72, 0.75], np.float32)
    cloud = np.array([0.95, 0.95, 0.96], np.float32)
    cover = float(rng.uniform(0.1, 0.7))

    def albedo(az: np.ndarray, el: np.ndarray, fp: np.ndarray) -> np.ndarray:
        t = np.clip(el / 0.6, 0, 1).astype(np.float32) ** 0.7
        col = mix(horizon, zenith, t)
        col = mix(col, grey, np.full(len(az), overcast, np.float32))
        c = noise.fbm(3, az * 4.0, el * 10.0, fp * 6, 1.5, octaves=4)
        amount = np.clip((c + 1.2 * cover - 0.6) * 0.8, 0, 1) * np.clip(el * 8, 0, 1)
        return mix(col, cloud * (0.85 + 0.15 * t[:, None]), amount.astype(np.float32))

    return albedo
