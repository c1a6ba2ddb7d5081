"""Uploads treated as uploads (issue 22, items 5 and 7): defaults that never compare per_frame with itself
on a clip without labels, the banner (training domain, what the scores mean), the clip's warnings in one
place with WxH sizes, the Flow explorer's colour scale, and the small things (no overflow warning, 0644
files, no Deploy button). AppTest with the tiny random model (MPVSS_APP_TEST=1), as tests/test_app.py."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from app import sources  # noqa: E402
from mpvss_core.data.readers import ReaderLimits  # noqa: E402
from mpvss_core.data.synthetic import render_clip  # noqa: E402
from mpvss_core.io import encode_video_bytes  # noqa: E402
from mpvss_core.spec import resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app" / "streamlit_app.py")


@pytest.fixture(autouse=True)
def _test_profile(monkeypatch, tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MPVSS_APP_TEST", "1")
    monkeypatch.setenv("MPVSS_APP_DATA", str(root / "app_data"))
    monkeypatch.setenv("MPVSS_RESULTS", str(root / "results"))


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _video(n: int = 6, black_first: bool = False, size=(64, 128)) -> bytes:
    frames = render_clip(900001, n, size).frames.copy()
    if black_first:
        frames[0] = 0
    return encode_video_bytes(frames, fps=10)


def _uploaded(data: bytes, name: str = "clip.mp4") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.sidebar.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").upload(name, data, "video/mp4").run()
    _ok(at)
    return at


# --- item 5: uploads ----------------------------------------------------------------------------------
def test_unlabelled_upload_never_defaults_to_comparing_per_frame_with_itself() -> None:
    at = _uploaded(_video())
    at.multiselect(key="methods").set_value(["per_frame", "copy", "optical_flow"]).run()
    at.switch_page("views/per_category.py").run()
    _ok(at)
    method, reference = at.selectbox(key="bw_method"), at.selectbox(key="bw_reference")
    assert "per_frame" not in method.options  # the reference is never the compared method
    assert method.value != reference.value and method.value != "per_frame"
    assert reference.value == "copy"  # another method, not per_frame (every delta would be "worse")
    assert at.selectbox(key="cm_method").value != "per_frame"  # no identity confusion matrix
    assert any("not drawn" in c.value for c in at.caption)  # per_frame's 100 % bars left out
    info = " ".join(i.value for i in at.info)
    assert "agreement with per_frame" in info and "not accuracy" in info


def test_banner_names_the_training_domain_from_the_models_metadata() -> None:
    shipped = resolve_model("default")
    assert sources.training_domain(shipped) == sources.SYNTHETIC_DOMAIN  # its records: --data .../synth
    assert sources.training_domain(resolve_model("tiny")) is None  # random weights: no domain
    own = dataclasses.replace(
        shipped, records={"segmenter": {"command": "mpvss train segmenter --data /d/kitchens --out r"}}
    )
    assert sources.training_domain(own) == "the data of its training record: `/d/kitchens`"
    chained = {"command": "x --data /a/synth", "continued_from": {"command": "y --data /b/cityscapes"}}
    assert "`/b/cityscapes`" in sources.training_domain(
        dataclasses.replace(shipped, records={"segmenter": chained})
    )


def test_black_first_frame_and_caps_are_warned_once_with_wxh(tmp_path) -> None:
    limits = ReaderLimits(max_frames=4, max_side=64, max_file_bytes=1 << 26, max_zip_files=10)
    clip = sources.load_upload("dark.mp4", _video(6, black_first=True), tmp_path, limits)
    notes = sources.clip_warnings(clip)
    assert notes[0].startswith("the first frame is black")
    assert any("frame cap: kept the first 4 of 6 frames" in n for n in notes)
    cap = next(n for n in notes if n.startswith("resolution cap"))
    assert "from 128x64 to 64x32" in cap  # W x H, as the header's clip line
    assert "labels kept" not in cap  # an unlabelled clip keeps no labels
    plain = render_clip(900001, 3, (64, 128))
    assert sources.clip_warnings(plain) == []

    at = _uploaded(_video(6, black_first=True))
    boxes = [w.value for w in at.warning if "The clip's frames" in w.value]
    assert len(boxes) == 1 and "first frame is black" in boxes[0]  # one place
    assert "128x64" in " ".join(c.value for c in at.caption)  # the clip line is W x H too


def test_ties_leave_out_classes_both_methods_score_zero_in() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.multiselect(key="methods").set_value(["per_frame", "copy"]).run()
    at.switch_page("views/per_category.py").run()
    _ok(at)
    split = at.dataframe[0].value
    zero = (split["iou_method"] == 0) & (split["iou_reference"] == 0)
    assert (split.loc[zero, "outcome"] == "found by neither").all()
    ties = int((split["outcome"] == "tie").sum())
    caption = next(c.value for c in at.caption if " vs " in c.value and "tie in" in c.value)
    assert f"tie in {ties} categories" in caption
    if zero.any():  # the random tiny model misses classes in both methods: named apart, not as ties
        assert "Found by neither (0 vs 0, not counted)" in caption


# --- item 7: offline, no Deploy button ------------------------------------------------------------------
def test_the_toolbar_has_no_deploy_button() -> None:
    text = (ROOT / ".streamlit" / "config.toml").read_text()  # (tomllib needs Python 3.11)
    client = re.search(r"^\[client\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert client and re.search(r'^toolbarMode = "minimal"$', client[1], re.M)  # no Deploy, no rerun menu


def test_external_requests_are_told_apart_from_the_apps_own() -> None:
    from tests.app_browser import external

    app = "http://127.0.0.1:8765"
    urls = [f"{app}/static/js/main.js", "data:image/png;base64,AA", "ws://127.0.0.1:8765/_stcore/stream"]
    assert external(urls, app) == []
    icon = "https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/movie/default/24px.svg"
    assert external([*urls, icon], app) == [icon]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_served_pages_ask_no_external_host(tmp_path) -> None:
    """The served pages in headless Chromium, every request logged: none leaves the app's server (the
    tab icon was a `:material/` icon, fetched from fonts.gstatic.com)."""
    from tests.app_browser import CHROMIUM, app_server, visit_pages

    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    env = {"MPVSS_APP_TEST": "1", "MPVSS_APP_DATA": str(tmp_path / "d"), "MPVSS_RESULTS": str(tmp_path / "r")}
    pages = {"compare", "flow", "attention", "per_category"}
    with app_server(env) as url:
        problems = visit_pages(url, tmp_path / "shots", (1400, 900), 180_000, only=pages)
    assert set(problems) == pages
    assert not any(problems.values()), problems  # "asked an external host for ..." among them


# --- item 7: Flow explorer's colour scale -------------------------------------------------------------------
def _saturation(at: AppTest) -> tuple[float, str]:
    text = next(c.value for c in at.caption if "Colour saturates at" in c.value)
    m = re.search(r"Colour saturates at ([0-9.]+) px\*\* \(([^)]*)\)", text)
    assert m, text
    return float(m[1]), m[2]


def test_flow_explorer_offers_a_per_frame_scale_and_shows_its_value() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/flow.py").run()
    _ok(at)
    assert at.radio(key="flow_scale_mode").value == "clip"  # the default: one scale for the clip
    clip_px, what = _saturation(at)
    assert clip_px > 0 and what.startswith("fixed for the clip")
    at.radio(key="flow_scale_mode").set_value("frame").run()
    _ok(at)
    frame_px, what = _saturation(at)
    assert what.startswith("this frame's") and frame_px > 0 and frame_px != clip_px
    at.radio(key="flow_scale_mode").set_value("manual").run()
    at.number_input[0].set_value(7.5).run()
    _ok(at)
    assert _saturation(at) == (7.5, "set by hand")


# --- item 7: Attention tied to the stage / scale grid -----------------------------------------------------
def _nodes(node, kind: str) -> list:
    out = [c for child in getattr(node, "children", {}).values() for c in _nodes(child, kind)]
    return out + ([node] if getattr(node, "type", None) == kind else [])


def test_attention_cells_and_layer_chart_name_their_stage_and_scale() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("views/attention.py").run()
    _ok(at)
    captions = [img.caption for n in _nodes(at._tree, "image") for img in n.proto.imgs]
    assert captions and all(
        re.fullmatch(r"layer \d+ · stage \d · conv\d · motion share [0-9.]+", c) for c in captions
    )
    labels = [m.value for m in at.markdown]
    assert {"**stage 1**", "**stage 2**", "**stage 3**"} <= set(labels)  # page text, not pixels
    chart = next(n for n in _nodes(at._tree, "plotly_chart") if "attn_mass" in n.proto.id)
    ticks = json.loads(chart.proto.spec)["data"][0]["x"]
    assert ticks[0] == "0: stage 1 · conv6"  # each layer named by its cell of the grid
    assert all(re.fullmatch(r"\d+: stage \d · conv\d", t) for t in ticks)


# --- item 7: files the app writes are 0644 ------------------------------------------------------------------
def test_files_the_app_writes_are_0644(tmp_path, monkeypatch) -> None:
    old = os.umask(0o022)  # the usual umask; mkstemp / mkdtemp alone would give 0600 / 0700
    try:
        results = tmp_path / "results"
        monkeypatch.setenv("MPVSS_RESULTS", str(results))
        saved = sources.save_upload("clip.mp4", _video(3), tmp_path / "uploads")
        assert stat.S_IMODE(saved.stat().st_mode) == 0o644
        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        # a K no other test asks for: the app's process-wide prediction cache (shared by every test in
        # this process) would otherwise serve copy without evaluating, and nothing would be written
        at.slider(key="interval").set_value(13).run()
        at.multiselect(key="methods").set_value(["copy"]).run()
        _ok(at)
        written = list(results.rglob("*"))
        assert any(p.is_file() for p in written)  # the evaluation was stored
        modes = {str(p.relative_to(results)): stat.S_IMODE(p.stat().st_mode) for p in written}
        assert all(m == (0o755 if (results / p).is_dir() else 0o644) for p, m in modes.items()), modes
    finally:
        os.umask(old)
