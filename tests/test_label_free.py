"""Scoring without ground truth (the per-frame reference), TC, label spaces matched by name, and scoring
at the labels' own resolution: exact values on hand-built cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mpvss_cli import main
from mpvss_core.data.clip import Clip
from mpvss_core.errors import InputError
from mpvss_core.evaluation.evaluate import choose_reference, evaluate
from mpvss_core.evaluation.scorer import Reference, Scorer
from mpvss_core.frame_result import FrameResult
from mpvss_core.io import write_video
from mpvss_core.labels import SYNTH_CLASSES, match_label_spaces, resize_nearest
from mpvss_core.schedules import FixedInterval
from tests.engine_helpers import small_clip, stub_predictor


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))


def _unlabelled(clip: Clip) -> Clip:
    return Clip(clip.name, clip.frames, None, clip.class_names)


def _results(labels: list[np.ndarray], key_every: int = 10) -> list[FrameResult]:
    return [FrameResult(i, i % key_every == 0, i - i % key_every, lab) for i, lab in enumerate(labels)]


def test_per_frame_against_itself_is_100_and_every_result_says_so():
    clip = _unlabelled(small_clip(num_frames=8))
    own = evaluate(stub_predictor("per_frame"), [clip], 4, flow_epe_metric=False)
    s = own.summary
    assert s["reference"] == "per_frame" and "no ground truth" in s["notes"][0]
    assert s["miou"] == 100.0 and s["wiou"] == 100.0 and s["num_labelled_frames"] == 8
    copy = evaluate(stub_predictor("copy"), [clip], 4, flow_epe_metric=False).summary
    assert copy["reference"] == "per_frame" and copy["miou"] < 100.0
    with pytest.raises(InputError, match="no ground truth"):
        evaluate(stub_predictor("copy"), [clip], 4, reference="labels")
    labelled = evaluate(stub_predictor("copy"), [small_clip(num_frames=8)], 4, flow_epe_metric=False)
    assert labelled.summary["reference"] == "labels"
    forced = evaluate(stub_predictor("copy"), [small_clip(num_frames=8)], 4, reference="per_frame",
                      flow_epe_metric=False)  # fmt: skip
    assert forced.summary["reference"] == "per_frame" and forced.summary["miou"] == pytest.approx(
        copy["miou"]
    )


def test_tc_of_a_static_clip_is_100():
    static = np.repeat(small_clip().frames[:1], 6, axis=0)
    clip = Clip("static", static, None, SYNTH_CLASSES)
    for name in ("per_frame", "copy", "optical_flow"):
        s = evaluate(stub_predictor(name), [clip], 3, flow_epe_metric=False).summary
        assert s["tc"] == 100.0, name


def test_tc_warps_the_next_prediction_back_by_the_flow():
    """Content and prediction move 4 px right per frame; with that (exact) flow, TC is 100 on the
    pixels that stay in the frame; a prediction that does not move scores lower."""
    h, w = 16, 32
    base = (np.arange(w)[None, :] // 8 % 3).repeat(h, 0).astype(np.uint8)  # stripes of classes 0..2
    moving = [np.roll(base, 4 * t, axis=1) for t in range(3)]
    frames = np.zeros((3, h, w, 3), np.uint8)

    def flow(src: int, dst: int):
        f = np.zeros((h, w, 2), np.float32)
        f[..., 0] = 4.0 * (dst - src)
        return f, np.ones((h, w), bool)

    clip = Clip("moving", frames, None, ("a", "b", "c"), _flow_fn=flow)
    ref = Reference.per_frame(("a", "b", "c"))

    def tc(preds):
        scorer = Scorer(ref, 3, flow_epe=False, tc_flow="exact")
        cs = scorer.clip(clip, FixedInterval(10), per_frame_labels=np.stack(moving))
        for r in _results(preds):
            cs.add(r)
        cs.close()
        return scorer.scores()["tc"], scorer.per_frame["tc"].tolist()

    follows, rows = tc(moving)
    assert follows == 100.0 and rows[:2] == [100.0, 100.0] and np.isnan(rows[2])  # t = 2 has no next
    still, _ = tc([base, base, base])
    assert still < 100.0


def test_label_spaces_are_matched_by_name():
    model, data = ("car", "road", "train"), ("road", "car", "water")
    m = match_label_spaces(model, data)
    assert m.matched == (("car", "car"), ("road", "road"))
    assert m.unmatched_model == ("train",) and m.unmatched_data == ("water",)
    gt = np.array([[0, 0, 1, 2]], np.uint8)  # data ids: road road car water
    pred = np.array([[1, 2, 0, 0]], np.uint8)  # model ids: road train car car
    clip = Clip("c", np.zeros((1, 1, 4, 3), np.uint8), gt[None], data)
    ref = choose_reference("auto", clip, model)
    assert ref.kind == "labels" and ref.match is not None
    scorer = Scorer(ref, len(model), flow_epe=False, tc=False)
    cs = scorer.clip(clip, FixedInterval(1))
    cs.add(FrameResult(0, True, 0, pred))
    cs.close()
    cm = scorer.cm
    # road: 1 of 2 right (the other predicted "train": wrong); car right; water not scored
    assert cm.gt_pixels.tolist() == [2, 1, 0] and cm.true_positives.tolist() == [1, 1, 0]
    s = scorer.scores()
    assert s["class_matching"]["unmatched_data_classes"] == ["water"]
    assert s["per_class_iou"]["road"] == 50.0 and s["per_class_iou"]["car"] == 100.0
    assert s["per_class_iou"]["water"] is None
    disjoint = Clip("d", clip.frames, gt[None], ("sky", "tree", "lake"))
    assert choose_reference("auto", disjoint, model).kind == "per_frame"


def test_predictions_are_scored_at_the_labels_own_resolution():
    """Frames 8x16 given to the model, labels 32x64 (a 50/50 column pattern): the label pixel counts
    are exactly the ground truth's, at its size."""
    labels = np.zeros((2, 32, 64), np.uint8)
    labels[:, :, 32:] = 1
    clip = Clip("full_res", np.zeros((2, 8, 16, 3), np.uint8), labels, ("a", "b"))
    assert clip.label_size == (32, 64) and clip.size == (8, 16)
    pred = np.zeros((8, 16), np.uint8)
    pred[:, 8:] = 1  # the same pattern at the frame size
    scorer = Scorer(Reference.labels(("a", "b"), ("a", "b")), 2, flow_epe=False, tc=False)
    cs = scorer.clip(clip, FixedInterval(1))
    for i in range(2):
        cs.add(FrameResult(i, True, i, pred))
    cs.close()
    assert scorer.cm.gt_pixels.tolist() == [2 * 32 * 32, 2 * 32 * 32]
    assert scorer.scores()["miou"] == 100.0
    assert resize_nearest(pred, (32, 64)).sum() == 32 * 32


def test_eval_of_a_video_without_labels(tmp_path, capsys):
    video = tmp_path / "street.mp4"
    write_video(video, small_clip(num_frames=18).frames, fps=10)
    out = tmp_path / "o.json"
    argv = ["eval", "--model", "tiny", "--data", str(video), "--method", "per_frame,copy", "--interval", "4",
            "--quiet", "--json", str(out), "--max-frames", "17"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "per-frame" in printed and "no ground truth" in printed
    results = json.loads(out.read_text())["results"]
    assert [r["reference"] for r in results] == ["per_frame", "per_frame"]
    assert results[0]["miou"] == 100.0 and results[0]["num_frames"] == 17
    assert "mvc8" in results[1] and results[1]["tc"] is not None  # VC vs per-frame, and TC
    assert main([*argv, "--reference", "labels"]) == 2
    assert "no ground truth" in capsys.readouterr().err
