"""Visualisation helpers: exact pixel values worked out by hand, shapes of composite images."""

from __future__ import annotations

import numpy as np
import pytest

from mpvss_core.viz import (
    COLOUR_WHEEL,
    INFERNO_LUT,
    attention_heatmap,
    colorize_labels,
    colour_wheel_legend,
    draw_key_marker,
    flow_scale,
    flow_to_rgb,
    label_legend,
    overlay_labels,
    tile_images,
)

PALETTE = np.array([[10, 20, 30], [200, 0, 51]], np.uint8)


# ----------------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------------


def test_colorize_labels_exact():
    labels = np.array([[0, 1], [255, 7]])  # 7 >= K = 2: unknown -> ignore colour
    out = colorize_labels(labels, PALETTE)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out, [[[10, 20, 30], [200, 0, 51]], [[0, 0, 0], [0, 0, 0]]])
    out = colorize_labels(labels, PALETTE, ignore_colour=(1, 2, 3))
    np.testing.assert_array_equal(out[1], [[1, 2, 3], [1, 2, 3]])


def test_overlay_labels_exact():
    frame = np.full((1, 3, 3), 100, np.uint8)
    labels = np.array([[1, 255, 0]])
    # alpha 0.5 on class 1 (200, 0, 51): (50 + 100, 50 + 0, 50 + 25.5) = (150, 50, 75.5 -> 76)
    out = overlay_labels(frame, labels, PALETTE, alpha=0.5)
    np.testing.assert_array_equal(out[0, 0], [150, 50, 76])
    np.testing.assert_array_equal(out[0, 1], [100, 100, 100])  # ignored: the frame itself
    # class 0 (10, 20, 30): (55, 60, 65)
    np.testing.assert_array_equal(out[0, 2], [55, 60, 65])
    # alpha 0.25 on class 1: 75 + (50, 0, 12.75) = (125, 75, 87.75 -> 88)
    out = overlay_labels(frame, labels, PALETTE, alpha=0.25)
    np.testing.assert_array_equal(out[0, 0], [125, 75, 88])
    np.testing.assert_array_equal(frame, 100)  # input untouched


def test_overlay_boundaries_are_white():
    frame = np.zeros((2, 3, 3), np.uint8)
    labels = np.array([[0, 0, 1], [0, 0, 1]])
    out = overlay_labels(frame, labels, PALETTE, alpha=1.0, boundaries=True)
    # Column 1 differs from its right neighbour -> boundary; other pixels keep their class colour.
    np.testing.assert_array_equal(out[:, 1], [[255, 255, 255]] * 2)
    np.testing.assert_array_equal(out[:, 0], [[10, 20, 30]] * 2)
    np.testing.assert_array_equal(out[:, 2], [[200, 0, 51]] * 2)


# ----------------------------------------------------------------------------------------------------
# Flow colouring
# ----------------------------------------------------------------------------------------------------


def _one(vec, max_mag=1.0, **kw) -> np.ndarray:
    return flow_to_rgb(np.array([[vec]], np.float64), max_mag, **kw)[0, 0]


def test_colour_wheel_from_segment_counts():
    assert COLOUR_WHEEL.shape == (55, 3)  # 15 + 6 + 4 + 11 + 13 + 6
    np.testing.assert_array_equal(COLOUR_WHEEL[0], [255, 0, 0])  # RY starts at red
    np.testing.assert_array_equal(COLOUR_WHEEL[15], [255, 255, 0])  # YG starts at yellow
    np.testing.assert_array_equal(COLOUR_WHEEL[21], [0, 255, 0])  # GC at green
    np.testing.assert_array_equal(COLOUR_WHEEL[25], [0, 255, 255])  # CB at cyan
    np.testing.assert_array_equal(COLOUR_WHEEL[36], [0, 0, 255])  # BM at blue
    np.testing.assert_array_equal(COLOUR_WHEEL[49], [255, 0, 255])  # MR at magenta
    # last MR entry: B = 255 - floor(255 * 5 / 6) = 255 - 212 = 43
    np.testing.assert_array_equal(COLOUR_WHEEL[54], [255, 0, 43])


def test_flow_directions():
    np.testing.assert_array_equal(_one([0.0, 0.0]), [255, 255, 255])  # zero -> white
    np.testing.assert_array_equal(_one([1.0, 0.0]), [255, 0, 0])  # rightward -> red
    np.testing.assert_array_equal(_one([1.0, -0.0]), [255, 0, 0])  # sign of a zero dy does not matter
    # Downward: atan2(-1, -0)/pi = -1/2 -> wheel position 0.25 * 54 = 13.5, halfway between RY entries
    # 13 and 14: G = (floor(255*13/15) + floor(255*14/15)) / 2 = (221 + 238) / 2 = 229.5 -> 229.
    down = _one([0.0, 1.0])
    np.testing.assert_array_equal(down, [255, 229, 0])
    assert down[0] == 255 and 200 < down[1] < 255 and down[2] == 0  # orange-yellow region
    # Leftward: atan2(-0, 1) = 0 -> position 27 = CB entry 2: G = 255 - floor(255*2/11) = 209.
    np.testing.assert_array_equal(_one([-1.0, 0.0]), [0, 209, 255])
    # Upward: atan2(1, -0)/pi = 1/2 -> position 40.5, between BM entries 4 and 5:
    # R = (floor(255*4/13) + floor(255*5/13)) / 2 = (78 + 98) / 2 = 88.
    np.testing.assert_array_equal(_one([0.0, -1.0]), [88, 0, 255])


def test_flow_magnitude_scaling_and_beyond_max():
    # Half of max_mag: each channel = 255 - 0.5 * (255 - wheel colour), floored.
    # right: (255, 127.5, 127.5) -> (255, 127, 127)
    np.testing.assert_array_equal(_one([5.0, 0.0], max_mag=10.0), [255, 127, 127])
    # down: (255, 255 - 0.5 * 25.5, 127.5) = (255, 242.25, 127.5) -> (255, 242, 127)
    np.testing.assert_array_equal(_one([0.0, 5.0], max_mag=10.0), [255, 242, 127])
    # Beyond max: full-saturation wheel colour x 0.75. right: 191.25 -> 191;
    # down: (191.25, 229.5 * 0.75 = 172.125, 0) -> (191, 172, 0)
    np.testing.assert_array_equal(_one([20.0, 0.0], max_mag=10.0), [191, 0, 0])
    np.testing.assert_array_equal(_one([0.0, 30.0], max_mag=10.0), [191, 172, 0])
    # Exactly max_mag is still "inside" (full colour, not darkened).
    np.testing.assert_array_equal(_one([10.0, 0.0], max_mag=10.0), [255, 0, 0])


def test_flow_fixed_scale_and_invalid():
    alone = np.array([[[2.0, 1.0]]])
    with_big = np.array([[[2.0, 1.0], [50.0, -40.0]]])
    # Same vector, same scale -> same colour whatever else is in the image (no per-image max).
    np.testing.assert_array_equal(flow_to_rgb(alone, 8.0)[0, 0], flow_to_rgb(with_big, 8.0)[0, 0])
    bad = np.array([[[np.nan, 0.0], [np.inf, 1.0], [0.0, 0.0]]])
    out = flow_to_rgb(bad, 1.0)
    np.testing.assert_array_equal(out[0, :2], [[128, 128, 128]] * 2)  # default grey
    np.testing.assert_array_equal(out[0, 2], [255, 255, 255])
    np.testing.assert_array_equal(flow_to_rgb(bad, 1.0, invalid_colour=(0, 0, 0))[0, 0], [0, 0, 0])
    for m in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            flow_to_rgb(alone, m)


def test_flow_matches_flow_vis_when_available():
    flow_vis = pytest.importorskip("flow_vis")
    flow = np.random.default_rng(0).normal(size=(32, 32, 2)) * 3
    # flow_vis normalises by the image's max magnitude + 1e-5; give our fixed scale that same value.
    scale = float(np.hypot(flow[..., 0], flow[..., 1]).max()) + 1e-5
    np.testing.assert_array_equal(flow_to_rgb(flow, scale), flow_vis.flow_to_color(flow))


def test_flow_scale():
    # magnitudes: (3,4) -> 5, (0,1) -> 1, (0,0) -> 0, NaN excluded
    f = np.array([[[3.0, 4.0], [0.0, 1.0], [0.0, 0.0], [np.nan, 0.0]]])
    assert flow_scale([f], percentile=100) == pytest.approx(5.0)
    assert flow_scale([f], percentile=50) == pytest.approx(1.0)  # median of [0, 1, 5]
    mask = np.array([[False, True, True, True]])
    assert flow_scale([f], [mask], percentile=100) == pytest.approx(1.0)
    # Pooled over a clip: max over both frames.
    assert flow_scale([f, 2 * f], percentile=100) == pytest.approx(10.0)
    assert flow_scale([np.zeros((2, 2, 2))]) == pytest.approx(1e-3)  # static clip -> epsilon
    assert flow_scale([]) > 0


def test_colour_wheel_legend():
    leg = colour_wheel_legend(64)
    assert leg.shape == (64, 64, 4) and leg.dtype == np.uint8
    assert leg[0, 0, 3] == 0 and leg[63, 63, 3] == 0  # transparent corners
    assert leg[32, 32, 3] == 255 and leg[32, 32, :3].min() >= 240  # near-white opaque centre
    right = leg[32, 62, :3].astype(int)  # rim, rightward -> nearly pure red
    assert right[0] >= 240 and right[1] < 60 and right[2] < 60
    labelled = colour_wheel_legend(64, max_mag=12.0)
    assert labelled.shape[0] > 64 and labelled.shape[1:] == (64, 4)
    strip = labelled[64:, :, :3]
    assert strip.min() < 100  # some dark text was drawn


# ----------------------------------------------------------------------------------------------------
# Attention, legends, grids, badges
# ----------------------------------------------------------------------------------------------------


def test_attention_heatmap():
    attn = np.array([[0.0, 1.0], [0.5, 0.25]])
    frame = np.full((8, 10, 3), 50, np.uint8)
    out = attention_heatmap(attn, frame, alpha=0.6)
    assert out.shape == (8, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(attention_heatmap(attn, frame, alpha=0.0), frame)
    # Normalised by the map's own max: scaling the map changes nothing (x4 keeps floats exact).
    np.testing.assert_array_equal(attention_heatmap(attn * 4, frame), out)
    # Without a frame: the map at its own size; the peak gets the LUT's brightest colour.
    heat = attention_heatmap(attn)
    assert heat.shape == (2, 2, 3)
    np.testing.assert_array_equal(heat[0, 1], INFERNO_LUT[-1])
    np.testing.assert_array_equal(heat[0, 0], INFERNO_LUT[0])
    np.testing.assert_array_equal(INFERNO_LUT[0], [0, 0, 4])  # inferno endpoints
    np.testing.assert_array_equal(INFERNO_LUT[-1], [252, 255, 164])
    # All-zero map stays dark instead of dividing by zero.
    np.testing.assert_array_equal(
        attention_heatmap(np.zeros((3, 3))), np.broadcast_to(INFERNO_LUT[0], (3, 3, 3))
    )
    # Luminance of the LUT increases monotonically (a perceptual map must).
    lum = INFERNO_LUT.astype(float) @ [0.2126, 0.7152, 0.0722]
    assert (np.diff(lum) >= -0.5).all()


def test_label_legend_shapes():
    names = [f"class {i}" for i in range(18)]
    pal = np.random.default_rng(0).integers(0, 255, (18, 3)).astype(np.uint8)
    one = label_legend(names, pal, columns=1)
    three = label_legend(names, pal, columns=3)
    assert one.ndim == 3 and one.shape[2] == 3 and one.dtype == np.uint8
    assert one.shape[0] > three.shape[0] and one.shape[1] < three.shape[1]
    auto = label_legend(names, pal)
    assert auto.shape == three.shape  # default for 18 classes: ceil(sqrt(6)) = 3 columns
    # The first swatch shows the first colour (swatch starts at (4, 4), side 14).
    np.testing.assert_array_equal(one[8, 8], pal[0])
    with pytest.raises(ValueError):
        label_legend(names, pal[:5])


def test_tile_images_layout():
    a = np.full((10, 20, 3), 10, np.uint8)
    b = np.full((20, 20, 3), 200, np.uint8)  # resized to height 10 -> 10x10
    row = tile_images([a, b], pad=4)
    assert row.shape == (10 + 2 * 4, 2 * 20 + 3 * 4, 3)  # cells as wide as the widest image
    np.testing.assert_array_equal(row[4:14, 4:24], a)
    np.testing.assert_array_equal(row[4:14, 28:38], 200)
    col = tile_images([a, b], columns=1, pad=4)
    assert col.shape == (2 * 10 + 3 * 4, 20 + 2 * 4, 3)
    titled = tile_images([a, b], titles=["copy", "MPVSS"], pad=4)
    assert titled.shape[0] > row.shape[0] and titled.shape[1] == row.shape[1]
    grey = tile_images([np.zeros((10, 20), np.uint8), np.zeros((10, 20, 4), np.uint8)])
    assert grey.shape == row.shape
    with pytest.raises(ValueError):
        tile_images([a], titles=["x", "y"])


def test_draw_key_marker():
    frame = np.full((60, 80, 3), 255, np.uint8)
    key = draw_key_marker(frame, True, 0)
    prop = draw_key_marker(frame, False, 3)
    assert key.shape == frame.shape and key.dtype == np.uint8
    np.testing.assert_array_equal(frame, 255)  # input untouched
    # Badge in the top-left corner, rest of the frame unchanged.
    np.testing.assert_array_equal(key[3, 3], [220, 40, 40])  # key badge colour
    np.testing.assert_array_equal(prop[3, 3], [40, 40, 40])  # propagated badge colour
    np.testing.assert_array_equal(key[40:, 40:], 255)
    assert not np.array_equal(key, prop)
    br = draw_key_marker(frame, False, 1, corner="bottom-right")
    np.testing.assert_array_equal(br[56, 76], [40, 40, 40])
    tiny = draw_key_marker(np.zeros((3, 3, 3), np.uint8), True, 0)  # does not crash
    assert tiny.shape == (3, 3, 3)
