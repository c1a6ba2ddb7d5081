"""The one method palette, class legends, the error and difference views (exact values on hand-built
label maps), and the legends burnt into `mpvss infer` (default on, --no-legend off) and `mpvss demo`."""

from __future__ import annotations

import colorsys

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from analysis.method_colours import DISPLAY_NAMES, colour_methods
from mpvss_cli import main
from mpvss_core.data.synthetic import DEFAULT_SIZE
from mpvss_core.io import iter_video_frames, write_video
from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.methods import METHODS
from mpvss_core.viz import (
    CORRECT,
    IGNORED,
    METHOD_COLOURS,
    METRIC_COLOURS,
    WRONG,
    difference_map,
    difference_share,
    draw_difference,
    error_map,
    error_shares,
    hex_to_rgb,
    legend_entries,
    legend_strip,
    method_colour,
    method_colour_map,
    with_legend,
)
from tests.engine_helpers import small_clip

NAMES = ("road", "car", "sky")
PALETTE = np.array([[128, 64, 128], [0, 0, 142], [70, 130, 180]], np.uint8)


# --- palette -------------------------------------------------------------------------------------------
def test_every_method_has_its_own_colour_fixed_by_name():
    assert set(METHODS) <= set(METHOD_COLOURS)
    assert len(set(METHOD_COLOURS.values())) == len(METHOD_COLOURS)
    # fixed by the name, not by which methods a chart shows
    assert (
        method_colour_map(["query_flow", "per_frame"])["per_frame"]
        == method_colour_map(["per_frame"])["per_frame"]
    )
    assert method_colour("someone's method") == method_colour("someone's method")
    # metrics never look like a method
    assert not set(METRIC_COLOURS.values()) & set(METHOD_COLOURS.values())


def _hue(colour: str) -> float:
    return colorsys.rgb_to_hsv(*(v / 255 for v in hex_to_rgb(colour)))[0]


def test_optical_flow_and_query_flow_are_far_apart_in_hue():
    d = abs(_hue(method_colour("optical_flow")) - _hue(method_colour("query_flow")))
    assert min(d, 1 - d) > 0.3  # blue vs red, not red vs pink


def test_colour_methods_recolours_method_traces_only():
    fig = go.Figure(
        [
            go.Scatter(name=DISPLAY_NAMES["query_flow"], y=[1, 2]),
            go.Bar(name="copy", y=[1]),
            go.Bar(name="better", y=[1], marker_color="#123456"),
        ]
    )
    colour_methods(fig)
    assert fig.data[0].line.color == fig.data[0].marker.color == method_colour("query_flow")
    assert fig.data[1].marker.color == method_colour("copy")
    assert fig.data[2].marker.color == "#123456"


# --- legends -------------------------------------------------------------------------------------------
def test_legend_lists_exactly_the_present_classes_with_their_share():
    labels = np.array([[0, 0, 2, 2], [0, 0, 2, IGNORE_INDEX]], np.uint8)
    entries = legend_entries(labels, NAMES, PALETTE)
    assert [(e.index, e.name, e.colour) for e in entries] == [
        (0, "road", (128, 64, 128)),
        (2, "sky", (70, 130, 180)),
    ]
    assert [e.share for e in entries] == [50.0, 37.5]  # of all 8 pixels; the ignored one has no entry


def test_legend_strip_has_one_even_height_whatever_the_content():
    a = legend_strip(legend_entries(np.zeros((4, 4), np.uint8), NAMES, PALETTE), 200, NAMES)
    b = legend_strip(legend_entries(np.arange(12).reshape(3, 4) % 3, NAMES, PALETTE), 200, NAMES)
    assert a.shape == b.shape and a.shape[0] % 2 == 0 and a.shape[1] == 200
    out = with_legend(np.zeros((10, 200, 3), np.uint8), np.zeros((10, 200), np.uint8), NAMES, PALETTE)
    assert out.shape == (10 + a.shape[0], 200, 3)
    # the road swatch (first entry) is drawn in road's colour
    assert (out[10:] == PALETTE[0]).all(axis=2).sum() > 50


# --- error and difference views -----------------------------------------------------------------------
def test_error_map_codes_and_shares_exactly():
    truth = np.array([[0, 1, 2], [IGNORE_INDEX, 1, 1]], np.uint8)
    pred = np.array([[0, 2, 2], [1, 1, IGNORE_INDEX]], np.uint8)
    codes = error_map(pred, truth)
    assert codes.tolist() == [[CORRECT, WRONG, CORRECT], [IGNORED, CORRECT, WRONG]]
    shares = error_shares(codes)
    assert shares["correct"] == pytest.approx(50.0) and shares["wrong"] == pytest.approx(100 / 3)
    assert shares["ignored"] == pytest.approx(100 / 6) and shares["accuracy"] == pytest.approx(60.0)
    assert np.isnan(error_shares(error_map(pred, np.full_like(truth, IGNORE_INDEX)))["accuracy"])


def test_difference_map_share_and_drawing_exactly():
    a = np.array([[0, 1], [2, 2]], np.uint8)
    b = np.array([[0, 2], [2, 1]], np.uint8)
    diff = difference_map(a, b)
    assert diff.tolist() == [[False, True], [False, True]] and difference_share(diff) == 50.0
    frame = np.full((2, 2, 3), 100, np.uint8)
    out = draw_difference(frame, diff, alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]  # agreeing: the frame in grey
    assert out[0, 1].tolist() == [178, 50, 150]  # round-half-up of (100 + (255, 0, 200)) / 2
    with pytest.raises(ValueError, match="differ in size"):
        difference_map(a, b[:1])


# --- CLI videos ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, small_clip(num_frames=4).frames, fps=10)
    return path


def _infer(video, out, labels, *extra) -> list[np.ndarray]:
    argv = ["infer", str(video), "--model", "tiny", "--method", "copy", "--interval", "2", "--quiet"]
    assert main([*argv, "--out", str(out), "--labels-dir", str(labels), "--threads", "1", *extra]) == 0
    return list(iter_video_frames(out))


def test_infer_burns_a_legend_in_by_default_and_not_with_no_legend(video, tmp_path, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))
    with_strip = _infer(video, tmp_path / "a.mp4", tmp_path / "la")
    plain = _infer(video, tmp_path / "b.mp4", tmp_path / "lb", "--no-legend")
    h, w = small_clip(num_frames=1).size
    assert plain[0].shape == (h, w, 3)
    assert with_strip[0].shape[0] > h and with_strip[0].shape[1] == w
    strip = with_strip[0][h + 2 :].astype(int)  # a white strip (H.264 rounds a little) ...
    assert np.median(strip) > 240
    # ... whose first swatch is the colour of the frame's largest class (the PNG holds its id)
    labels = np.asarray(Image.open(tmp_path / "la" / "00000.png"))
    pal = np.asarray(Image.open(tmp_path / "la" / "00000.png").getpalette(), np.uint8).reshape(-1, 3)
    top = np.bincount(labels.ravel()).argmax()
    swatch = with_strip[0][h + 4 + 3 : h + 4 + 9, 4 + 3 : 4 + 9].reshape(-1, 3).astype(int)
    assert np.abs(swatch.mean(0) - pal[top]).max() < 40
    assert np.median(plain[0][-4:].astype(int)) < 240  # without the strip the frame ends in the street


def test_demo_video_has_a_legend_under_the_panels(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--frames", "2"]) == 0
    frames = list(iter_video_frames(tmp_path / "demo_overlay.mp4"))
    h = DEFAULT_SIZE[0]
    assert frames[0].shape[0] > h and np.median(frames[0][h + 2 :].astype(int)) > 240
