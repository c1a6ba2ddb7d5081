"""Per-query views of a propagated frame, in numpy: which query wins each pixel, each query's flow in
frame pixels, and a table of the queries (for the app's flow explorer and the analyses).

    r = next(r for r in method.run(frames, 5, diagnostics=True) if not r.is_key)
    winner = winner_queries(r.mask_logits, r.class_probs, r.labels)     # HxW query ids
    table = query_table(winner, r.class_probs, class_names)              # area, class per query
    flow_q = grid_flow_to_frame(r.query_flow[q], r.labels.shape)         # HxWx2 frame pixels

The conventions are those of `frame_result` (the FrameResult diagnostics): mask logits live on 1/4 of
the frame padded to a multiple of 32, learned flows on 1/8 of it in pixels of that grid. The winning
query follows `frame_result.winner_flow`: argmax_q P_q(c*(p)) * sigmoid(m_q(p)), with c* the label.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mpvss_core.frame_result import mask_logits_to_frame, query_flows_to_frame

__all__ = ["grid_flow_to_frame", "query_mask_probs", "query_table", "sigmoid", "winner_queries"]


def grid_flow_to_frame(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A flow on the 1/8 grid of the padded frame (2xh8xw8, grid pixels) -> HxWx2 in frame pixels.

    Thin wrapper of `frame_result.query_flows_to_frame` (the resize + crop of `winner_flow`) that also
    checks the grid covers the frame.
    """
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must be 2xhxw, got shape {flow.shape}")
    padded = (8 * flow.shape[1], 8 * flow.shape[2])
    if padded[0] < size[0] or padded[1] < size[1]:
        raise ValueError(
            f"a {flow.shape[1]}x{flow.shape[2]} grid covers {padded}, smaller than the frame {size}"
        )
    return query_flows_to_frame(flow, size)


def query_mask_probs(mask_logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Qxh4xw4 mask logits (1/4 of the padded frame) -> QxHxW mask probabilities on the frame."""
    logits = np.asarray(mask_logits, np.float32)
    if logits.ndim != 3:
        raise ValueError(f"mask_logits must be Qxhxw, got shape {logits.shape}")
    return sigmoid(mask_logits_to_frame(logits, size))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow: exp(-log(1 + exp(-x))), with log(1 + exp(-x)) as
    `np.logaddexp(0, -x)`, which never forms exp of a large number (warped mask logits reach -1e4 and
    beyond far from a segment, where 1 + exp(-x) overflows float32 and numpy warns)."""
    x = np.asarray(x, np.float32)
    return np.exp(-np.logaddexp(np.float32(0.0), -x))


def winner_queries(mask_logits: np.ndarray, class_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The query that contributes most to each pixel's predicted class (see the module docstring).

    Args:
        mask_logits: Qxh4xw4 (warped) mask logits.
        class_probs: Qx(K+1) class probabilities (last column = no object).
        labels: HxW predicted class ids.
    Returns:
        HxW int64 query ids.
    """
    labels = np.asarray(labels).astype(np.int64)
    probs = np.asarray(class_probs, np.float32)[:, :-1]  # QxK
    masks = query_mask_probs(mask_logits, labels.shape)  # QxHxW
    score = probs[:, labels] * masks  # QxHxW
    return score.argmax(0)


def query_table(winner: np.ndarray, class_probs: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per query that wins at least one pixel, largest segment first, then by class name.

    Columns: query, area (pixels), area_pct, class_id, category (the query's most likely class), score
    (its probability).
    """
    probs = np.asarray(class_probs, np.float32)[:, :-1]
    counts = np.bincount(np.asarray(winner).ravel(), minlength=len(probs))
    total = max(int(np.asarray(winner).size), 1)
    rows = []
    for q in np.flatnonzero(counts):
        cls = int(probs[q].argmax())
        name = class_names[cls] if cls < len(class_names) else f"class {cls}"
        rows.append(
            {
                "query": int(q),
                "area": int(counts[q]),
                "area_pct": 100.0 * counts[q] / total,
                "class_id": cls,
                "category": name,
                "score": float(probs[q, cls]),
            }
        )
    columns = ["query", "area", "area_pct", "class_id", "category", "score"]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values(["area", "category"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)
