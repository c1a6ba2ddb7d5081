"""The app's palette, legends and look-closer views under AppTest (tiny random model, 8 frames at
64x128: MPVSS_APP_TEST=1): one colour per method in every chart of every page, class legends equal to
the classes present in the shown labels, the error and difference views, the label-PNG zip."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from analysis.method_colours import DISPLAY_NAMES  # noqa: E402
from mpvss_core.data.synthetic import render_clip  # noqa: E402
from mpvss_core.io import encode_video_bytes  # noqa: E402
from mpvss_core.viz import METHOD_COLOURS, format_share, method_colour  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")
_METHOD_OF = {**{v: k for k, v in DISPLAY_NAMES.items()}}


@pytest.fixture(autouse=True)
def _test_profile(monkeypatch, tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MPVSS_APP_TEST", "1")
    monkeypatch.setenv("MPVSS_APP_DATA", str(root / "app_data"))
    monkeypatch.setenv("MPVSS_RESULTS", str(root / "results"))


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _trace_colours(at: AppTest) -> dict[str, dict[str, str]]:
    """{chart: {trace name: colour}} of every plotly chart on the page (line colour, else marker)."""
    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        spec = json.loads(el.proto.spec)
        colours = {}
        for trace in spec["data"]:
            colour = trace.get("line", {}).get("color") or trace.get("marker", {}).get("color")
            if trace.get("name") and isinstance(colour, str):
                colours[trace["name"]] = colour
        out[f"{at.title[0].value if at.title else '?'} #{i}"] = colours
    return out


def _legends(at: AppTest) -> list[list[tuple[str, str]]]:
    """[(class, share text)] of each legend on the page, in page order."""
    pattern = re.compile(r'data-class="([^"]+)"[^>]*><span[^>]*></span>(?:[^<]*?) ([^ <]+%)</span>')
    found = [
        pattern.findall(m.value) for m in at.markdown if "mpvss-legend" in m.value or "no class" in m.value
    ]
    return [[(html.unescape(n), html.unescape(v)) for n, v in legend] for legend in found]


def test_a_method_has_the_same_colour_in_every_chart_of_every_page() -> None:
    at = _app()
    charts = _trace_colours(at)  # Compare: the timeline
    for page in ("per_category", "consistency", "efficiency"):
        at.switch_page(f"views/{page}.py").run()
        _ok(at)
        charts |= _trace_colours(at)
    at.switch_page("views/interval.py").run()
    at.button(key="sweep_run").click().run()  # the sweep computes its evaluations
    _ok(at)
    charts |= _trace_colours(at)
    at.switch_page("views/reproduce.py").run()
    for name in ("figure_a", "figure_b"):  # the analysis package's figures (stored ones)
        at.selectbox(key="repro_artifact").set_value(name).run()
        _ok(at)
        charts |= {f"{name} {k}": v for k, v in _trace_colours(at).items()}
    seen: dict[str, set[str]] = {}  # method -> the colours its traces have, over every chart
    for colours in charts.values():
        for trace, colour in colours.items():
            method = _METHOD_OF.get(trace, trace)
            if method in METHOD_COLOURS:
                seen.setdefault(method, set()).add(colour)
    assert {"per_frame", "copy", "optical_flow", "query_flow"} <= set(seen)
    assert all(colours == {method_colour(m)} for m, colours in seen.items()), seen
    # and per_frame is on several pages' charts (so "the same colour" is tested across pages)
    pages = {c.split(" #")[0] for c, colours in charts.items() if "per_frame" in colours}
    assert len(pages) >= 3, pages


def test_metrics_have_their_own_colours_on_video_consistency() -> None:
    at = _app()
    at.switch_page("views/consistency.py").run()
    _ok(at)
    bars = next(c for c in _trace_colours(at).values() if "mIoU" in c)
    method_colours = {method_colour(m) for m in ("per_frame", "copy", "optical_flow", "query_flow")}
    assert not set(bars.values()) & method_colours


def _zip_labels(at: AppTest) -> tuple[dict, dict[str, dict[int, np.ndarray]]]:
    at.button(key="render_zip").click().run()
    _ok(at)
    data = at.session_state["label_zip"][1]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = json.loads(zf.read("classes.json"))
        assert "pixel values are class ids" in zf.read("README.txt").decode()
        labels: dict[str, dict[int, np.ndarray]] = {}
        for name in zf.namelist():
            if name.endswith(".png"):
                method, frame = name.split("/")
                im = Image.open(io.BytesIO(zf.read(name)))
                assert im.mode == "P"
                labels.setdefault(method, {})[int(frame[:-4])] = np.asarray(im)
    return meta, labels


def _expected_legend(
    labels: np.ndarray, names: list[str], keep: set[str] | None = None
) -> list[tuple[str, str]]:
    counts = np.bincount(labels.ravel(), minlength=256)
    rows = [(names[i], 100.0 * counts[i] / labels.size) for i in range(len(names)) if counts[i]]
    rows = [r for r in rows if keep is None or r[0] in keep]
    return [(n, format_share(v)) for n, v in sorted(rows, key=lambda r: (-r[1], names.index(r[0])))]


def test_label_zip_holds_one_png_per_frame_per_method_and_legends_list_the_shown_classes() -> None:
    at = _app()
    meta, labels = _zip_labels(at)
    methods = ["per_frame", "copy", "optical_flow", "query_flow"]
    assert sorted(labels) == sorted(methods)
    assert all(sorted(frames) == list(range(8)) for frames in labels.values())
    assert all(png.shape == (64, 128) for frames in labels.values() for png in frames.values())
    names = [c["name"] for c in meta["classes"]]
    assert [c["id"] for c in meta["classes"]] == list(range(len(names))) and meta["ignore_index"] == 255
    assert all(int(png.max()) < len(names) for frames in labels.values() for png in frames.values())

    clip = render_clip(900000, 8, (64, 128))  # the test profile's built-in clip, with ground truth
    at.slider(key="frame").set_value(3).run()
    _ok(at)
    legends = _legends(at)
    assert legends[0] == _expected_legend(clip.labels[3], list(clip.class_names))  # ground truth
    assert legends[1:5] == [_expected_legend(labels[m][3], names) for m in methods]

    keep = {"road", "sky"}  # the class filter: only these are drawn, and only these are listed
    at.multiselect(key="cmp_classes").set_value(sorted(keep)).run()
    _ok(at)
    legends = _legends(at)
    assert legends[0] == _expected_legend(clip.labels[3], list(clip.class_names), keep)
    assert legends[1:5] == [_expected_legend(labels[m][3], names, keep) for m in methods]


def test_error_and_difference_views_on_the_built_in_clip() -> None:
    at = _app()
    _, labels = _zip_labels(at)
    at.slider(key="frame").set_value(3).run()
    at.radio(key="cmp_view").set_value("Errors").run()
    _ok(at)
    assert any("against the ground truth of frame 3" in c.value for c in at.caption)
    clip = render_clip(900000, 8, (64, 128))
    truth = clip.labels[3]
    for legend, method in zip(_legends(at), ["per_frame", "copy", "optical_flow", "query_flow"], strict=True):
        correct = 100.0 * np.mean((labels[method][3] == truth) & (truth != 255))
        assert dict(legend).get("correct") == (format_share(correct) if correct else None)
        assert {n for n, _ in legend} <= {"correct", "wrong", "ignored"}

    at.radio(key="cmp_view").set_value("Difference").run()
    # the random tiny model gives one class nearly everywhere, so the share may be 0 here; the exact
    # drawing and share on hand-built maps are in tests/test_overlays.py
    a, b = "per_frame", "copy"
    at.selectbox(key="diff_a").set_value(a).run()
    at.selectbox(key="diff_b").set_value(b).run()
    _ok(at)
    share = 100.0 * np.mean(labels[a][3] != labels[b][3])
    assert _legends(at)[-1] == [
        (f"{a} ≠ {b}", format_share(share)),
        ("same class (frame in grey)", format_share(100 - share)),
    ]


def test_error_view_on_an_unlabelled_upload_is_against_per_frame() -> None:
    at = _app()
    at.sidebar.radio(key="source").set_value("Upload").run()
    clip = render_clip(900001, 6, (64, 128))
    at.file_uploader(key="upload").upload(
        "clip.mp4", encode_video_bytes(clip.frames, fps=10), "video/mp4"
    ).run()
    _ok(at)
    at.radio(key="cmp_view").set_value("Errors").run()
    _ok(at)
    assert any("Against the reference, per_frame" in c.value for c in at.caption)
    legends = _legends(at)
    shown = [m for m in at.session_state["_settings"].methods]
    assert legends[shown.index("per_frame")] == [("correct", "100.0%")]


def test_flow_explorer_segment_legend_lists_the_queries_shown() -> None:
    at = _app()
    at.switch_page("views/flow.py").run()
    _ok(at)
    table = at.dataframe[0].value  # the query table: every query that wins pixels, largest first
    expected = [
        (f"query {r.query} · {r.category}", format_share(r.area_pct))
        for r in table.sort_values(["area", "query"], ascending=[False, True]).itertuples()
    ]
    assert _legends(at)[-1] == expected
