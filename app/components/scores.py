"""Scores of cached predictions against the clip's ground truth (mpvss_core.metrics conventions)."""

from __future__ import annotations

import pandas as pd

from app import state
from mpvss_core.metrics import ConfusionMatrix


def confusion_matrices(s: state.Settings, preds: dict[str, state.Prediction]) -> dict[str, ConfusionMatrix]:
    """One confusion matrix per method over every labelled frame of the clip."""
    out = {}
    for name, p in preds.items():
        cm = ConfusionMatrix(s.clip.num_classes)
        for i in range(s.clip.num_frames):
            if s.clip.labelled[i]:
                cm.update(p.labels[i], s.clip.labels[i])
        out[name] = cm
    return out


def per_class(s: state.Settings, cms: dict[str, ConfusionMatrix]) -> pd.DataFrame:
    """Tidy [method, category, iou] (IoU in %, NaN where a class is neither in the GT nor predicted)."""
    rows = []
    for name, cm in cms.items():
        for cat, iou in zip(s.class_names, cm.per_class_iou(), strict=True):
            rows.append({"method": name, "category": cat, "iou": 100.0 * iou})
    return pd.DataFrame(rows, columns=["method", "category", "iou"])
