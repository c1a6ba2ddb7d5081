"""Metrics against values worked out by hand (docs/method-notes.md §3 conventions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpvss_core.errors import LabelError
from mpvss_core.metrics import (
    ConfusionMatrix,
    FlowEPEAccumulator,
    VideoConsistencyAccumulator,
    flow_epe,
    flow_epe_per_class,
    frame_miou,
    pool_video_consistency,
    video_consistency,
    window_vc,
)

# ----------------------------------------------------------------------------------------------------
# Confusion matrix
# ----------------------------------------------------------------------------------------------------

# 2x3 maps, K = 3. The bottom-right GT pixel is ignored (its prediction 2 must not count).
GT = np.array([[0, 0, 1], [1, 1, 255]])
PRED = np.array([[0, 2, 1], [1, 0, 2]])
# Counted (gt, pred) pairs: (0,0) (0,2) (1,1) (1,1) (1,0)
# class 0: TP=1, FP=1 (gt1->0), FN=1 (gt0->2) -> IoU = 1/3
# class 1: TP=2, FP=0, FN=1 (gt1->0)         -> IoU = 2/3
# class 2: TP=0, FP=1 (gt0->2), FN=0, never in GT -> union 1 -> IoU = 0, and it counts in the mean
# mIoU = (1/3 + 2/3 + 0) / 3 = 1/3   (the "GT classes only" convention gives (1/3 + 2/3) / 2 = 1/2)
# GT pixels: class 0 = 2, class 1 = 3, total 5 -> WIoU = 2/5 * 1/3 + 3/5 * 2/3 = 2/15 + 6/15 = 8/15
# pixel accuracy = 3 correct / 5 = 3/5


def test_confusion_matrix_hand_example():
    cm = ConfusionMatrix(3).update(PRED, GT)
    np.testing.assert_array_equal(cm.matrix, [[1, 0, 1], [1, 2, 0], [0, 0, 0]])  # rows GT, cols pred
    assert cm.matrix.dtype == np.int64
    np.testing.assert_allclose(cm.per_class_iou(), [1 / 3, 2 / 3, 0.0])
    assert cm.miou() == pytest.approx(1 / 3)
    assert cm.wiou() == pytest.approx(8 / 15)
    assert cm.pixel_accuracy() == pytest.approx(3 / 5)
    assert cm.total == 5
    assert frame_miou(PRED, GT, 3) == pytest.approx(1 / 3)


def _official_mpvss_miou(m: np.ndarray) -> float:
    """The official MPVSS evaluator's formula, written out: sum of IoU over GT classes / number of
    classes in GT or prediction (docs/method-notes.md §3.1)."""
    tp, pos_gt, pos_pred = np.diag(m), m.sum(1), m.sum(0)
    union = pos_gt + pos_pred - tp
    iou = np.divide(tp, union, out=np.zeros(len(tp)), where=union > 0)
    return float(iou[pos_gt > 0].sum() / np.count_nonzero(pos_gt + pos_pred > 0))


def _vspw_evaluator_miou(m: np.ndarray) -> float:
    """The VSPW benchmark `Evaluator`'s formula, written out: nansum(IoU * isval) / isval.sum() with
    isval = GT row sum > 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.diag(m) / (m.sum(1) + m.sum(0) - np.diag(m))
    isval = m.sum(1) > 0
    return float(np.nansum(iou * isval) / isval.sum())


def test_both_miou_conventions_on_a_stack_with_a_predicted_but_absent_class():
    # 3 frames, K = 4: class 3 never in the GT but predicted on frame 2; class 2 absent from both
    gt = np.array([[[0, 0], [1, 1]], [[0, 1], [1, 1]], [[0, 0], [0, 255]]])
    pred = np.array([[[0, 1], [1, 1]], [[0, 1], [1, 0]], [[3, 0], [0, 1]]])
    cm = ConfusionMatrix(4).update(pred, gt)
    # class 0: TP 4, FP 1 (gt1->0), FN 2 (gt0->1, gt0->3) -> 4/7; class 1: TP 4, FP 1, FN 1 -> 4/6
    # class 2: NaN (no union); class 3: TP 0, FP 1 -> 0
    np.testing.assert_allclose(cm.per_class_iou(), [4 / 7, 4 / 6, np.nan, 0.0])
    assert cm.miou() == pytest.approx((4 / 7 + 4 / 6 + 0) / 3)
    assert cm.miou("mpvss") == pytest.approx(_official_mpvss_miou(cm.matrix))
    assert cm.miou("gt_classes") == pytest.approx((4 / 7 + 4 / 6) / 2)
    assert cm.miou("gt_classes") == pytest.approx(_vspw_evaluator_miou(cm.matrix))
    # frame 2 alone: class 0 is 2/3, class 3 (predicted, not in its GT) 0; the ignored pixel drops pred 1
    assert frame_miou(pred[2], gt[2], 4) == pytest.approx(1 / 3)
    assert frame_miou(pred[2], gt[2], 4, convention="gt_classes") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="gt_classes"):
        cm.miou("vspw")
    assert math.isnan(ConfusionMatrix(4).miou("gt_classes"))


def test_ignored_gt_pixels_are_dropped_whatever_the_prediction():
    pred2 = PRED.copy()
    pred2[1, 2] = 0  # change the prediction only where GT is ignored
    a = ConfusionMatrix(3).update(PRED, GT)
    b = ConfusionMatrix(3).update(pred2, GT)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    # A frame that is entirely ignored counts nothing.
    c = ConfusionMatrix(3).update(np.zeros((2, 2), int), np.full((2, 2), 255))
    assert c.total == 0


def test_per_class_nan_for_class_absent_from_gt_and_pred():
    # K = 4: class 3 is neither in GT nor predicted -> NaN, and it does not enter the mean.
    cm = ConfusionMatrix(4).update(PRED, GT)
    iou = cm.per_class_iou()
    assert math.isnan(iou[3])
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert cm.miou() == pytest.approx(1 / 3)
    assert cm.wiou() == pytest.approx(8 / 15)


def test_wiou_weights_by_gt_frequency():
    # GT: 3 pixels of class 0, 1 of class 1. Prediction: all class 0.
    # class 0: TP=3, FP=1 -> IoU 3/4; class 1: TP=0, FN=1 -> IoU 0.
    # mIoU = 3/8; WIoU = 3/4 * 3/4 + 1/4 * 0 = 9/16.
    gt = np.array([[0, 0], [0, 1]])
    pred = np.zeros((2, 2), int)
    cm = ConfusionMatrix(2).update(pred, gt)
    assert cm.miou() == pytest.approx(3 / 8)
    assert cm.wiou() == pytest.approx(9 / 16)


def test_out_of_range_prediction_is_wrong_and_out_of_range_gt_raises():
    # GT [0, 0], prediction [0, 7] with K = 2: the 7 is a false negative of class 0, nobody's FP.
    # class 0: TP=1, FN=1 -> IoU 1/2; class 1 absent everywhere -> NaN; mIoU = 1/2; accuracy 1/2.
    cm = ConfusionMatrix(2).update(np.array([0, 7]), np.array([0, 0]))
    np.testing.assert_array_equal(cm.matrix, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(cm.invalid_pred, [1, 0])
    assert cm.miou() == pytest.approx(0.5)
    assert cm.pixel_accuracy() == pytest.approx(0.5)
    assert math.isnan(cm.per_class_iou()[1])
    with pytest.raises(LabelError):
        ConfusionMatrix(2).update(np.array([0, 0]), np.array([0, 5]))
    with pytest.raises(ValueError):  # LabelError is a ValueError
        ConfusionMatrix(2).update(np.array([0]), np.array([-1]))
    with pytest.raises(ValueError, match="shape"):
        ConfusionMatrix(2).update(np.zeros((2, 2), int), np.zeros((2, 3), int))


def test_merge_equals_joint_update():
    gt_b = np.array([[2, 2, 0], [0, 255, 1]])
    pred_b = np.array([[2, 1, 0], [0, 2, 1]])
    joint = ConfusionMatrix(3).update(np.stack([PRED, pred_b]), np.stack([GT, gt_b]))
    a = ConfusionMatrix(3).update(PRED, GT)
    b = ConfusionMatrix(3).update(pred_b, gt_b)
    merged = a.copy().merge(b)
    np.testing.assert_array_equal(merged.matrix, joint.matrix)
    # Frame B alone adds (2,2) (2,1) (0,0) (0,0) (1,1): class 2 gets TP 1 and FN 1, so after both frames
    # class 2: TP=1, FP=1 (frame A), FN=1 -> IoU 1/3.
    assert merged.per_class_iou()[2] == pytest.approx(1 / 3)
    assert merged.miou() == pytest.approx(joint.miou())
    with pytest.raises(ValueError):
        a.merge(ConfusionMatrix(4))


def test_empty_matrix_is_nan_not_an_error():
    cm = ConfusionMatrix(3)
    assert math.isnan(cm.miou())
    assert math.isnan(cm.wiou())
    assert math.isnan(cm.pixel_accuracy())
    assert np.isnan(cm.per_class_iou()).all()
    cm.update(PRED, GT)
    cm.reset()
    assert cm.total == 0 and math.isnan(cm.miou())
    assert math.isnan(frame_miou(np.zeros((2, 2), int), np.full((2, 2), 255), 3))


# ----------------------------------------------------------------------------------------------------
# Video consistency
# ----------------------------------------------------------------------------------------------------


def _hand_clip(length: int = 18) -> tuple[np.ndarray, np.ndarray]:
    """2x2 clip. Pixels a=(0,0), b=(0,1), c=(1,0), d=(1,1).

    GT: a = 0 always; b = 1 always; c = 2 for frames 0..9 then 3 for frames 10..; d = 255 (ignored)
    always. Prediction: a = 0; b = 1 except frame 4 where it is 0; c = its GT; d = 1 always.
    """
    gt = np.zeros((length, 2, 2), np.uint8)
    gt[:, 0, 1] = 1
    gt[:, 1, 0] = 2
    gt[10:, 1, 0] = 3
    gt[:, 1, 1] = 255
    pred = gt.copy()
    pred[4, 0, 1] = 0
    pred[:, 1, 1] = 1
    return gt, pred


# n = 8, L = 18 -> window starts range(18 - 8) = 0..9 (10 windows), window i = frames i..i+7.
#   G: a, b, d always (d is constantly 255: the ignore value counts as a label); c only when the window
#      does not straddle frames 9 -> 10, i.e. i + 7 <= 9 -> i = 0, 1, 2.
#   P: b constant only when the window misses frame 4, i.e. i >= 5.
#   i = 0..2: G = {a,b,c,d}, G&P = {a,c,d} -> 3/4
#   i = 3..4: G = {a,b,d},   G&P = {a,d}   -> 2/3
#   i = 5..9: G = {a,b,d},   G&P = {a,b,d} -> 1
#   mean = (3 * 3/4 + 2 * 2/3 + 5 * 1) / 10 = (27/12 + 16/12 + 60/12) / 10 = 103/120
HAND_VC8 = [3 / 4] * 3 + [2 / 3] * 2 + [1.0] * 5


def test_vc8_hand_clip():
    gt, pred = _hand_clip()
    per = video_consistency(gt, pred, 8, per_window=True)
    np.testing.assert_allclose(per, HAND_VC8)
    assert video_consistency(gt, pred, 8) == pytest.approx(103 / 120)
    # A list of HxW frames works the same.
    assert video_consistency(list(gt), list(pred), 8) == pytest.approx(103 / 120)


def test_vc16_hand_clip():
    # n = 16: starts range(2) = 0, 1; both windows contain frames 4 and 9 -> 10, so
    # G = {a,b,d}, G&P = {a,d} -> 2/3 each.
    gt, pred = _hand_clip()
    np.testing.assert_allclose(video_consistency(gt, pred, 16, per_window=True), [2 / 3, 2 / 3])


def test_last_window_is_excluded_unless_asked():
    gt, pred = _hand_clip()
    # The excluded window starts at L - n = 10 (frames 10..17): c is constant (3) and b's flip at
    # frame 4 is outside -> G = P = all four pixels -> VC = 1.
    # mean with it = (103/12 + 1) / 11 = 115/132.
    per = video_consistency(gt, pred, 8, skip_last_window=False, per_window=True)
    assert len(per) == 11 and per[-1] == 1.0
    assert video_consistency(gt, pred, 8, skip_last_window=False) == pytest.approx(115 / 132)


def test_short_clip_rule():
    gt, pred = _hand_clip()
    # L = 16 <= 16: skipped for VC8 and for VC16.
    for n in (8, 16):
        assert math.isnan(video_consistency(gt[:16], pred[:16], n))
        assert len(video_consistency(gt[:16], pred[:16], n, per_window=True)) == 0
    # L = 17 is kept with exactly 17 - n windows: for n = 8 starts 0..8 -> same values as above minus
    # the window starting at 9.
    per8 = video_consistency(gt[:17], pred[:17], 8, per_window=True)
    np.testing.assert_allclose(per8, HAND_VC8[:9])
    assert len(video_consistency(gt[:17], pred[:17], 16, per_window=True)) == 1
    # min_length is configurable: with 0, L = 16 gives 16 - 8 = 8 windows.
    assert len(video_consistency(gt[:16], pred[:16], 8, min_length=0, per_window=True)) == 8


def test_pooled_mean_differs_from_mean_of_clip_means():
    # Clip A: L = 25, everything constant -> 25 - 8 = 17 windows, each VC = 1.
    # Clip B: L = 17, GT constant, prediction alternates 0/1 every frame -> 9 windows, each VC = 0.
    # Pooled over windows: 17 / 26. Mean of the two clip means: (1 + 0) / 2 = 1/2.
    gt_a = np.zeros((25, 2, 2), np.uint8)
    gt_b = np.zeros((17, 2, 2), np.uint8)
    pred_b = np.zeros((17, 2, 2), np.uint8)
    pred_b[1::2] = 1
    acc = VideoConsistencyAccumulator(8)
    acc.update(gt_a, gt_a.copy(), name="a")
    acc.update(gt_b, pred_b, name="b")
    assert acc.num_windows == 26 and acc.num_clips == 2 and acc.num_skipped == 0
    assert acc.value() == pytest.approx(17 / 26)
    np.testing.assert_allclose(acc.per_clip(), [1.0, 0.0])
    assert np.mean(acc.per_clip()) == pytest.approx(0.5)
    assert pool_video_consistency([(gt_a, gt_a), (gt_b, pred_b)], 8) == pytest.approx(17 / 26)
    # Merging two accumulators pools their windows.
    left, right = VideoConsistencyAccumulator(8), VideoConsistencyAccumulator(8)
    left.update(gt_a, gt_a)
    right.update(gt_b, pred_b)
    right.update(gt_b[:16], pred_b[:16])  # skipped
    assert left.merge(right).value() == pytest.approx(17 / 26)
    assert left.num_skipped == 1


def test_window_vc_hand_and_nan():
    # 3 frames of 1x3. GT pixel 2 goes 1, 2, 1: back to its first value but not constant -> not in G.
    # G = {0, 1}; prediction pixel 1 goes 1, 0, 1 -> not in P; pixel 0 constant -> |G&P| = 1 -> 1/2.
    gt = np.array([[[0, 0, 1]], [[0, 0, 2]], [[0, 0, 1]]])
    pred = np.array([[[0, 1, 1]], [[0, 0, 1]], [[0, 1, 1]]])
    assert window_vc(gt, pred) == pytest.approx(0.5)
    # GT changing everywhere -> |G| = 0 -> NaN; a clip made only of such windows is NaN too.
    moving = np.arange(20)[:, None, None] * np.ones((1, 2, 2), int)
    assert math.isnan(window_vc(moving[:8], moving[:8]))
    assert math.isnan(video_consistency(moving, moving, 8))


def test_vectorised_windows_match_direct_windows():
    rng = np.random.default_rng(0)
    gt = (rng.random((30, 6, 7)) < 0.1).cumsum(axis=0) % 3  # mostly constant, occasional changes
    pred = np.where(rng.random(gt.shape) < 0.02, 9, gt)
    for n in (2, 8, 16):
        per = video_consistency(gt, pred, n, per_window=True)
        direct = [window_vc(gt[i : i + n], pred[i : i + n]) for i in range(30 - n)]
        np.testing.assert_allclose(per, direct)


# ----------------------------------------------------------------------------------------------------
# Flow end-point error
# ----------------------------------------------------------------------------------------------------

# 1x3 flows. EPE per pixel: |(3,4) - (0,0)| = 5, |(1,0) - (1,0)| = 0, |(0,0) - (0,2)| = 2.
FLOW_PRED = np.array([[[3.0, 4.0], [1.0, 0.0], [0.0, 0.0]]])
FLOW_GT = np.array([[[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]])


def test_flow_epe_hand():
    assert flow_epe(FLOW_PRED, FLOW_GT) == pytest.approx(7 / 3)  # (5 + 0 + 2) / 3
    assert flow_epe(FLOW_PRED, FLOW_GT, np.array([[True, True, False]])) == pytest.approx(2.5)
    assert math.isnan(flow_epe(FLOW_PRED, FLOW_GT, np.zeros((1, 3), bool)))
    gt_nan = FLOW_GT.copy()
    gt_nan[0, 0] = np.nan  # undefined GT is not scored -> (0 + 2) / 2
    assert flow_epe(FLOW_PRED, gt_nan) == pytest.approx(1.0)
    pred_nan = FLOW_PRED.copy()
    pred_nan[0, 1, 0] = np.inf
    with pytest.raises(ValueError):
        flow_epe(pred_nan, FLOW_GT)


def test_flow_epe_per_class_and_accumulator():
    labels = np.array([[0, 1, 0]])
    sums, counts = flow_epe_per_class(FLOW_PRED, FLOW_GT, None, labels, 3)
    np.testing.assert_allclose(sums, [7.0, 0.0, 0.0])  # class 0: 5 + 2
    np.testing.assert_array_equal(counts, [2, 1, 0])
    sums, counts = flow_epe_per_class(FLOW_PRED, FLOW_GT, np.array([[True, True, False]]), labels, 3)
    np.testing.assert_allclose(sums, [5.0, 0.0, 0.0])
    np.testing.assert_array_equal(counts, [1, 1, 0])

    acc = FlowEPEAccumulator(3)
    acc.update(FLOW_PRED, FLOW_GT, labels=labels)
    # Second frame: every pixel off by (0, 1) -> EPE 1 each; the last pixel's label is ignored (255):
    # it counts in the overall mean but in no class.
    acc.update(FLOW_GT + [0.0, 1.0], FLOW_GT, labels=np.array([[1, 1, 255]]))
    # overall: (5 + 0 + 2 + 1 + 1 + 1) / 6 = 10/6
    assert acc.mean() == pytest.approx(10 / 6)
    # class 0: (5 + 2) / 2 = 3.5; class 1: (0 + 1 + 1) / 3 = 2/3; class 2: no pixel -> NaN
    per = acc.per_class()
    np.testing.assert_allclose(per[:2], [3.5, 2 / 3])
    assert math.isnan(per[2])
    assert math.isnan(FlowEPEAccumulator(3).mean())
