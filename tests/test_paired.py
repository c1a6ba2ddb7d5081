"""Paired per-clip differences (analysis/paired.py) on hand-worked values."""

from __future__ import annotations

import math

import pytest

from analysis.paired import paired_difference


def test_paired_difference_hand_example():
    # d = [1, 2, -1, 4]: mean 1.5; sample variance 13/3; SE = sqrt(13/3) / 2
    d = paired_difference([50, 52, 48, 55], [49, 50, 49, 51])
    assert d.mean == pytest.approx(1.5) and d.se == pytest.approx(math.sqrt(13 / 3) / 2)
    assert (d.wins, d.n) == (3, 4) and not d.resolved  # 1.5 < 2 x 1.04
    assert d.text() == "+1.50 ± 1.04 (3/4 clips)"
    assert paired_difference([3, 4, 5], [1, 2, 3.5]).resolved  # d = [2, 2, 1.5]: SE 0.17


def test_one_clip_has_no_standard_error_and_mismatched_clips_are_refused():
    d = paired_difference([1.0], [0.0])
    assert math.isnan(d.se) and not d.resolved and d.text().endswith("n/a (1/1 clips)")
    with pytest.raises(ValueError, match="same clips"):
        paired_difference([1, 2], [1])
