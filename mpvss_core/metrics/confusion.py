"""Pixel confusion matrix and the scores derived from it (docs/method-notes.md §3.1, §3.2).

`ConfusionMatrix` accumulates one KxK matrix over all frames of all clips and gives mIoU (in both
conventions of `MIOU_CONVENTIONS`), WIoU (frequency-weighted IoU), per-class IoU, pixel accuracy and
per-class accuracy; `frame_miou` is the mIoU of a single frame for per-frame timelines.
"""

from __future__ import annotations

import numpy as np

from mpvss_core.errors import LabelError
from mpvss_core.labels import IGNORE_INDEX

# The two mIoU conventions in use (docs/method-notes.md §3.1); they differ only where a class is
# predicted but absent from the ground truth (a clip or a subset; on a full val set with every class
# present they coincide):
# - "mpvss": the official MPVSS evaluator (`vspw_seg_evaluation.py`, older detectron2), also
#   mmsegmentation and cityscapesscripts: mean over classes with union > 0, so such a class counts as 0.
#   The project's default, as the paper's numbers were made with it.
# - "gt_classes": the VSPW benchmark's `Evaluator` (`VSPW_code/utils.py`) and current detectron2: mean
#   over classes present in the ground truth only.
MIOU_CONVENTIONS = ("mpvss", "gt_classes")


class ConfusionMatrix:
    """Pixel confusion matrix accumulated over any number of frames.

    Conventions (docs/method-notes.md §3.1, §3.2; the official MPVSS evaluator, cityscapesscripts):

    - `matrix[g, p]` counts pixels with ground truth `g` predicted as `p` (rows = GT, columns = pred),
      KxK int64.
    - Pixels whose GT is `ignore_index` are dropped. GT ids outside [0, K) (other than the ignore id)
      raise `LabelError` (a `ValueError`): they mean the label map belongs to another label space.
    - Predictions outside [0, K) (e.g. 255 from a method that abstains) are counted as wrong: they are
      kept per GT class in `invalid_pred` (length K), add to that class's false negatives and to the GT
      pixel total, and are nobody's false positive. `matrix` holds only in-range predictions.
    - `IoU_c = TP_c / (TP_c + FP_c + FN_c)`; `per_class_iou()` is NaN for classes with an empty union
      (absent from both GT and prediction).
    - mIoU (`miou()`, convention "mpvss") = mean of IoU_c over classes with union > 0: a class predicted
      but never in the GT counts as 0. `miou("gt_classes")` averages over classes with GT pixels only
      (the VSPW benchmark's `Evaluator`, current detectron2). See `MIOU_CONVENTIONS`.
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

    def miou(self, convention: str = "mpvss") -> float:
        """Mean IoU in one of `MIOU_CONVENTIONS`; NaN if no class counts.

        "mpvss" (default): over classes with union > 0 (predicted-but-absent classes count as 0).
        "gt_classes": over classes with ground-truth pixels only.
        """
        if convention not in MIOU_CONVENTIONS:
            raise ValueError(f"unknown mIoU convention {convention!r}; expected one of {MIOU_CONVENTIONS}")
        iou = self.per_class_iou()
        if convention == "gt_classes":
            iou = iou[self.gt_pixels > 0]
        if iou.size == 0 or np.isnan(iou).all():
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


def frame_miou(
    pred: np.ndarray,
    gt: np.ndarray,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
    convention: str = "mpvss",
) -> float:
    """mIoU of a single frame (for per-frame timelines; the benchmark number pools all frames instead).

    Args:
        pred: HxW integer class ids.
        gt: HxW integer class ids (`ignore_index` dropped).
        num_classes: K.
        ignore_index: GT id to drop.
        convention: one of `MIOU_CONVENTIONS` ("mpvss": classes predicted but absent from this frame's
            GT count as 0).

    Returns:
        mIoU in [0, 1]; NaN when every GT pixel is ignored.
    """
    return ConfusionMatrix(num_classes, ignore_index).update(pred, gt).miou(convention)
