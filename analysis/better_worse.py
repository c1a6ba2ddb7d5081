"""Figure B's per-category split of one method against a reference: better / worse / tie, the counts,
and the outcome colours. Shared by the artifact (`analysis.figure_b`) and the app's Per-category page, so
both split and colour categories alike. Pandas only (no plotting, no engine)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["OUTCOMES", "OUTCOME_COLOURS", "better_worse", "outcome_counts"]

OUTCOMES = ("better", "worse", "tie")
OUTCOME_COLOURS = {"better": "#2ca02c", "worse": "#d62728", "tie": "#7f7f7f"}


def better_worse(per_class: pd.DataFrame, method: str, reference: str, tol: float = 0.0) -> pd.DataFrame:
    """Per-category comparison of `method` against `reference`.

    Args:
        per_class: tidy frame with columns [method, category, iou] (IoU in %, NaN = not scored).
        method, reference: two values of its `method` column.
        tol: |delta| <= tol counts as a tie.
    Returns:
        Frame with columns [category, iou_method, iou_reference, delta, outcome] (delta = method -
        reference, outcome "better" / "worse" / "tie"), sorted by delta, largest first. Categories
        that either method has no IoU for (NaN or missing) are left out: they cannot be compared.
    """
    cols = ["category", "iou_method", "iou_reference", "delta", "outcome"]
    a = per_class.loc[per_class["method"] == method, ["category", "iou"]]
    b = per_class.loc[per_class["method"] == reference, ["category", "iou"]]
    both = a.merge(b, on="category", suffixes=("_method", "_reference")).dropna()
    both = both.astype({"iou_method": float, "iou_reference": float})
    both["delta"] = both["iou_method"] - both["iou_reference"]
    both["outcome"] = np.select([both["delta"] > tol, both["delta"] < -tol], ["better", "worse"], "tie")
    out = both.sort_values(["delta", "category"], ascending=[False, True], kind="stable")
    return out[cols].reset_index(drop=True)


def outcome_counts(split: pd.DataFrame) -> dict[str, int]:
    """{"better", "worse", "tie"}: how many categories of a `better_worse` frame have each outcome."""
    return {o: int((split["outcome"] == o).sum()) for o in OUTCOMES}
