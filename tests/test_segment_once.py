"""Each frame segmented once per model (issue 22, build item 2): key frames shared by the methods of one
model identity and key heads (`methods.shared_keys`), never across heads, labels bit-identical with
and without sharing, shared key frames keeping their measured segmenter time, and per_frame evaluated
once for every key-frame interval (the runner, the CLI, the app's Key-frame interval page)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import mpvss_core.evaluation.runner as eval_runner
from mpvss_cli import main
from mpvss_core.checkpoints.bundle import save_partial, write_bundle_index
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.evaluation.datasets import DataSet
from mpvss_core.evaluation.store import ResultStore
from mpvss_core.methods import method_config
from mpvss_core.methods.shared_keys import (
    SHARED_KEYS,
    SegmentedKey,
    SharedKey,
    SharedKeys,
    shared_keys_off,
)
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import resolve_model
from tests.engine_helpers import small_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")
K = 4


@pytest.fixture(autouse=True)
def _empty_cache():
    SHARED_KEYS.clear()
    yield
    SHARED_KEYS.clear()


@pytest.fixture
def calls(monkeypatch):
    """Segmenter runs, counted by wrapping `MPVSS.segment_key` (every model object)."""
    count = [0]
    original = MPVSS.segment_key

    def counted(self, *args, **kwargs):
        count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MPVSS, "segment_key", counted)
    return count


def _labels(predictor: VideoPredictor, clip, k: int = K) -> np.ndarray:
    return np.stack([r.labels for r in predictor.propagate(predictor.init_video(clip, k))])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A bundle whose query_flow variant has heads unlike the segmenter's (as stage 1 leaves them)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("bundle")
    seg = build_model("tiny")
    save_checkpoint(seg, d / "segmenter", trained={"segmenter": "test"})
    model = build_model(method_config("tiny", "query_flow"))
    model.segmenter.load_state_dict(seg.segmenter.state_dict())
    with torch.no_grad():
        for head in (model.segmenter.class_predictor, model.segmenter.mask_embedder):
            for p in head.parameters():
                p.add_(torch.randn_like(p) * p.std().clamp_min(0.05))
    save_partial(model, d / "query_flow", d / "segmenter", dtype=torch.float32)
    write_bundle_index(d, "segmenter", {"query_flow": "query_flow"})
    return d


# (a) ----------------------------------------------------------------------------------------------------
def test_segmenter_only_methods_segment_each_key_frame_once(calls):
    spec, clip = resolve_model("tiny"), small_clip()  # 6 frames, key frames 0 and 4 at K = 4
    for method in ("copy", "optical_flow", "bi_optical_flow"):  # separately loaded models, one identity
        _labels(VideoPredictor(spec, method), clip)
    assert calls[0] == 2  # frames 0 and 4, once for the three methods
    per_frame = VideoPredictor(spec, "per_frame")
    _labels(per_frame, clip)
    assert calls[0] == clip.num_frames  # per_frame segmented only the 4 frames no one had
    assert (per_frame.propagator.segmenter_calls, per_frame.propagator.keys_served) == (4, 2)
    # random access (the Flow explorer) reads the same cache
    p = VideoPredictor(spec, "copy")
    p.predict_frame(p.init_video(clip, K), 3)
    assert calls[0] == clip.num_frames


# (b) ----------------------------------------------------------------------------------------------------
def test_methods_with_other_key_heads_do_not_share(bundle, calls):
    clip = small_clip()
    spec = resolve_model(str(bundle))
    stage0 = resolve_model(str(bundle), key_heads="stage0")
    assert spec.method_identity("query_flow") != spec.method_identity("per_frame")
    _labels(VideoPredictor(spec, "per_frame"), clip)
    assert calls[0] == 6
    shared = _labels(VideoPredictor(spec, "query_flow"), clip)
    assert calls[0] == 8  # its own key frames 0 and 4: the retrained heads', not the segmenter's
    _labels(VideoPredictor(stage0, "query_flow"), clip)
    assert calls[0] == 10  # stage-0 key heads are yet another identity
    _labels(VideoPredictor(stage0, "per_frame"), clip)
    assert calls[0] == 10  # per_frame is the same model with either key-heads setting
    with shared_keys_off():
        alone = _labels(VideoPredictor(spec, "query_flow"), clip)
    assert np.array_equal(shared, alone)


# (c) ----------------------------------------------------------------------------------------------------
def test_labels_are_bit_identical_with_and_without_sharing(calls):
    spec, clip = resolve_model("tiny"), small_clip()
    with shared_keys_off():
        alone = {m: _labels(VideoPredictor(spec, m), clip) for m in spec.methods}
        before = calls[0]
        assert len(SHARED_KEYS) == 0
    served = {}
    for m in ["per_frame", *spec.methods]:  # per_frame first: every later method can be served
        p = VideoPredictor(spec, m)
        shared = _labels(p, clip)
        assert np.array_equal(shared, alone[m]), m
        served[m] = p.propagator.keys_served
        frame = p.predict_frame(p.init_video(clip, K), 2)  # random access, bi-directional ones too
        assert np.array_equal(frame.labels, alone[m][2]), m
    assert served["copy"] == served["optical_flow"] == served["bi_optical_flow"] == 2
    assert served["bi_pixel_flow"] == 2  # runs pixel_flow's model: its key frames (and flow module)
    assert calls[0] - before < before  # fewer segmenter runs than without sharing


# (e) ----------------------------------------------------------------------------------------------------
def test_shared_key_frames_keep_their_measured_segmenter_time(monkeypatch):
    original = MPVSS.segment_key

    def slow(self, *args, **kwargs):
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    spec, clip = resolve_model("tiny"), small_clip()
    monkeypatch.setattr(MPVSS, "segment_key", slow)
    copy = VideoPredictor(spec, "copy")
    first = list(copy.propagate(copy.init_video(clip, K)))
    monkeypatch.setattr(MPVSS, "segment_key", original)
    p = VideoPredictor(spec, "optical_flow")
    t0 = time.perf_counter()
    second = list(p.propagate(p.init_video(clip, K)))
    assert p.propagator.keys_served == 2 and p.propagator.segmenter_calls == 0
    for a, b in zip([r for r in first if r.is_key], [r for r in second if r.is_key], strict=True):
        assert b.timings["segment_s"] == a.timings["segment_s"] >= 0.05  # measured, not the lookup
        assert b.timings["model_s"] == a.timings["model_s"]
    assert time.perf_counter() - t0 < sum(r.timings["segment_s"] for r in second if r.is_key) + 1.0


def test_the_cache_is_bounded_in_bytes():
    spec, clip = resolve_model("tiny"), small_clip()
    p = VideoPredictor(spec, "per_frame")
    with shared_keys_off():
        key = p.propagator.segment(clip.frames[0], 0)
    entry = SegmentedKey.of(key.state, key.labels, key.seconds)
    assert entry.state.image is None and not entry.labels.flags.writeable
    cache = SharedKeys(max_bytes=int(2.5 * entry.nbytes))
    keys = [SharedKey("m", "fast", "cpu", i, str(i)) for i in range(4)]
    for k in keys:
        cache.put(k, entry)
    assert len(cache) == 2 and cache.nbytes <= cache.max_bytes
    assert cache.get(keys[0]) is None and cache.get(keys[3]) is entry  # least recently used out first
    assert cache.computed == 4 and cache.served == 1
    off = SharedKeys(0)
    off.put(keys[0], entry)
    assert len(off) == 0 and off.get(keys[0]) is None


# (d) ----------------------------------------------------------------------------------------------------
@pytest.fixture
def evaluations(monkeypatch):
    """The methods the runner evaluated (not read back), in order."""
    done = []
    original = eval_runner.evaluate

    def counted(predictor, *args, **kwargs):
        done.append(predictor.method)
        return original(predictor, *args, **kwargs)

    monkeypatch.setattr(eval_runner, "evaluate", counted)
    return done


def test_interval_sweep_evaluates_per_frame_once(tmp_path, evaluations):
    spec, clip = resolve_model("tiny"), small_clip()
    data = DataSet.from_clip(clip, "sweep-clip")
    store = ResultStore(tmp_path)
    out = {}
    for k in (2, 5, 10):
        for m in ("per_frame", "copy"):
            run = eval_runner.run_evaluation
            out[(m, k)] = run(spec, data, m, ScheduleSpec(k), store=store, flow_epe=False)
    assert evaluations.count("per_frame") == 1 and evaluations.count("copy") == 3
    first = out[("per_frame", 2)]
    for k in (2, 5, 10):
        s = out[("per_frame", k)].summary
        assert s["interval"] == k and s["schedule"] == ScheduleSpec(k).describe()
        assert s["miou"] == first.summary["miou"] and s["fps"] == first.summary["fps"]
        assert out[("per_frame", k)].per_frame.equals(first.per_frame)
        key, _ = eval_runner.evaluation_key(spec, data, "per_frame", ScheduleSpec(k), "cpu", False)
        assert store.load(key).summary["interval"] == k  # readers of the store by key see their K
    # the copies at K = 5 and 10 received every key frame from the per_frame and K = 2 runs
    assert out[("copy", 10)].summary["segmenter_calls"] == 0
    assert out[("copy", 10)].summary["shared_key_frames"] == 1
    assert out[("per_frame", 2)].summary["segmenter_calls"] == clip.num_frames
    # --no-cache recomputes what earlier runs stored, yet per_frame still runs once for every K
    # a reader that computes nothing gets per_frame at a K never asked for, with its K
    read = eval_runner.stored_evaluation(
        spec, data, "per_frame", ScheduleSpec(7), store=store, flow_epe=False
    )
    assert read is not None and read.cached and read.summary["interval"] == 7
    assert (
        eval_runner.stored_evaluation(spec, data, "copy", ScheduleSpec(7), store=store, flow_epe=False)
        is None
    )
    eval_runner._COMPUTED_HERE.clear()  # as in a later process
    evaluations.clear()
    for k in (3, 4):
        eval_runner.run_evaluation(spec, data, "per_frame", ScheduleSpec(k), store=store, flow_epe=False,
                                   use_cache=False)  # fmt: skip
    assert evaluations == ["per_frame"]
    # a key-before-labelled schedule chooses which frames are predicted: per_frame stays per schedule
    assert not eval_runner.interval_free("per_frame", ScheduleSpec(4, 1))
    assert eval_runner.evaluation_order(["per_frame", "query_flow", "copy"]) == [
        "query_flow",
        "copy",
        "per_frame",
    ]


def test_cli_eval_all_methods_share_key_frames(tmp_path, capsys):
    before = SHARED_KEYS.computed
    code = main(["eval", "--model", "tiny", "--data", "synthetic:900000", "--max-frames", "6",
                 "--method", "per_frame,copy,optical_flow", "--interval", "3", "--no-epe", "--no-tc",
                 "--results", str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert [ln.split()[0] for ln in table.splitlines()[2:5]] == ["per_frame", "copy", "optical_flow"]
    assert SHARED_KEYS.computed - before == 6  # six frames, each segmented once for three methods


def test_interval_page_computes_per_frame_once(evaluations, monkeypatch, tmp_path_factory):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP

    root = tmp_path_factory.mktemp("once_app")
    monkeypatch.setenv("MPVSS_APP_TEST", "1")
    monkeypatch.setenv("MPVSS_APP_DATA", str(root / "app_data"))
    monkeypatch.setenv("MPVSS_RESULTS", str(root / "results"))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.multiselect(key="methods").set_value(["per_frame", "copy"]).run()
    at.switch_page("views/interval.py").run()
    at.button(key="sweep_run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    rows = table[table["method"] == "per_frame"]
    assert len(rows) >= 2 and sorted(rows["K"]) == sorted(set(rows["K"]))
    # once in the whole session: the Compare page's run (K = 4) serves every K of the sweep
    assert evaluations.count("per_frame") == 1
    assert rows["miou"].nunique() == 1
