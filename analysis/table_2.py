"""Table II: per-frame vs learned optical flow vs query-learned vs query-based flow (mIoU)."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
import plotly.graph_objects as go

from .common import K_DEFAULT, Artifact, Plan, ReproContext, compare, setting_of, weights_finding
from .paper_reference import BACKBONES, REFERENCE_BACKBONE, SOURCES, TABLE_II, reference

TITLE = "Table II: effect of the query-based flow"
# Our method names for the paper's columns; the paper's "Optical flow" is FlowNet, i.e. a learned
# pixel-wise flow: our `pixel_flow`. The classical (DIS) optical flow is shown as an extra row.
METHODS = {
    "per_frame": "Per-frame",
    "pixel_flow": "Optical flow (learned, FlowNet-style)",
    "query_learned": "Query-learned",
    "query_flow": "Query-based flow",
    "optical_flow": "Optical flow (classical DIS; not in the paper's table)",
}
PAPER_ORDER = ("per_frame", "query_flow", "query_learned", "pixel_flow")  # the paper's ranking


def compute(ctx: ReproContext) -> Artifact:
    """Our mIoU per method next to the paper's (every backbone); skipped methods are marked."""
    plan = Plan(ctx, [(m, K_DEFAULT) for m in METHODS])
    rows = []
    for m, label in METHODS.items():
        row = {
            "method": m,
            "paper_name": label,
            "ours_miou": plan.value(m, K_DEFAULT, "miou"),
            "ours_gflops_avg": plan.value(m, K_DEFAULT, "gflops_avg"),
            "status": "skipped: no trained weights" if m in plan.skipped else "ok",
        }
        for bb in BACKBONES:
            row[f"paper_{bb.lower().replace('-', '_')}_miou"] = TABLE_II[bb].get(m, float("nan"))
        row["paper_source"] = SOURCES["table_2"]
        rows.append(row)
    table = pd.DataFrame(rows)

    fig = go.Figure(go.Bar(x=table["paper_name"], y=table["ours_miou"], name="ours"))
    ref = f"paper_{REFERENCE_BACKBONE.lower().replace('-', '_')}_miou"
    fig.add_bar(x=table["paper_name"], y=table[ref], name=f"paper ({REFERENCE_BACKBONE}, Cityscapes)")
    fig.update_layout(title=TITLE, barmode="group", yaxis_title="mIoU (%)")

    ours = dict(zip(table["method"], table["ours_miou"], strict=True))
    paper = TABLE_II[REFERENCE_BACKBONE]
    findings = weights_finding(ctx) + plan.notes()
    for a, b in pairwise(PAPER_ORDER):
        findings.append(
            compare(
                f"{METHODS[a]} vs {METHODS[b]} ({REFERENCE_BACKBONE})",
                (ours[a], ours[b]),
                (paper[a], paper[b]),
                (a, b),
            )
        )
    findings.append(
        compare(
            "Query-based flow vs classical optical flow (paper: FlowNet)",
            (ours["query_flow"], ours["optical_flow"]),
            (paper["query_flow"], paper["pixel_flow"]),
            ("query_flow", "optical_flow"),
        )
    )
    setting = setting_of(
        ctx, plan, K=K_DEFAULT, paper_backbone=REFERENCE_BACKBONE, paper_dataset="Cityscapes"
    )
    return Artifact(
        "table_2",
        TITLE,
        {"table_2": table, "paper": reference("table_2")},
        {"methods": fig},
        setting,
        findings,
    )
