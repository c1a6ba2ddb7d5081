"""The paper's tables and figures, regenerated: one module per artifact, each `compute(ctx) -> Artifact`.

    from analysis.artifacts import ARTIFACTS
    from analysis.common import ReproContext
    art = ARTIFACTS["table_1"](ReproContext(model=resolve_model("default"), max_clips=4))
    art.tables["table_1"], art.figures["stages"], art.findings

Every artifact returns tidy pandas frames (ours beside the paper's numbers, `analysis.paper_reference`)
and plotly figures; `analysis.store` writes and reads them (CSV, HTML, PNG, JSON). The `mpvss reproduce`
command (`mpvss_cli.reproduce`) and the app's Reproduce page sit above this package. No Streamlit here.

This package's namespace holds only the artifact names (no torch), so the command line can list them
without importing the engine; `analysis.artifacts` imports every artifact module.
"""

from __future__ import annotations

__all__ = ["NAMES"]

# In the paper's order (supplementary A-E, then the main paper's consistency table)
NAMES: tuple[str, ...] = (
    "table_1",
    "figure_a",
    "figure_b",
    "table_2",
    "figure_c",
    "table_3",
    "table_4",
    "table_5",
    "figure_d",
    "video_consistency",
)
