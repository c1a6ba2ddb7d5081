"""Per-category tables of the clip's predictions, read from their evaluations (the library's scorer
computed them; nothing is re-scored here)."""

from __future__ import annotations

import pandas as pd

from app import state


def per_class(preds: dict[str, state.Prediction]) -> pd.DataFrame:
    """Tidy [method, category, iou] (IoU in %, NaN where a class is neither in the GT nor predicted)."""
    rows = []
    for name, p in preds.items():
        for cat, iou in p.result.summary["per_class_iou"].items():
            rows.append({"method": name, "category": cat, "iou": float("nan") if iou is None else iou})
    return pd.DataFrame(rows, columns=["method", "category", "iou"])
