"""Evaluation (metrics pooled over clips, EPE, costs), data resolution and the results store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mpvss_core.data.writer import write_split
from mpvss_core.errors import InputError
from mpvss_core.evaluation import runner as eval_runner
from mpvss_core.evaluation.datasets import DataSet, resolve_data
from mpvss_core.evaluation.evaluate import evaluate
from mpvss_core.evaluation.runner import format_table, run_evaluation
from mpvss_core.evaluation.store import EvalResult, ResultStore
from mpvss_core.metrics import ConfusionMatrix, VideoConsistencyAccumulator, flow_epe, vc_min_length
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import resolve_model
from tests.engine_helpers import small_clip, stub_method, stub_predictor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Results and FLOP counts go to a temporary folder, never to the working tree."""
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "cache" / "results"))


@pytest.fixture(scope="module")
def clips():
    return [small_clip(900_000, 18), small_clip(900_001, 18)]  # > 16 frames: mVC is defined


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split("val", root, num_clips=1, num_frames=8, size=(64, 128), progress=False)
    return root


def test_scores_pool_one_confusion_matrix_and_vc_windows(clips):
    method = stub_method("copy")
    result = evaluate(stub_predictor("copy"), clips, 5, flow_epe_metric=False, keep_labels=True)
    cm, vc8 = ConfusionMatrix(18), VideoConsistencyAccumulator(8)
    for clip in clips:
        preds = np.stack([r.labels for r in method.run(clip.frames, 5)])
        cm.update(preds, clip.labels)
        vc8.update(clip.labels, preds)
        assert np.array_equal(result.labels[clip.name], preds)
    assert np.array_equal(result.confusion, cm.matrix)
    w8 = result.windows[result.windows["n"] == 8]
    assert len(w8) == vc8.num_windows and w8["vc"].to_numpy() == pytest.approx(100 * vc8.windows)
    assert list(w8["start"][w8["clip"] == clips[0].name]) == list(range(18 - 8))
    s = result.summary
    assert s["miou"] == pytest.approx(100 * cm.miou()) and s["wiou"] == pytest.approx(100 * cm.wiou())
    assert s["mvc8"] == pytest.approx(100 * vc8.value()) and s["vc_clips"] == 2
    assert set(s["per_class_iou"]) == set(clips[0].class_names)
    assert s["num_frames"] == 36 and s["num_labelled_frames"] == 36 and s["flow_epe"] is None
    pf = result.per_frame
    assert list(pf.columns[:8]) == ["clip", "frame", "is_key", "key_index", "next_key_index", "distance",
                                    "labelled", "miou"]  # fmt: skip
    assert pf["is_key"].sum() == 8 and pf["distance"].max() == 4
    assert (~pf["timed"]).sum() == 5 == s["warmup_frames"]  # the first key-frame cycle of the first clip
    assert len(result.per_clip) == 2 and set(result.per_clip["clip"]) == {c.name for c in clips}


def test_vc_skip_rules_differ_only_on_clips_of_9_to_16_frames(clips):
    short = small_clip(900_002, 12)  # 8 < L <= 16: skipped by the MRCFA rule, kept by the VSPW one for n=8
    s = evaluate(stub_predictor("copy"), [short], 5, flow_epe_metric=False, keep_labels=True).summary
    assert s["mvc8"] is None and s["mvc16"] is None and s["vc_clips"] == 0
    preds = np.stack(evaluate(stub_predictor("copy"), [short], 5, keep_labels=True).labels[short.name])
    vspw8 = VideoConsistencyAccumulator(8, min_length=vc_min_length(8, "vspw"))
    vspw8.update(short.labels, preds)
    assert vspw8.num_windows == 12 - 8 and s["mvc8_vspw_rule"] == pytest.approx(100 * vspw8.value())
    assert s["mvc16_vspw_rule"] is None  # L = 12 <= 16
    long = evaluate(stub_predictor("copy"), clips, 5, flow_epe_metric=False).summary  # L = 18 > 16
    assert long["mvc8_vspw_rule"] == pytest.approx(long["mvc8"])
    assert long["mvc16_vspw_rule"] == pytest.approx(long["mvc16"])
    with pytest.raises(ValueError, match="mrcfa"):
        vc_min_length(8, "official")


def test_flow_epe_conventions():
    clip = small_clip(900_000, 8)
    copy = evaluate(stub_predictor("copy"), [clip], 5)
    gt = [clip.flow(i, i - i % 5) for i in range(clip.num_frames) if i % 5]
    zero = np.zeros((*clip.size, 2), np.float32)
    frames = copy.per_frame[~copy.per_frame["is_key"]]
    assert frames["epe"].to_numpy() == pytest.approx([flow_epe(zero, f, v) for f, v in gt])  # zero flow
    assert copy.per_frame.loc[copy.per_frame["is_key"], "epe"].isna().all()  # key frames are not scored
    learned = evaluate(stub_predictor("query_flow"), [clip], 5).summary
    assert learned["flow_epe"] > 0 and learned["flow_epe_pixels"] > 0
    assert any(v is not None for v in learned["per_class_epe"].values())
    assert evaluate(stub_predictor("per_frame"), [clip], 5).summary["flow_epe"] is None


def test_costs_in_the_summary():
    s = {m: evaluate(stub_predictor(m), [small_clip(900_000, 8)], 5, flow_epe_metric=False).summary
         for m in ("per_frame", "copy", "optical_flow", "bi_optical_flow", "query_flow", "pixel_flow",
                   "bi_pixel_flow")}  # fmt: skip
    key = s["per_frame"]["gflops_key"]
    assert key > 0 and all(v["gflops_key"] == key for v in s.values())
    assert s["per_frame"]["gflops_avg"] == key and s["copy"]["gflops_avg"] == pytest.approx(key / 5)
    qf = s["query_flow"]
    assert qf["gflops_nonkey"] > 0  # (the stub segmenter is cheaper than the flow module)
    assert qf["gflops_avg"] == pytest.approx((key + 4 * qf["gflops_nonkey"]) / 5)
    for m in ("optical_flow", "bi_optical_flow"):
        assert s[m]["gflops_nonkey"] is None and s[m]["gflops_avg"] is None and s[m]["dis_ms"] > 0
    assert s["bi_optical_flow"]["gflops_nonkey_excl_flow"] == pytest.approx(
        2 * s["optical_flow"]["gflops_nonkey_excl_flow"]
    )
    # the cost rule of the method table: a bi-directional learned flow runs its flow module twice
    assert s["bi_pixel_flow"]["gflops_nonkey"] == pytest.approx(2 * s["pixel_flow"]["gflops_nonkey"])
    for v in s.values():
        assert v["fps"] > 0 and v["fps_e2e"] > 0 and v["device"].startswith("cpu")
    assert s["per_frame"]["nonkey_key_latency_ratio"] is None  # no non-key frame
    assert "FPS" in format_table(list(s.values())) and "n/a" in format_table([s["optical_flow"]])


def test_sparse_schedule_scores_only_labelled_frames(clips):
    clip = small_clip(900_000, 18)
    clip.labelled = np.zeros(18, bool)
    clip.labelled[[9, 17]] = True
    result = evaluate(
        stub_predictor("copy"), [clip], ScheduleSpec(5, before_labelled=3), flow_epe_metric=False
    )
    pf = result.per_frame
    assert pf["frame"].tolist() == [9, 17] and pf["key_index"].tolist() == [6, 14]
    assert result.summary["mvc8"] is None  # not every frame predicted: no video consistency


def test_a_clip_in_memory_is_a_data_set_keyed_by_its_content(clips):
    import dataclasses

    from mpvss_core.evaluation.runner import evaluation_key

    data = DataSet.from_clip(clips[0], "c0ffee")
    assert data.names == [clips[0].name] and next(data.clips()) is clips[0]
    assert (
        data.entries[0].identity == "clip:c0ffee"
        and data.describe() == f"clip:{clips[0].name}: 1 clip(s) (1 memory)"
    )
    renamed = DataSet.from_clip(dataclasses.replace(clips[0], name="other"), "c0ffee")
    assert renamed.identity == data.identity != DataSet.from_clip(clips[0], "beef").identity
    tiny, k5 = resolve_model("tiny"), ScheduleSpec(5)
    key = evaluation_key(tiny, data, "copy", k5, "cpu", False)[0]
    assert key == evaluation_key(tiny, DataSet.from_clip(clips[0], "c0ffee"), "copy", k5, "cpu", False)[0]
    assert key != evaluation_key(tiny, DataSet.from_clip(clips[0], "beef"), "copy", k5, "cpu", False)[0]


def test_synthetic_split_reads_the_written_folder_and_renders_the_rest(written, monkeypatch):
    ds = resolve_data("synthetic:val", written, max_clips=2)
    assert [e.origin for e in ds.entries] == ["written", "rendered"]
    assert ds.names[0] == "synth_900000" and "rendered on the fly" in ds.notes[0]
    monkeypatch.setenv("MPVSS_DATA", str(written))
    one = resolve_data("synthetic:val", max_clips=1)
    assert one.entries[0].origin == "written"
    clip = next(one.clips())
    assert clip.num_frames == 8 and clip.has_flow
    for bad in ("synthetic:nope", str(written / "missing")):
        with pytest.raises(InputError, match="synthetic:|does not exist"):
            resolve_data(bad)


def test_results_store_round_trip_and_read_back(written, tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "results")
    data = resolve_data("synthetic:val", written, max_clips=1)
    spec = ScheduleSpec(4)
    tiny = resolve_model("tiny")
    first = run_evaluation(tiny, data, "copy", spec, store=store, flow_epe=False)
    assert not first.cached and store.has(first.key)
    assert not list(store.root.glob(".*"))  # no temporary folder left behind
    saved = json.loads((store.path(first.key) / "summary.json").read_text())
    assert saved["method"] == "copy" and saved["model"] == "tiny"

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(eval_runner, "evaluate", boom)
    again = run_evaluation(tiny, data, "copy", spec, store=store, flow_epe=False)
    assert again.cached and again.summary == saved
    assert again.per_frame.equals(first.per_frame) and again.windows.equals(first.windows)
    assert np.array_equal(again.confusion, first.confusion)
    other, _ = eval_runner.evaluation_key(tiny, data, "copy", ScheduleSpec(5), "cpu", False)
    assert other != first.key  # the schedule is part of the key
    seed1, _ = eval_runner.evaluation_key(resolve_model("tiny", seed=1), data, "copy", spec, "cpu", False)
    assert seed1 != first.key  # so is the seed of random weights
    with pytest.raises(AssertionError, match="recomputed"):
        run_evaluation(tiny, data, "copy", spec, store=store, flow_epe=False, use_cache=False)


def test_store_replaces_a_damaged_entry(tmp_path):
    import pandas as pd

    store = ResultStore(tmp_path)
    (tmp_path / "k1").mkdir()
    (tmp_path / "k1" / "junk").write_text("x")
    windows = pd.DataFrame({"clip": ["c"], "n": [8], "start": [0], "vc": [1.0]})
    result = EvalResult({"miou": float("nan")}, pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]}), windows,
                        np.eye(2, dtype=np.int64))  # fmt: skip
    store.save("k1", result)
    loaded = store.load("k1")
    assert loaded.summary == {"miou": None} and loaded.cached
    assert isinstance(DataSet("x", []).identity, str)
