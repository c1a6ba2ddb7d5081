"""Evaluation metrics, exactly as the MPVSS evaluation computes them (method-notes section 3).

- `ConfusionMatrix`: one matrix accumulated over all frames of all clips -> mIoU, WIoU (frequency
  weighted IoU), per-class IoU, pixel accuracy (detectron2 / VSPW `Evaluator` conventions).
- `video_consistency`, `VideoConsistencyAccumulator`, `pool_video_consistency`, `window_vc`: mVC_n with
  the window and skip conventions of the VSPW / MRCFA `VC_perclip.py` scripts.
- `flow_epe`, `flow_epe_per_class`, `FlowEPEAccumulator`: optical-flow end-point error against exact flow.

All scores are fractions in [0, 1] (callers multiply by 100 to print percentages). "No data" is NaN,
never an exception. numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from mpvss_core.errors import LabelError

IGNORE_INDEX = 255  # same value as mpvss_core.data.classes.IGNORE_INDEX

# ----------------------------------------------------------------------------------------------------
# Confusion matrix: mIoU, WIoU, per-class IoU
# ----------------------------------------------------------------------------------------------------


class ConfusionMatrix:
    """Pixel confusion matrix accumulated over any number of frames.

    Conventions (method-notes 3.1, 3.2; detectron2 `SemSegEvaluator` and the VSPW `Evaluator`):

    - `matrix[g, p]` counts pixels with ground truth `g` predicted as `p` (rows = GT, columns = pred),
      KxK int64.
    - Pixels whose GT is `ignore_index` are dropped. GT ids outside [0, K) (other than the ignore id)
      raise `LabelError` (a `ValueError`): they mean the label map belongs to another label space.
    - Predictions outside [0, K) (e.g. 255 from a method that abstains) are counted as wrong: they are
      kept per GT class in `invalid_pred` (length K), add to that class's false negatives and to the GT
      pixel total, and are nobody's false positive. `matrix` holds only in-range predictions.
    - `IoU_c = TP_c / (TP_c + FP_c + FN_c)`; `per_class_iou()` is NaN for classes with an empty union
      (absent from both GT and prediction).
    - mIoU = mean of IoU_c over classes with union > 0: a class predicted but never in the GT counts as 0.
    - WIoU = sum over classes with GT pixels of (GT pixels of c / all GT pixels) * IoU_c.
    - With no pixel counted yet every score is NaN.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.invalid_pred = np.zeros(self.num_classes, np.int64)

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.matrix[:] = 0
        self.invalid_pred[:] = 0

    def copy(self) -> ConfusionMatrix:
        out = ConfusionMatrix(self.num_classes, self.ignore_index)
        out.matrix[:] = self.matrix
        out.invalid_pred[:] = self.invalid_pred
        return out

    def update(self, pred: np.ndarray, gt: np.ndarray) -> ConfusionMatrix:
        """Count one prediction against its ground truth.

        Args:
            pred: integer class ids, any shape (HxW, TxHxW...).
            gt: integer class ids, same shape; `ignore_index` marks pixels to drop.

        Returns:
            self, so updates can be chained.
        """
        pred = np.asarray(pred)
        gt = np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
        k = self.num_classes
        g = gt.reshape(-1).astype(np.int64)
        p = pred.reshape(-1).astype(np.int64)
        keep = g != self.ignore_index
        g, p = g[keep], p[keep]
        bad_gt = (g < 0) | (g >= k)
        if bad_gt.any():
            ids = np.unique(g[bad_gt])[:10].tolist()
            raise LabelError(
                f"ground truth has class ids {ids} outside [0, {k}) that are not the ignore id "
                f"{self.ignore_index}"
            )
        in_range = (p >= 0) & (p < k)
        self.matrix += np.bincount(g[in_range] * k + p[in_range], minlength=k * k).reshape(k, k)
        self.invalid_pred += np.bincount(g[~in_range], minlength=k)
        return self

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts into this one (same as having updated with its frames).

        Returns:
            self.
        """
        if other.num_classes != self.num_classes or other.ignore_index != self.ignore_index:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix (ignore {other.ignore_index}) into a "
                f"{self.num_classes}-class one (ignore {self.ignore_index})"
            )
        self.matrix += other.matrix
        self.invalid_pred += other.invalid_pred
        return self

    # Counts -------------------------------------------------------------------------------------

    @property
    def true_positives(self) -> np.ndarray:
        """K int64."""
        return np.diag(self.matrix).copy()

    @property
    def gt_pixels(self) -> np.ndarray:
        """K int64: counted pixels of each GT class (including those with out-of-range predictions)."""
        return self.matrix.sum(axis=1) + self.invalid_pred

    @property
    def pred_pixels(self) -> np.ndarray:
        """K int64: counted pixels predicted as each class."""
        return self.matrix.sum(axis=0)

    @property
    def total(self) -> int:
        """Number of counted (non-ignored) pixels."""
        return int(self.matrix.sum() + self.invalid_pred.sum())

    def _union(self) -> np.ndarray:
        return self.gt_pixels + self.pred_pixels - self.true_positives

    # Scores -------------------------------------------------------------------------------------

    def per_class_iou(self) -> np.ndarray:
        """K float64 IoU per class; NaN where the class is absent from both GT and prediction."""
        union = self._union()
        iou = np.full(self.num_classes, np.nan)
        has = union > 0
        iou[has] = self.true_positives[has] / union[has]
        return iou

    def miou(self) -> float:
        """Mean IoU over classes with union > 0 (predicted-but-absent classes count as 0); NaN if empty."""
        iou = self.per_class_iou()
        if np.isnan(iou).all():
            return float("nan")
        return float(np.nanmean(iou))

    def wiou(self) -> float:
        """Frequency-weighted IoU: sum over GT classes of (GT share) * IoU; NaN if no GT pixel."""
        gt = self.gt_pixels
        total = gt.sum()
        if total == 0:
            return float("nan")
        present = gt > 0
        iou = self.per_class_iou()
        return float(np.sum(gt[present] / total * iou[present]))

    def pixel_accuracy(self) -> float:
        """Correct pixels / counted pixels; NaN if empty."""
        total = self.total
        if total == 0:
            return float("nan")
        return float(self.true_positives.sum() / total)

    def per_class_accuracy(self) -> np.ndarray:
        """K float64 recall per class (TP / GT pixels); NaN for classes without GT pixels."""
        gt = self.gt_pixels
        acc = np.full(self.num_classes, np.nan)
        acc[gt > 0] = self.true_positives[gt > 0] / gt[gt > 0]
        return acc

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, pixels={self.total}, miou={self.miou():.4f})"


def frame_miou(pred: np.ndarray, gt: np.ndarray, num_classes: int, ignore_index: int = IGNORE_INDEX) -> float:
    """mIoU of a single frame (for per-frame timelines; the benchmark number pools all frames instead).

    Args:
        pred: HxW integer class ids.
        gt: HxW integer class ids (`ignore_index` dropped).
        num_classes: K.
        ignore_index: GT id to drop.

    Returns:
        mIoU in [0, 1] with the `ConfusionMatrix` conventions (classes predicted but absent from this
        frame's GT count as 0); NaN when every GT pixel is ignored.
    """
    return ConfusionMatrix(num_classes, ignore_index).update(pred, gt).miou()


# ----------------------------------------------------------------------------------------------------
# Video consistency mVC_n
# ----------------------------------------------------------------------------------------------------

VC_MIN_LENGTH = 16  # MRCFA `VC_perclip.py`: clips with L <= 16 are skipped, for VC8 as well as VC16


def _as_label_stack(x: np.ndarray | Sequence[np.ndarray], what: str) -> np.ndarray:
    arr = np.stack([np.asarray(f) for f in x]) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 3:
        raise ValueError(f"{what} must be TxHxW (or a list of HxW), got shape {arr.shape}")
    return arr


def window_vc(
    gts_window: np.ndarray | Sequence[np.ndarray], preds_window: np.ndarray | Sequence[np.ndarray]
) -> float:
    """VC of one window of n frames.

    G = pixels whose GT equals the window's first GT in every frame (the ignore id counts as a label:
    an always-ignored pixel is in G), P = the same for the prediction, VC = |G & P| / |G|.

    Args:
        gts_window: nxHxW (or list of HxW) GT ids.
        preds_window: nxHxW predicted ids.

    Returns:
        VC in [0, 1]; NaN if no pixel has a constant GT.
    """
    g = _as_label_stack(gts_window, "gts_window")
    p = _as_label_stack(preds_window, "preds_window")
    if g.shape != p.shape:
        raise ValueError(f"GT window {g.shape} and prediction window {p.shape} differ")
    gc = (g == g[0]).all(axis=0)
    pc = (p == p[0]).all(axis=0)
    n_g = int(gc.sum())
    if n_g == 0:
        return float("nan")
    return float((gc & pc).sum() / n_g)


def _window_starts(length: int, n: int, skip_last_window: bool) -> int:
    """Number of window starts: range(L - n) as the reference (last window excluded) or range(L - n + 1)."""
    return max(0, length - n + (0 if skip_last_window else 1))


def _clip_window_vcs(
    gts: np.ndarray, preds: np.ndarray, n: int, skip_last_window: bool, chunk: int = 1 << 18
) -> np.ndarray:
    """VC of every window of one clip, vectorised.

    "Equal to the first frame of the window in all n frames" is the same as "no change between any two
    consecutive frames of the window", so per pixel a cumulative count of changes answers every window
    with one subtraction. Pixels are processed in chunks to bound memory on long, large clips.
    """
    length = gts.shape[0]
    nw = _window_starts(length, n, skip_last_window)
    if nw == 0:
        return np.zeros(0)
    g = gts.reshape(length, -1)
    p = preds.reshape(length, -1)
    starts = np.arange(nw)
    stable_gt = np.zeros(nw, np.int64)
    stable_both = np.zeros(nw, np.int64)
    for lo in range(0, g.shape[1], chunk):
        gs, ps = g[:, lo : lo + chunk], p[:, lo : lo + chunk]
        cg = np.zeros(gs.shape, np.int32)
        cp = np.zeros(ps.shape, np.int32)
        np.cumsum(gs[1:] != gs[:-1], axis=0, out=cg[1:])
        np.cumsum(ps[1:] != ps[:-1], axis=0, out=cp[1:])
        # Window i covers frames i..i+n-1: it is constant iff no change between frame i and i+n-1.
        gconst = cg[starts + n - 1] == cg[starts]
        pconst = cp[starts + n - 1] == cp[starts]
        stable_gt += gconst.sum(axis=1)
        stable_both += (gconst & pconst).sum(axis=1)
    out = np.full(nw, np.nan)
    has = stable_gt > 0
    out[has] = stable_both[has] / stable_gt[has]
    return out


def _check_vc_args(n: int, min_length: int) -> None:
    if int(n) < 1:
        raise ValueError(f"window length n must be >= 1, got {n}")
    if int(min_length) < 0:
        raise ValueError(f"min_length must be >= 0, got {min_length}")


def video_consistency(
    gts: np.ndarray | Sequence[np.ndarray],
    preds: np.ndarray | Sequence[np.ndarray],
    n: int,
    min_length: int = VC_MIN_LENGTH,
    skip_last_window: bool = True,
    per_window: bool = False,
) -> float | np.ndarray:
    """VC_n of ONE clip (method-notes 3.3).

    Conventions, as the VSPW / MRCFA `VC_perclip.py` scripts:
    - a clip with L <= `min_length` frames is skipped (16 by default, for every n, as MRCFA does);
    - window starts i = 0 .. L-n-1, i.e. Python `range(L - n)`: the last possible window (starting at
      L-n) is excluded; `skip_last_window=False` includes it;
    - VC_i = |G & P| / |G| with G the pixels whose GT is constant over frames i..i+n-1 (the ignore id
      included: a pixel ignored in all n frames is in G) and P those whose prediction is constant; a
      window with empty G is NaN;
    - VC does not check correctness, only that predictions stay put where the GT does. GT frames must
      be densely labelled: an unlabelled (all-ignore) frame would make every pixel look constant.

    Args:
        gts: TxHxW (or list of HxW) GT ids, frames in temporal order.
        preds: TxHxW predicted ids, same shape.
        n: window length in frames (8 and 16 in the paper).
        min_length: clips with L <= min_length are skipped (use 0 to keep every clip).
        skip_last_window: exclude the window starting at L-n (reference behaviour).
        per_window: return the array of VC_i instead of their mean.

    Returns:
        The clip's nanmean of VC_i (NaN if the clip is skipped or has no usable window), or with
        `per_window=True` a float64 array of VC_i (empty if skipped). To pool many clips as the paper
        does, use `VideoConsistencyAccumulator`, not a mean of these per-clip means.
    """
    _check_vc_args(n, min_length)
    g = _as_label_stack(gts, "gts")
    p = _as_label_stack(preds, "preds")
    if g.shape != p.shape:
        raise ValueError(f"GT stack {g.shape} and prediction stack {p.shape} differ")
    too_short = g.shape[0] <= min_length
    vcs = np.zeros(0) if too_short else _clip_window_vcs(g, p, int(n), skip_last_window)
    if per_window:
        return vcs
    return _nanmean(vcs)


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    if x.size == 0 or np.isnan(x).all():
        return float("nan")
    return float(np.nanmean(x))


class VideoConsistencyAccumulator:
    """mVC_n pooled over many clips: nanmean over all windows of all clips (not a mean of clip means).

    Same conventions as `video_consistency` (skip clips with L <= `min_length`, `range(L - n)` window
    starts unless `skip_last_window=False`).

    Attributes:
        per_window: one float64 array of VC_i per clip seen (empty for skipped clips), in update order.
        clip_names: the names passed to `update` (or None), aligned with `per_window`.
    """

    def __init__(self, n: int, min_length: int = VC_MIN_LENGTH, skip_last_window: bool = True) -> None:
        _check_vc_args(n, min_length)
        self.n = int(n)
        self.min_length = int(min_length)
        self.skip_last_window = bool(skip_last_window)
        self.per_window: list[np.ndarray] = []
        self.clip_names: list[str | None] = []

    def reset(self) -> None:
        self.per_window.clear()
        self.clip_names.clear()

    def update(
        self,
        gts: np.ndarray | Sequence[np.ndarray],
        preds: np.ndarray | Sequence[np.ndarray],
        name: str | None = None,
    ) -> np.ndarray:
        """Add one clip (TxHxW GT and prediction stacks). Returns its VC_i array (empty if skipped)."""
        vcs = video_consistency(gts, preds, self.n, self.min_length, self.skip_last_window, per_window=True)
        self.per_window.append(vcs)
        self.clip_names.append(name)
        return vcs

    def merge(self, other: VideoConsistencyAccumulator) -> VideoConsistencyAccumulator:
        if (other.n, other.min_length, other.skip_last_window) != (
            self.n,
            self.min_length,
            self.skip_last_window,
        ):
            raise ValueError("cannot merge VC accumulators with different n / min_length / skip_last_window")
        self.per_window.extend(other.per_window)
        self.clip_names.extend(other.clip_names)
        return self

    @property
    def windows(self) -> np.ndarray:
        """All VC_i of all clips, concatenated (float64, NaN for windows with empty G)."""
        return np.concatenate(self.per_window) if self.per_window else np.zeros(0)

    @property
    def num_windows(self) -> int:
        return int(sum(len(v) for v in self.per_window))

    @property
    def num_clips(self) -> int:
        """Clips that contributed at least one window."""
        return int(sum(len(v) > 0 for v in self.per_window))

    @property
    def num_skipped(self) -> int:
        """Clips that contributed no window (too short)."""
        return int(sum(len(v) == 0 for v in self.per_window))

    def value(self) -> float:
        """mVC_n in [0, 1]: nanmean over all pooled windows; NaN if there is none."""
        return _nanmean(self.windows)

    mean = value

    def per_clip(self) -> np.ndarray:
        """float64 per-clip nanmean of VC_i, NaN for skipped clips (for tables; not the benchmark number)."""
        return np.asarray([_nanmean(v) for v in self.per_window], np.float64)


def pool_video_consistency(
    clips: Iterable[tuple[np.ndarray | Sequence[np.ndarray], np.ndarray | Sequence[np.ndarray]]],
    n: int,
    min_length: int = VC_MIN_LENGTH,
    skip_last_window: bool = True,
) -> float:
    """mVC_n over (gts, preds) pairs, one per clip, pooled as the paper does (see the accumulator)."""
    acc = VideoConsistencyAccumulator(n, min_length, skip_last_window)
    for gts, preds in clips:
        acc.update(gts, preds)
    return acc.value()


# ----------------------------------------------------------------------------------------------------
# Optical-flow end-point error
# ----------------------------------------------------------------------------------------------------


def _epe_map(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(HxW float64 EPE, HxW bool mask of the pixels that count)."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    if pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(f"predicted flow must be HxWx2, got shape {pred.shape}")
    if gt.shape != pred.shape:
        raise ValueError(f"GT flow {gt.shape} and predicted flow {pred.shape} differ")
    mask = np.isfinite(gt).all(axis=2)  # undefined GT flow (e.g. disocclusions) is never scored
    if valid is not None:
        valid = np.asarray(valid, bool)
        if valid.shape != pred.shape[:2]:
            raise ValueError(f"valid mask {valid.shape} does not match flow {pred.shape[:2]}")
        mask &= valid
    if not np.isfinite(pred[mask]).all():
        raise ValueError("predicted flow is NaN or infinite at valid pixels")
    epe = np.sqrt(((np.where(mask[..., None], pred - gt, 0.0)) ** 2).sum(axis=2))
    return epe, mask


def flow_epe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Mean end-point error ||pred - gt||_2 over valid pixels.

    Args:
        pred: HxWx2 predicted flow (dx, dy) in pixels; must be finite where it is scored.
        gt: HxWx2 exact flow; pixels where it is NaN/inf are not scored.
        valid: HxW bool, pixels to score (None = all with finite GT).

    Returns:
        Mean EPE in pixels; NaN if no pixel is valid.
    """
    epe, mask = _epe_map(pred, gt, valid)
    count = int(mask.sum())
    return float(epe[mask].sum() / count) if count else float("nan")


def flow_epe_per_class(
    pred: np.ndarray,
    gt: np.ndarray,
    valid: np.ndarray | None,
    labels: np.ndarray,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """EPE sums and pixel counts per class, so callers can pool across frames before dividing.

    Args:
        pred, gt, valid: as `flow_epe`.
        labels: HxW class ids of the pixels (e.g. GT labels of the frame the flow starts from); ids
            outside [0, K) (the ignore id) are left out.
        num_classes: K.

    Returns:
        (K float64 sums of EPE, K int64 counts of valid pixels).
    """
    epe, mask = _epe_map(pred, gt, valid)
    return _class_sums(epe, mask, labels, num_classes)


def _class_sums(
    epe: np.ndarray, mask: np.ndarray, labels: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    if labels.shape != mask.shape:
        raise ValueError(f"labels {labels.shape} do not match flow {mask.shape}")
    lab = labels.astype(np.int64)
    mask = mask & (lab >= 0) & (lab < num_classes)
    sums = np.bincount(lab[mask], weights=epe[mask], minlength=num_classes).astype(np.float64)
    counts = np.bincount(lab[mask], minlength=num_classes).astype(np.int64)
    return sums, counts


class FlowEPEAccumulator:
    """EPE pooled over frames: overall mean over all valid pixels, and per class when labels are given.

    The overall mean counts every valid pixel, including pixels whose label is ignored; per-class values
    only count pixels with a label in [0, K).
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.reset()

    def reset(self) -> None:
        self.sum = 0.0
        self.count = 0
        self.class_sum = np.zeros(self.num_classes, np.float64)
        self.class_count = np.zeros(self.num_classes, np.int64)

    def update(
        self,
        pred: np.ndarray,
        gt: np.ndarray,
        valid: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> FlowEPEAccumulator:
        """Add one HxWx2 flow pair (see `flow_epe`); `labels` HxW enables per-class pooling."""
        epe, mask = _epe_map(pred, gt, valid)
        self.sum += float(epe[mask].sum())
        self.count += int(mask.sum())
        if labels is not None:
            s, c = _class_sums(epe, mask, labels, self.num_classes)
            self.class_sum += s
            self.class_count += c
        return self

    def merge(self, other: FlowEPEAccumulator) -> FlowEPEAccumulator:
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge {other.num_classes}-class EPE into {self.num_classes}-class EPE")
        self.sum += other.sum
        self.count += other.count
        self.class_sum += other.class_sum
        self.class_count += other.class_count
        return self

    def mean(self) -> float:
        """Mean EPE in pixels over every valid pixel seen; NaN if none."""
        return self.sum / self.count if self.count else float("nan")

    def per_class(self) -> np.ndarray:
        """K float64 mean EPE per class; NaN for classes with no valid pixel."""
        out = np.full(self.num_classes, np.nan)
        has = self.class_count > 0
        out[has] = self.class_sum[has] / self.class_count[has]
        return out
