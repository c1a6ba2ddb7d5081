"""Paired per-clip differences between two evaluations on the same clips: is A better than B on these
clips, or is the difference within the clips' own spread?

    d = paired_difference(a.per_clip["miou"], b.per_clip["miou"])  # PairedDifference(mean, se, wins, n)

The standard error is std(d, ddof=1) / sqrt(n) over clips; a mean difference smaller than about two
standard errors cannot be told from clip-to-clip noise (`PairedDifference.resolved`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PairedDifference", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """Mean of the per-clip differences A - B (points), its standard error, clips A wins, clips."""

    mean: float
    se: float
    wins: int
    n: int

    @property
    def resolved(self) -> bool:
        """|mean| is at least two standard errors (with n >= 2 clips)."""
        return bool(np.isfinite(self.se) and abs(self.mean) >= 2 * self.se)

    def text(self, digits: int = 2) -> str:
        """e.g. "+1.23 ± 0.40 (12/16 clips)"."""
        se = "n/a" if not np.isfinite(self.se) else f"{self.se:.{digits}f}"
        return f"{self.mean:+.{digits}f} ± {se} ({self.wins}/{self.n} clips)"


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> PairedDifference:
    """Per-clip scores of A and B on the same clips, in the same order -> their paired difference.

    Raises:
        ValueError: different numbers of clips.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired differences need the same clips: {x.shape} vs {y.shape}")
    d = x - y
    n = len(d)
    se = float(np.std(d, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return PairedDifference(float(d.mean()) if n else float("nan"), se, int((d > 0).sum()), n)
