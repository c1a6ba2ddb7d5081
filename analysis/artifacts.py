"""Every artifact of the paper: name -> `compute(ctx) -> Artifact`, and its title (the paper's order)."""

from __future__ import annotations

from collections.abc import Callable

from analysis import (
    NAMES,
    figure_a,
    figure_b,
    figure_c,
    figure_d,
    table_1,
    table_2,
    table_3,
    table_4,
    table_5,
    video_consistency,
)
from analysis.common import Artifact, ReproContext

__all__ = ["ARTIFACTS", "TITLES"]

_MODULES = (
    table_1,
    figure_a,
    figure_b,
    table_2,
    figure_c,
    table_3,
    table_4,
    table_5,
    figure_d,
    video_consistency,
)
ARTIFACTS: dict[str, Callable[[ReproContext], Artifact]] = {
    m.__name__.rsplit(".", 1)[1]: m.compute for m in _MODULES
}
TITLES: dict[str, str] = {m.__name__.rsplit(".", 1)[1]: m.TITLE for m in _MODULES}
assert tuple(ARTIFACTS) == NAMES, "analysis.NAMES and the artifact modules disagree"
