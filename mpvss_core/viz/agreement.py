"""Where a prediction is right, wrong or not judged, and where two predictions disagree.

`error_map` codes each pixel of a prediction against a reference label map (the ground truth, or the
per-frame prediction on a clip without labels) as `CORRECT`, `WRONG` or `IGNORED` (the reference has
no label there); `difference_map` marks the pixels where two methods give different classes. Both come
with the shares the page prints and a drawing: error codes in `ERROR_PALETTE` (Okabe-Ito bluish green /
vermillion, safe for red-green colour blindness, grey for ignored) blended over the frame, and the
difference as `DIFFERENCE_COLOUR` over a grey copy of the frame, so only the disagreement has colour.
"""

from __future__ import annotations

import numpy as np

from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.viz._common import Colour, _blend
from mpvss_core.viz.labels import overlay_labels

CORRECT, WRONG, IGNORED = 0, 1, 2
ERROR_NAMES: tuple[str, ...] = ("correct", "wrong", "ignored")
ERROR_PALETTE = np.array([[0, 158, 115], [213, 94, 0], [150, 150, 150]], np.uint8)
DIFFERENCE_COLOUR: Colour = (255, 0, 200)


def error_map(pred: np.ndarray, reference: np.ndarray, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """HxW uint8 codes of `pred` against `reference` (both HxW class ids in the same label space).

    IGNORED where the reference is `ignore_index`; else CORRECT where the ids agree, WRONG elsewhere
    (a prediction of `ignore_index`, e.g. a model class with no counterpart in the data, is wrong).
    """
    pred, reference = np.asarray(pred), np.asarray(reference)
    if pred.shape != reference.shape:
        raise ValueError(f"prediction {pred.shape} and reference {reference.shape} differ in size")
    codes = np.where(pred == reference, CORRECT, WRONG).astype(np.uint8)
    codes[reference == ignore_index] = IGNORED
    return codes


def error_shares(codes: np.ndarray) -> dict[str, float]:
    """{"correct", "wrong", "ignored"} -> % of the frame's pixels; plus "accuracy" (% of judged pixels
    that are correct, NaN when none is judged)."""
    counts = np.bincount(np.asarray(codes).ravel(), minlength=3)[:3]
    total = max(1, int(counts.sum()))
    out = {n: 100.0 * c / total for n, c in zip(ERROR_NAMES, counts, strict=True)}
    judged = counts[CORRECT] + counts[WRONG]
    out["accuracy"] = 100.0 * counts[CORRECT] / judged if judged else float("nan")
    return out


def draw_errors(frame: np.ndarray, codes: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """HxWx3 uint8: the error codes in `ERROR_PALETTE` blended over the frame."""
    return overlay_labels(frame, codes, ERROR_PALETTE, alpha=alpha)


def difference_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """HxW bool: pixels where the label maps `a` and `b` (same shape) hold different ids."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"label maps {a.shape} and {b.shape} differ in size")
    return a != b


def difference_share(diff: np.ndarray) -> float:
    """% of the frame's pixels where the two methods disagree."""
    return 100.0 * float(np.mean(diff)) if np.asarray(diff).size else 0.0


def draw_difference(frame: np.ndarray, diff: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """HxWx3 uint8: a grey copy of the frame with the disagreeing pixels in `DIFFERENCE_COLOUR`."""
    frame = np.asarray(frame, np.uint8)
    grey = np.rint(frame.astype(np.float64) @ [0.299, 0.587, 0.114]).clip(0, 255).astype(np.uint8)
    out = np.repeat(grey[..., None], 3, axis=2)
    top = np.broadcast_to(np.asarray(DIFFERENCE_COLOUR, np.uint8), out[diff].shape)
    out[diff] = _blend(out[diff], top, alpha)
    return out
