"""The paper's tables and figures, regenerated: one module per artifact, each `compute(ctx) -> Artifact`.

    from analysis import ARTIFACTS, ReproContext
    art = ARTIFACTS["table_1"](ReproContext(model="default", max_clips=4))
    art.tables["table_1"], art.figures["stages"], art.findings

Every artifact returns tidy pandas frames (ours beside the paper's numbers, `analysis.paper_reference`)
and plotly figures; `analysis.store` writes and reads them (CSV, HTML, PNG, JSON), `analysis.cli` is
`mpvss reproduce`. No Streamlit here: the app imports this package.

`ARTIFACTS` and `TITLES` are plain dicts built on first access (PEP 562 `__getattr__`): the analyses
import torch and the engine (seconds), and the `mpvss` command line imports this package to build its
parser for every command.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ARTIFACTS", "NAMES", "TITLES", "Artifact", "ReproContext"]

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


def __getattr__(name: str) -> Any:
    if name in ("ARTIFACTS", "TITLES"):
        modules = {n: importlib.import_module(f"{__name__}.{n}") for n in NAMES}
        globals()["ARTIFACTS"] = {n: m.compute for n, m in modules.items()}
        globals()["TITLES"] = {n: m.TITLE for n, m in modules.items()}
        return globals()[name]
    if name in ("Artifact", "ReproContext"):
        from . import common

        return getattr(common, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
