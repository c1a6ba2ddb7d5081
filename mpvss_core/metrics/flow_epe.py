"""Optical-flow end-point error against exact flow.

`flow_epe` is the mean ||pred - gt||_2 over valid pixels (NaN/inf ground truth is never scored),
`flow_epe_per_class` returns per-class sums and counts so callers can pool before dividing, and
`FlowEPEAccumulator` pools EPE over frames, overall and per class.
"""

from __future__ import annotations

import numpy as np


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
