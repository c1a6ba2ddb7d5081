"""Optical-flow colouring with the Middlebury colour wheel at a caller-fixed scale.

`COLOUR_WHEEL` is the 55-hue wheel of Baker et al. (ICCV 2007); `flow_to_rgb` maps direction to hue
and magnitude / `max_mag` to saturation (zero flow white, beyond the scale darkened), `flow_scale`
picks one scale for a whole clip from a high percentile of its magnitudes, and `colour_wheel_legend`
draws the wheel as an RGBA legend, optionally labelled with the scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw

from mpvss_core.viz._common import Colour
from mpvss_core.viz._text import _font, _text_size

# Middlebury wheel: number of hues in each transition between the six primary/secondary colours,
# chosen by Baker et al. so that the wheel looks roughly perceptually even.
_WHEEL_SEGMENTS: tuple[tuple[int, Colour, Colour], ...] = (
    (15, (255, 0, 0), (255, 255, 0)),  # red -> yellow
    (6, (255, 255, 0), (0, 255, 0)),  # yellow -> green
    (4, (0, 255, 0), (0, 255, 255)),  # green -> cyan
    (11, (0, 255, 255), (0, 0, 255)),  # cyan -> blue
    (13, (0, 0, 255), (255, 0, 255)),  # blue -> magenta
    (6, (255, 0, 255), (255, 0, 0)),  # magenta -> red
)


def _make_colour_wheel() -> np.ndarray:
    """55x3 float64 wheel in [0, 255]: in each segment the changing channel moves in steps of
    floor(255 * i / count), starting at the segment's first colour (as in the Middlebury code)."""
    rows = []
    for count, start, end in _WHEEL_SEGMENTS:
        for i in range(count):
            step = math.floor(255 * i / count)
            rows.append(
                [s + (step if e > s else -step if e < s else 0) for s, e in zip(start, end, strict=True)]
            )
    return np.asarray(rows, np.float64)


COLOUR_WHEEL = _make_colour_wheel()  # 55x3, hue index 0 = red (rightward flow)


DEFAULT_INVALID_COLOUR: Colour = (128, 128, 128)


def flow_to_rgb(
    flow: np.ndarray,
    max_mag: float,
    invalid_colour: Colour = DEFAULT_INVALID_COLOUR,
) -> np.ndarray:
    """Colour a flow field with the Middlebury wheel at a fixed scale.

    Hue is the direction: `atan2(-dy, -dx) / pi` in [-1, 1] is mapped linearly onto wheel indices
    0..54 and neighbouring wheel colours are interpolated. So +x (rightward) is red (255, 0, 0), +y
    (downward, image coordinates) is orange-yellow (255, 229, 0), -x cyan-ish and -y blue-violet. An
    exactly rightward vector always gets index 0 (the reference code gives 0 or 54 depending on the
    sign of a zero dy). Saturation is the magnitude: with r = |flow| / max_mag, a wheel colour c becomes
    255 - r * (255 - c) for r <= 1 (zero flow is white), and c * 0.75 (full saturation, darkened) for
    r > 1, then floored to uint8, as in the reference implementation.

    Args:
        flow: HxWx2 float, (dx, dy) in pixels.
        max_mag: magnitude shown at full saturation; fixed by the caller for a whole clip (or a UI
            slider) so colours are comparable across frames and methods. Must be > 0.
        invalid_colour: RGB of pixels whose flow is NaN or infinite.

    Returns:
        HxWx3 uint8 RGB.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be HxWx2, got shape {flow.shape}")
    if not (math.isfinite(max_mag) and max_mag > 0):
        raise ValueError(f"max_mag must be a positive finite number, got {max_mag}")
    finite = np.isfinite(flow).all(axis=2)
    dx = np.where(finite, flow[..., 0], 0.0)
    dy = np.where(finite, flow[..., 1], 0.0)

    ncols = len(COLOUR_WHEEL)
    angle = np.arctan2(-dy, -dx) / np.pi  # in [-1, 1]; both ends are "rightward"
    angle = np.where(angle >= 1.0, -1.0, angle)
    pos = (angle + 1.0) / 2.0 * (ncols - 1)
    k0 = np.floor(pos).astype(np.intp)
    k1 = (k0 + 1) % ncols
    frac = (pos - k0)[..., None]
    col = ((1.0 - frac) * COLOUR_WHEEL[k0] + frac * COLOUR_WHEEL[k1]) / 255.0

    rad = (np.hypot(dx, dy) / max_mag)[..., None]
    inside = rad <= 1.0
    col = np.where(inside, 1.0 - rad * (1.0 - col), col * 0.75)
    # Floor as the reference does; the epsilon keeps e.g. 203.99999999 (meant 204) from dropping a level.
    out = np.floor(255.0 * col + 1e-9).astype(np.uint8)
    out[~finite] = invalid_colour
    return out


def flow_scale(
    flows: Iterable[np.ndarray],
    valid: Iterable[np.ndarray | None] | None = None,
    percentile: float = 99.0,
    eps: float = 1e-3,
    max_samples_per_frame: int = 1 << 18,
) -> float:
    """One fixed colour scale for a whole clip: a high percentile of the flow magnitudes.

    A percentile rather than the maximum keeps a few outliers (occlusion borders, a broken estimate)
    from washing out every other colour; vectors above it are drawn darkened by `flow_to_rgb`.

    Args:
        flows: HxWx2 float flow fields (any number, sizes may differ).
        valid: optional HxW bool masks, one per flow (None entries = all pixels); non-finite vectors
            are always excluded.
        percentile: in [0, 100].
        eps: lower bound of the result, so an all-static clip still gives a usable scale.
        max_samples_per_frame: frames with more valid pixels are subsampled with a regular stride
            (deterministic) to bound memory on long, large clips.

    Returns:
        The scale in pixels, >= eps (eps when there is no valid vector at all).
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    flows = list(flows)
    masks = [None] * len(flows) if valid is None else list(valid)
    if len(masks) != len(flows):
        raise ValueError(f"{len(flows)} flows but {len(masks)} valid masks")
    samples = []
    for f, m in zip(flows, masks, strict=True):
        f = np.asarray(f, dtype=np.float64)
        if f.ndim != 3 or f.shape[2] != 2:
            raise ValueError(f"flow must be HxWx2, got shape {f.shape}")
        mag = np.hypot(f[..., 0], f[..., 1])
        keep = np.isfinite(mag)
        if m is not None:
            keep &= np.asarray(m, bool)
        vals = mag[keep]
        if vals.size > max_samples_per_frame:
            vals = vals[:: math.ceil(vals.size / max_samples_per_frame)]
        samples.append(vals)
    if not samples or sum(s.size for s in samples) == 0:
        return float(eps)
    return float(max(eps, np.percentile(np.concatenate(samples), percentile)))


def colour_wheel_legend(size: int = 128, max_mag: float | None = None) -> np.ndarray:
    """The flow colour wheel as a legend image.

    Each pixel of the disc shows the colour of the flow vector from the centre to that pixel, with the
    disc radius standing for `max_mag` (the rim is fully saturated, the centre white).

    Args:
        size: side of the square holding the disc, in pixels.
        max_mag: the scale the legend documents; when given, a strip below the disc reads
            "max <max_mag> px".

    Returns:
        RGBA uint8: size x size x 4, or (size + strip) x size x 4 with the label. Alpha is 0 outside
        the disc (and 255 on the label strip).
    """
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    radius = size / 2.0
    centre = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    vec = np.stack([xx - centre, yy - centre], axis=-1) / radius  # unit = rim
    rgb = flow_to_rgb(vec, max_mag=1.0)
    inside = np.hypot(vec[..., 0], vec[..., 1]) <= 1.0
    disc = np.dstack([rgb, np.where(inside, 255, 0).astype(np.uint8)])
    if max_mag is None:
        return disc

    text = f"max {max_mag:.1f} px"
    font = _font(max(9, size // 10))
    tw, th = _text_size(font, text)
    strip_h = th + 6
    strip = Image.new("RGBA", (size, strip_h), (255, 255, 255, 255))
    draw = ImageDraw.Draw(strip)
    left, top, _, _ = font.getbbox(text)
    draw.text(((size - tw) / 2 - left, (strip_h - th) / 2 - top), text, fill=(0, 0, 0, 255), font=font)
    return np.concatenate([disc, np.asarray(strip, np.uint8)], axis=0)
