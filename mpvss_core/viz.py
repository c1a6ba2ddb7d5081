"""Pictures for the app and the analyses: label colouring and overlays, optical-flow colouring with a
fixed scale, the colour-wheel legend, attention heatmaps, legends, image grids and key-frame badges.

Everything here is numpy in, `uint8` RGB (or RGBA) numpy out; no matplotlib, no torch. Inputs are never
modified in place.

Flow colouring follows the Middlebury colour wheel of Baker et al. (ICCV 2007), as used by RAFT and
`flow_vis`: direction -> hue, magnitude -> saturation, rightward = red, downward = orange-yellow, zero =
white. Unlike `flow_vis` and torchvision, the magnitude is normalised by a scale the *caller* fixes (one
per clip, see `flow_scale`), never by the image's own maximum, so that colours mean the same thing across
frames and across methods.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mpvss_core.data.classes import IGNORE_INDEX

Colour = tuple[int, int, int]

# ----------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------


def _as_palette(palette: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3:
        raise ValueError(f"palette must be Kx3, got shape {pal.shape}")
    return pal.astype(np.uint8)


def _known_label_mask(labels: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """HxW bool: ids that have a palette colour (in [0, K) and not the ignore id)."""
    return (labels >= 0) & (labels < num_classes) & (labels != ignore_index)


def colorize_labels(
    labels: np.ndarray,
    palette: np.ndarray,
    ignore_index: int = IGNORE_INDEX,
    ignore_colour: Colour = (0, 0, 0),
) -> np.ndarray:
    """Colour a label map with a palette (a lookup table, fast enough for video).

    Args:
        labels: HxW integer class ids.
        palette: Kx3 uint8 colours of ids 0..K-1.
        ignore_index: id painted with `ignore_colour`.
        ignore_colour: RGB of ignored pixels; ids outside [0, K) (unknown classes) get it too, so a
            label map from another label space never raises here.

    Returns:
        HxWx3 uint8 RGB.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    pal = _as_palette(palette)
    k = len(pal)
    # One extra LUT row for "no colour" keeps this a single gather.
    lut = np.concatenate([pal, np.asarray([ignore_colour], np.uint8)], axis=0)
    idx = np.where(_known_label_mask(labels, k, ignore_index), labels, k)
    return lut[idx.astype(np.intp)]


def _boundary_mask(labels: np.ndarray) -> np.ndarray:
    """HxW bool: pixels whose right or lower neighbour has another id (1-pixel-thick lines)."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def _blend(base: np.ndarray, top: np.ndarray, alpha: float) -> np.ndarray:
    """Round-half-up of (1 - alpha) * base + alpha * top, in float64 so exact values are predictable."""
    out = (1.0 - alpha) * base.astype(np.float64) + alpha * top.astype(np.float64)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def overlay_labels(
    frame: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    alpha: float = 0.5,
    ignore_index: int = IGNORE_INDEX,
    boundaries: bool = False,
    boundary_colour: Colour = (255, 255, 255),
) -> np.ndarray:
    """Blend class colours over a frame.

    Args:
        frame: HxWx3 uint8 RGB.
        labels: HxW integer class ids.
        palette: Kx3 uint8.
        alpha: weight of the class colour (0 = frame only, 1 = colours only). Each channel is
            `round((1 - alpha) * frame + alpha * colour)` with halves rounded up.
        ignore_index: pixels with this id (and ids outside [0, K)) keep the frame unchanged.
        boundaries: also draw class boundaries (any change of id, ignore included), 1 pixel wide.
        boundary_colour: RGB of the boundary lines (white by default).

    Returns:
        HxWx3 uint8 RGB.
    """
    frame = np.asarray(frame)
    labels = np.asarray(labels)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match frame {frame.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    pal = _as_palette(palette)
    frame = frame.astype(np.uint8, copy=False)
    colours = colorize_labels(labels, pal, ignore_index=ignore_index)
    known = _known_label_mask(labels, len(pal), ignore_index)
    out = frame.copy()
    out[known] = _blend(frame[known], colours[known], alpha)
    if boundaries:
        out[_boundary_mask(labels)] = boundary_colour
    return out


# ----------------------------------------------------------------------------------------------------
# Optical flow
# ----------------------------------------------------------------------------------------------------

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


def _font(size: int | None = None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's default font, at `size` when FreeType is available (bitmap default otherwise)."""
    if size is not None:
        try:
            return ImageFont.load_default(size=size)
        except (TypeError, ValueError, OSError):
            pass
    return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(right - left), int(bottom - top)


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


# ----------------------------------------------------------------------------------------------------
# Attention heatmaps
# ----------------------------------------------------------------------------------------------------

# Eleven evenly spaced samples of matplotlib's "inferno" colormap (van der Walt & Smith), hex values as
# published in its documentation; linear interpolation between them keeps it close to perceptually even.
_INFERNO_STOPS = (
    "000004", "160b39", "420a68", "6a176e", "932667", "bc3754", "dd513a", "f37819", "fca50a", "f6d746",
    "fcffa4",
)  # fmt: skip


def _make_lut(stops: Sequence[str], n: int = 256) -> np.ndarray:
    pts = np.asarray([[int(s[i : i + 2], 16) for i in (0, 2, 4)] for s in stops], np.float64)
    x = np.linspace(0.0, 1.0, len(pts))
    t = np.linspace(0.0, 1.0, n)
    lut = np.stack([np.interp(t, x, pts[:, c]) for c in range(3)], axis=1)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


INFERNO_LUT = _make_lut(_INFERNO_STOPS)  # 256x3 uint8, dark (0) -> bright yellow (1)


def apply_colormap(values: np.ndarray, lut: np.ndarray = INFERNO_LUT) -> np.ndarray:
    """Map values in [0, 1] (HxW float, clipped; NaN -> 0) through a Nx3 uint8 LUT -> HxWx3 uint8."""
    v = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    idx = np.rint(np.clip(v, 0.0, 1.0) * (len(lut) - 1)).astype(np.intp)
    return lut[idx]


def attention_heatmap(
    attn: np.ndarray,
    frame: np.ndarray | None = None,
    alpha: float = 0.6,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Colour an attention map (inferno) and blend it over a frame.

    The map is normalised by its own maximum (values / max, negatives clipped to 0, NaN -> 0), so the
    brightest colour always marks the map's peak: good for seeing *where* one query looks, but the
    absolute level is not comparable between maps. An all-zero (or non-positive) map stays dark.

    Args:
        attn: hxw float attention weights (any scale).
        frame: HxWx3 uint8 RGB to blend over, or None for the heatmap alone.
        alpha: weight of the heatmap in the blend.
        size: (H, W) of the output when `frame` is None (default: the map's own size).

    Returns:
        HxWx3 uint8 RGB; the map is resized bilinearly to the frame (or `size`).
    """
    a = np.asarray(attn, np.float32)
    if a.ndim != 2:
        raise ValueError(f"attn must be hxw, got shape {a.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    if frame is not None:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
        size = frame.shape[:2]
    if size is not None and tuple(size) != a.shape:
        a = cv2.resize(a, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    a = np.clip(a, 0.0, None)
    peak = float(a.max()) if a.size else 0.0
    norm = a / peak if peak > 0 else np.zeros_like(a)
    heat = apply_colormap(norm)
    if frame is None:
        return heat
    return _blend(frame.astype(np.uint8, copy=False), heat, alpha)


# ----------------------------------------------------------------------------------------------------
# Legends, grids, badges
# ----------------------------------------------------------------------------------------------------


def label_legend(
    class_names: Sequence[str],
    palette: np.ndarray,
    columns: int | None = None,
    swatch: int = 14,
    background: Colour = (255, 255, 255),
) -> np.ndarray:
    """A legend of colour swatches with class names, filled column by column.

    Args:
        class_names: K names.
        palette: Kx3 uint8 (at least K rows).
        columns: number of columns; default about sqrt(K / 3), i.e. a layout roughly three times taller
            in rows than in columns (1 column up to 5 classes, 3 for 18, 7 for 124).
        swatch: side of a swatch in pixels.
        background: RGB of the background (text is black).

    Returns:
        HxWx3 uint8 RGB.
    """
    pal = _as_palette(palette)
    k = len(class_names)
    if k == 0:
        raise ValueError("label_legend needs at least one class")
    if len(pal) < k:
        raise ValueError(f"{k} class names but only {len(pal)} palette colours")
    cols = columns if columns is not None else max(1, math.ceil(math.sqrt(k / 3)))
    cols = max(1, min(int(cols), k))
    rows = math.ceil(k / cols)
    font = _font(max(9, swatch - 3))
    text_w = max(_text_size(font, str(n))[0] for n in class_names)
    gap = 4
    cell_w = swatch + gap + text_w + 2 * gap
    cell_h = swatch + gap
    img = Image.new("RGB", (cols * cell_w + gap, rows * cell_h + gap), background)
    draw = ImageDraw.Draw(img)
    for i, name in enumerate(class_names):
        c, r = divmod(i, rows)
        x, y = gap + c * cell_w, gap + r * cell_h
        colour = tuple(int(v) for v in pal[i])
        # Thin dark outline so white/near-background swatches stay visible.
        draw.rectangle([x, y, x + swatch - 1, y + swatch - 1], fill=colour, outline=(60, 60, 60))
        left, top, _, bottom = font.getbbox(str(name))
        ty = y + (swatch - (bottom - top)) / 2 - top
        draw.text((x + swatch + gap - left, ty), str(name), fill=(0, 0, 0), font=font)
    return np.asarray(img, np.uint8)


def _to_rgb(image: np.ndarray, background: Colour) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 (alpha composited over `background`) -> HxWx3 uint8."""
    im = np.asarray(image)
    if im.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {im.dtype}")
    if im.ndim == 2:
        im = im[..., None]
    if im.ndim != 3 or im.shape[2] not in (1, 3, 4):
        raise ValueError(f"images must be HxW, HxWx3 or HxWx4, got shape {im.shape}")
    if im.shape[2] == 1:
        return np.repeat(im, 3, axis=2)
    if im.shape[2] == 4:
        a = im[..., 3:4].astype(np.float64) / 255.0
        bg = np.asarray(background, np.float64)
        return np.clip(np.rint(im[..., :3] * a + bg * (1.0 - a)), 0, 255).astype(np.uint8)
    return im


def tile_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    columns: int | None = None,
    pad: int = 4,
    background: Colour = (255, 255, 255),
) -> np.ndarray:
    """Arrange images in a grid, each with an optional title bar above it.

    Images whose height differs from the first one's are resized (bilinear, aspect kept) to that
    height; every cell is as wide as the widest image, images are left-aligned in their cell.

    Args:
        images: N images, HxWx3 uint8 (HxW grey and HxWx4 RGBA accepted; alpha is composited over
            `background`).
        titles: N titles or None (no title bars).
        columns: images per row (default: all in one row).
        pad: pixels between cells and around the grid.
        background: RGB of padding and title bars (titles are drawn in black).

    Returns:
        HxWx3 uint8 RGB.
    """
    if len(images) == 0:
        raise ValueError("tile_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ims = [_to_rgb(im, background) for im in images]
    h = ims[0].shape[0]
    resized = []
    for im in ims:
        if im.shape[0] != h:
            w = max(1, round(im.shape[1] * h / im.shape[0]))
            im = cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)
        resized.append(im)
    cols = len(resized) if columns is None else max(1, min(int(columns), len(resized)))
    rows = math.ceil(len(resized) / cols)
    cell_w = max(im.shape[1] for im in resized)
    font = _font(12)
    title_h = 0
    if titles is not None:
        title_h = max(_text_size(font, t or " ")[1] for t in titles) + 6
    cell_h = title_h + h
    canvas = Image.new(
        "RGB", (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad), background
    )
    draw = ImageDraw.Draw(canvas)
    for i, im in enumerate(resized):
        r, c = divmod(i, cols)
        x = pad + c * (cell_w + pad)
        y = pad + r * (cell_h + pad)
        if titles is not None and titles[i]:
            left, top, _, _ = font.getbbox(titles[i])
            draw.text((x + 2 - left, y + 3 - top), titles[i], fill=(0, 0, 0), font=font)
        canvas.paste(Image.fromarray(im), (x, y + title_h))
    return np.asarray(canvas, np.uint8)


KEY_BADGE_COLOUR: Colour = (220, 40, 40)
PROPAGATED_BADGE_COLOUR: Colour = (40, 40, 40)


def draw_key_marker(
    frame: np.ndarray,
    is_key: bool,
    distance: int = 0,
    corner: str = "top-left",
) -> np.ndarray:
    """Write a small badge in a corner: "KEY" on key frames, "+d" on frames propagated d frames from
    their key frame.

    The badge is rendered at a fixed small size and scaled up by an integer factor (nearest) for large
    frames (about 1x per 240 rows) so it stays readable at 480p and above.

    Args:
        frame: HxWx3 uint8 RGB (not modified).
        is_key: whether the frame is a key frame.
        distance: frames since the last key frame (shown when not a key frame).
        corner: "top-left", "top-right", "bottom-left" or "bottom-right".

    Returns:
        A new HxWx3 uint8 RGB frame with the badge (clipped if the frame is tiny).
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3, got shape {frame.shape}")
    if corner not in ("top-left", "top-right", "bottom-left", "bottom-right"):
        raise ValueError(f"unknown corner {corner!r}")
    text = "KEY" if is_key else f"+{int(distance)}"
    colour = KEY_BADGE_COLOUR if is_key else PROPAGATED_BADGE_COLOUR
    font = _font(11)
    left, top, right, bottom = font.getbbox(text)
    bw, bh = int(right - left) + 8, int(bottom - top) + 6
    badge = Image.new("RGB", (bw, bh), colour)
    ImageDraw.Draw(badge).text((4 - left, 3 - top), text, fill=(255, 255, 255), font=font)
    h, w = frame.shape[:2]
    scale = max(1, h // 240)
    badge_arr = np.asarray(badge, np.uint8)
    if scale > 1:
        badge_arr = np.repeat(np.repeat(badge_arr, scale, axis=0), scale, axis=1)
    margin = 2 * scale
    bh, bw = min(badge_arr.shape[0], max(0, h - margin)), min(badge_arr.shape[1], max(0, w - margin))
    out = frame.astype(np.uint8, copy=True)
    if bh == 0 or bw == 0:
        return out
    y0 = margin if corner.startswith("top") else h - margin - bh
    x0 = margin if corner.endswith("left") else w - margin - bw
    out[y0 : y0 + bh, x0 : x0 + bw] = badge_arr[:bh, :bw]
    return out
