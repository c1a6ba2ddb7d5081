"""The Streamlit app under AppTest (tiny random model, 8 frames at 64x128: MPVSS_APP_TEST=1).

AppTest runs one page at a time: the app is started from its entrypoint and `switch_page` moves to
each view. Plotly charts come back as unknown elements, so the click-to-jump selection is tested
through its pure parser (`app.selection`) and by injecting an event into session_state.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

import mpvss_core.spec as spec_module  # noqa: E402
from app import sources  # noqa: E402
from app.selection import frame_from_selection, query_from_selection  # noqa: E402
from mpvss_core.data.synthetic import render_clip  # noqa: E402
from mpvss_core.errors import InputError  # noqa: E402
from mpvss_core.io import encode_video_bytes, write_label_png  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py")
PAGES = ["compare", "flow", "attention", "per_category", "interval", "efficiency", "consistency", "reproduce"]


@pytest.fixture(autouse=True)
def _test_profile(monkeypatch, tmp_path_factory):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MPVSS_APP_TEST", "1")
    monkeypatch.setenv("MPVSS_APP_DATA", str(root / "app_data"))
    monkeypatch.setenv("MPVSS_RESULTS", str(root / "results"))


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page: str) -> None:
    at = _app()
    _ok(at)
    at.switch_page(f"views/{page}.py").run()
    _ok(at)
    assert at.title and at.title[0].value  # the page itself ran, not only the sidebar


def test_frame_slider_and_timeline_selection_move_the_shown_frame() -> None:
    at = _app()
    assert _metrics(at)["Distance to key frame"] == "0"
    at.slider(key="frame").set_value(3).run()
    _ok(at)
    assert _metrics(at)["Distance to key frame"] == "3"  # K = 4 in the test profile
    at.session_state["timeline"] = {
        "selection": {"points": [{"x": 6, "customdata": [6]}], "point_indices": [6]}
    }
    at.run()  # what a click does: the chart's selection changes, the page reruns
    _ok(at)
    assert at.slider(key="frame").value == 6 and _metrics(at)["Key frame (K = 4)"] == "4"
    at.slider(key="frame").set_value(1).run()  # the slider still moves freely after a jump
    _ok(at)
    assert at.slider(key="frame").value == 1 and _metrics(at)["Distance to key frame"] == "1"


def test_interval_and_methods_change_the_numbers() -> None:
    at = _app()
    at.slider(key="frame").set_value(2).run()
    before = _metrics(at)
    assert before["Distance to key frame"] == "2"
    at.slider(key="interval").set_value(2).run()
    _ok(at)
    after = _metrics(at)
    assert after["Distance to key frame"] == "0" and after["Key frame (K = 2)"] == "2"
    shown = {k for k in _metrics(at) if k.startswith("mIoU")}
    at.multiselect(key="methods").set_value(["copy", "query_learned"]).run()
    _ok(at)
    assert {k for k in _metrics(at) if k.startswith("mIoU")} == {"mIoU copy", "mIoU query_learned"} != shown


def test_interval_sweep_computes_and_then_reads_back() -> None:
    at = _app()
    at.multiselect(key="methods").set_value(["copy"]).run()
    at.switch_page("views/interval.py").run()
    _ok(at)
    at.button(key="sweep_run").click().run()
    _ok(at)
    table = at.dataframe[0].value
    assert sorted(table["K"]) == [2, 4] and set(table["method"]) == {"copy"}
    assert table["miou"].notna().all()
    again = AppTest.from_file(APP, default_timeout=120)
    again.run()
    again.multiselect(key="methods").set_value(["copy"]).run()
    again.switch_page("views/interval.py").run()
    assert len(again.dataframe[0].value) == 2  # read from the results store without pressing the button


def _video_bytes(n: int = 6) -> bytes:
    return encode_video_bytes(render_clip(900001, n, (64, 128)).frames, fps=10)


def _frames_zip(n: int = 5) -> bytes:
    """A zip of PNG frames in frames/ and palette label PNGs in labels/ (as users upload them)."""
    clip = render_clip(900002, n, (64, 128))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            img = io.BytesIO()
            Image.fromarray(clip.frames[i]).save(img, "PNG")
            zf.writestr(f"frames/{i:03d}.png", img.getvalue())
            label = write_label_png(Path(tmp) / f"{i:03d}.png", clip.labels[i], clip.palette)
            zf.writestr(f"labels/{i:03d}.png", label.read_bytes())
    return buf.getvalue()


def test_upload_helpers_read_videos_and_labelled_zips(tmp_path) -> None:
    clip = sources.load_upload("clip.mp4", _video_bytes(), tmp_path)
    assert clip.num_frames == 6 and clip.size == (64, 128) and clip.labels is None
    clip = sources.load_upload("frames.zip", _frames_zip(), tmp_path)
    assert clip.num_frames == 5 and clip.labels is not None and clip.labelled.all()
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    saved = sources.save_upload("../../evil name.mp4", b"x", tmp_path)
    assert saved.parent.parent == tmp_path and saved.name == "evil_name.mp4"
    for name, data in [("notes.txt", b"hello"), ("empty.mp4", b""), ("broken.mp4", b"\x00" * 4096)]:
        with pytest.raises(InputError):
            sources.load_upload(name, data, tmp_path)


@pytest.mark.parametrize("kind", ["video", "zip"])
def test_upload_through_the_sidebar(kind: str) -> None:
    at = _app()
    at.sidebar.radio(key="source").set_value("Upload").run()
    _ok(at)
    name, data, mime = (
        ("clip.mp4", _video_bytes(), "video/mp4")
        if kind == "video"
        else ("frames.zip", _frames_zip(), "application/zip")
    )
    at.file_uploader(key="upload").upload(name, data, mime).run()
    _ok(at)
    caption = " ".join(c.value for c in at.caption)
    assert ("6 frames" if kind == "video" else "5 frames") in caption
    assert ("no ground truth: scores are vs per-frame" in caption) == (kind == "video")
    if kind == "video":  # footage without labels: every scoring page works, against per-frame
        assert any("vs per-frame" in h.value for h in at.subheader)
        for page in ("per_category", "consistency", "interval"):
            at.switch_page(f"views/{page}.py").run()
            _ok(at)
            assert any("vs per-frame" in i.value for i in at.info), page
        table = at.dataframe[0].value if at.dataframe else None
        assert table is None or set(table["reference"]) <= {"per_frame"}


def test_corrupt_upload_shows_an_error_and_the_app_keeps_working() -> None:
    at = _app()
    at.sidebar.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="upload").upload("broken.mp4", b"\x00\x01not a video" * 100, "video/mp4").run()
    assert not at.exception
    assert any("broken.mp4" in e.value for e in at.error)
    assert "8 frames" in " ".join(c.value for c in at.caption)  # the built-in clip is shown instead
    at.slider(key="frame").set_value(1).run()
    assert not at.exception and _metrics(at)["Distance to key frame"] == "1"


def test_bad_model_folder_falls_back_with_an_error(tmp_path) -> None:
    at = _app()
    at.sidebar.radio(key="model_choice").set_value("folder").run()
    at.sidebar.text_input(key="model_path").input(str(tmp_path / "missing")).run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)


def test_every_shipped_bundle_is_a_model_choice(tmp_path, monkeypatch) -> None:
    # a second bundle staged beside the shipped one (a link): AppTest runs the script in this process
    (tmp_path / "default").symlink_to(spec_module.ASSETS / "default")
    (tmp_path / "second").symlink_to(spec_module.ASSETS / "default")
    monkeypatch.setattr(spec_module, "ASSETS", tmp_path)
    at = _app()
    radio = at.sidebar.radio(key="model_choice")
    labels = radio.options  # the formatted labels
    assert labels[0].startswith("Shipped model") and any("assets/models/second" in o for o in labels)
    radio.set_value("second").run()
    assert not at.exception and not at.error
    assert "model `second`" in " ".join(c.value for c in at.caption)


def test_bad_model_folder_shows_why(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    at = _app()
    at.sidebar.radio(key="model_choice").set_value("folder").run()
    at.sidebar.text_input(key="model_path").input(str(tmp_path / "empty")).run()
    assert not at.exception
    assert any("model.safetensors" in e.value for e in at.error)
    assert at.slider(key="frame") is not None  # the fallback model still serves the page


def _tiny_bundle(path: Path) -> Path:
    """A bundle of the tiny preset: a segmenter and a trained query_flow variant."""
    from tests.engine_helpers import tiny_bundle

    return tiny_bundle(path, "query_flow")


def _with_model_folder(folder: Path) -> AppTest:
    at = _app()
    at.sidebar.radio(key="model_choice").set_value("folder").run()
    at.sidebar.text_input(key="model_path").input(str(folder)).run()
    _ok(at)
    return at


def test_stage0_key_heads_for_a_bundle_are_offered_and_named(tmp_path) -> None:
    at = _with_model_folder(_tiny_bundle(tmp_path))
    at.sidebar.checkbox(key="key_heads_stage0").check().run()
    _ok(at)
    assert "stage-0 heads" in " ".join(c.value for c in at.caption)


def test_a_rerun_with_the_same_model_folder_parses_no_json(tmp_path, monkeypatch) -> None:
    folder = _tiny_bundle(tmp_path / "bundle")
    at = _with_model_folder(folder)
    at.sidebar.checkbox(key="key_heads_stage0").check().run()  # resolved once, then transformed
    _ok(at)
    reads: Counter[str] = Counter()
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.suffix == ".json" and self.is_relative_to(folder):
            reads[str(self.relative_to(folder))] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    at.run()
    _ok(at)
    at.sidebar.checkbox(key="key_heads_stage0").uncheck().run()
    _ok(at)
    assert not reads  # two reruns with the same folder, with and without the stage-0 box
    # a touched config.json (new modification time) is read again, every file of the folder once
    config = folder / "query_flow" / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    at.run()
    _ok(at)
    assert dict(reads) == {"bundle.json": 1, "segmenter/config.json": 1, "query_flow/config.json": 1}


def test_segmenter_only_methods_share_one_loaded_model(tmp_path, monkeypatch) -> None:
    import streamlit as st

    from mpvss_core.methods import method_spec

    st.cache_resource.clear()  # models loaded by earlier tests of this process
    loads: list[str] = []
    load = spec_module.ModelSpec.load
    folder = _tiny_bundle(tmp_path)

    def counting(self, method, *args, **kwargs):
        if self.path == folder:
            loads.append(method)
        return load(self, method, *args, **kwargs)

    monkeypatch.setattr(spec_module.ModelSpec, "load", counting)
    at = _with_model_folder(folder)
    at.multiselect(key="methods").set_value(["per_frame", "copy", "optical_flow", "bi_optical_flow"]).run()
    _ok(at)
    assert {"mIoU per_frame", "mIoU bi_optical_flow"} <= set(_metrics(at))
    assert len([m for m in loads if method_spec(m).segmenter_only]) == 1  # one segmenter for the four
    assert loads.count("query_flow") == 1  # the learned method of the first page: its own model


def test_frame_from_selection_uses_key_access_only() -> None:
    event = {"selection": {"points": [{"x": 4.0, "y": 50.0, "customdata": [7]}], "point_indices": [4]}}
    assert frame_from_selection(event) == 7  # customdata wins over x
    assert frame_from_selection({"selection": {"points": [{"x": 3}]}}) == 3
    assert frame_from_selection({"selection": {"points": [{"x": 30}]}}, num_frames=10) is None
    assert frame_from_selection({"selection": {"points": [], "box": [], "lasso": []}}) is None
    assert frame_from_selection(None) is None and frame_from_selection({"selection": None}) is None
    assert frame_from_selection({"selection": {"points": [{"x": "a"}, {"x": 2}]}}) == 2


def test_query_from_selection() -> None:
    event = {"selection": {"points": [{"x": 10, "y": 3, "customdata": [5]}]}}
    assert query_from_selection(event) == 5
    assert query_from_selection(event, valid={1, 2}) is None
    assert query_from_selection({"selection": {"points": [{"customdata": 2}]}}, valid={2}) == 2
    assert query_from_selection({}) is None


def test_profile_defaults_are_small_in_test_mode() -> None:
    sources.profile.cache_clear()
    p = sources.profile()
    assert p.test and p.model == "tiny" and p.frames == 8 and p.size == (64, 128)
    assert np.prod(p.size) * p.frames < 100_000
