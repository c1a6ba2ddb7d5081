"""The paper's tables and figures, regenerated: one module per artifact, each `compute(ctx) -> Artifact`.

    from analysis import ARTIFACTS, ReproContext
    art = ARTIFACTS["table_1"](ReproContext(model="default", max_clips=4))
    art.tables["table_1"], art.figures["stages"], art.findings

Every artifact returns tidy pandas frames (ours beside the paper's numbers, `analysis.paper_reference`)
and plotly figures; `analysis.store` writes and reads them (CSV, HTML, PNG, JSON), `analysis.cli` is
`mpvss reproduce`. No Streamlit here: the app imports this package.
"""

from __future__ import annotations

from collections.abc import Callable

from . import (
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
from .common import Artifact, ReproContext

__all__ = ["ARTIFACTS", "TITLES", "Artifact", "ReproContext"]

# In the paper's order (supplementary A-E, then the main paper's consistency table)
ARTIFACTS: dict[str, Callable[[ReproContext], Artifact]] = {
    "table_1": table_1.compute,
    "figure_a": figure_a.compute,
    "figure_b": figure_b.compute,
    "table_2": table_2.compute,
    "figure_c": figure_c.compute,
    "table_3": table_3.compute,
    "table_4": table_4.compute,
    "table_5": table_5.compute,
    "figure_d": figure_d.compute,
    "video_consistency": video_consistency.compute,
}

TITLES: dict[str, str] = {
    "table_1": table_1.TITLE,
    "figure_a": figure_a.TITLE,
    "figure_b": figure_b.TITLE,
    "table_2": table_2.TITLE,
    "figure_c": figure_c.TITLE,
    "table_3": table_3.TITLE,
    "table_4": table_4.TITLE,
    "table_5": table_5.TITLE,
    "figure_d": figure_d.TITLE,
    "video_consistency": video_consistency.TITLE,
}
