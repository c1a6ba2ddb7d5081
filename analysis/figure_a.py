"""Figure A: mIoU vs key-frame interval K = 2..10 for query-based flow, optical flow and copy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px

from .common import Artifact, Plan, ReproContext, fmt, setting_of, weights_finding
from .method_colours import DISPLAY_NAMES, colour_methods
from .paper_reference import CLAIMS, FIGURE_A_DROP, SOURCES, reference

TITLE = "Figure A: mIoU vs key-frame interval"
METHODS = ("query_flow", "optical_flow", "copy")
INTERVALS = tuple(range(2, 11))
LABELS = DISPLAY_NAMES


def compute(ctx: ReproContext, intervals: tuple[int, ...] = INTERVALS) -> Artifact:
    """Curves (method, K, mIoU) and the first -> last K drop of each method beside the paper's (K=2 -> 10).

    `intervals` other than 2..10 only to save time (tests); the paper's drop is from K=2 to K=10.
    """
    plan = Plan(ctx, [(m, k) for m in METHODS for k in intervals])
    curve = pd.DataFrame(
        [
            {"method": m, "interval": k, "ours_miou": plan.value(m, k, "miou"), "source": "ours"}
            for m in METHODS
            for k in intervals
        ]
    )
    k0, k1 = intervals[0], intervals[-1]
    drops = []
    for m in METHODS:
        a, b = plan.value(m, k0, "miou"), plan.value(m, k1, "miou")
        is_qf = m == "query_flow"
        drops.append(
            {
                "method": m,
                f"ours_miou_k{k0}": a,
                f"ours_miou_k{k1}": b,
                "ours_drop": a - b,
                "paper_drop_min": FIGURE_A_DROP["query_flow_min"] if is_qf else np.nan,
                "paper_drop_max": FIGURE_A_DROP["query_flow_max"] if is_qf else np.nan,
                "paper_drop_swin_l": FIGURE_A_DROP["query_flow_swin_l"] if is_qf else np.nan,
                "paper_claim": CLAIMS["figure_a"],
                "paper_source": SOURCES["figure_a"],
            }
        )
    drop = pd.DataFrame(drops)

    plot = curve.assign(method=curve["method"].map(LABELS))
    fig = px.line(
        plot,
        x="interval",
        y="ours_miou",
        color="method",
        markers=True,
        title=TITLE,
        labels={"interval": "key-frame interval K", "ours_miou": "mIoU (%)", "method": ""},
    )
    fig.update_xaxes(dtick=1)
    colour_methods(fig)

    d = dict(zip(drop["method"], drop["ours_drop"], strict=True))
    findings = weights_finding(ctx) + plan.notes()
    lo, hi = FIGURE_A_DROP["query_flow_min"], FIGURE_A_DROP["query_flow_max"]
    if np.isfinite(d["query_flow"]):
        inside = lo <= d["query_flow"] <= FIGURE_A_DROP["query_flow_swin_l"]
        findings.append(
            f"Query-based flow loses {fmt(d['query_flow'], 2)} mIoU points from K={k0} to K={k1}; the paper "
            f"loses {lo}-{hi} (R50..Swin-B) and {FIGURE_A_DROP['query_flow_swin_l']} (Swin-L): "
            + ("within" if inside else "outside")
            + " the paper's range."
        )
    if np.isfinite(d["copy"]) and np.isfinite(d["query_flow"]):
        same = d["copy"] > d["query_flow"]
        findings.append(
            f"Copy loses {fmt(d['copy'], 2)} points vs {fmt(d['query_flow'], 2)} for query-based flow: "
            + ("agrees with" if same else "differs from")
            + " the paper, where copy drops much more as K grows."
        )
    qf, of = plan.value("query_flow", k1, "miou"), plan.value("optical_flow", k1, "miou")
    if np.isfinite(qf) and np.isfinite(of):
        wins = sum(
            plan.value("query_flow", k, "miou") > plan.value("optical_flow", k, "miou") for k in intervals
        )
        findings.append(
            f"Query-based flow beats optical flow at {wins} of {len(intervals)} intervals and at K={k1} "
            f"({fmt(qf, 2)} vs {fmt(of, 2)}): "
            + ("agrees with" if qf > of else "differs from")
            + " the paper (query flow ahead at large K on R50, R101 and Swin-T)."
        )
    setting = setting_of(ctx, plan, K=f"{k0}..{k1}")
    return Artifact(
        "figure_a",
        TITLE,
        {"drop": drop, "curve": curve, "paper": reference("figure_a")},
        {"miou_vs_interval": fig},
        setting,
        findings,
    )
