"""Table V: uni- vs bi-directional optical flow vs query-based flow: mIoU and non-key frame cost.

The paper's uni- and bi-directional optical flow are FlowNet flows (its uni column equals Table II's
FlowNet column), so ours are the learned pixel-wise flow `pixel_flow` and its bi-directional fusion
`bi_pixel_flow`, with GFLOPs counted like the paper's. Classical optical flow (OpenCV DIS, uni- and
bi-directional) is kept as an extra, labelled comparison: it runs on the CPU outside the model and has
no FLOPs, so its cost is CPU time per non-key frame (`dis_ms`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

from .common import K_DEFAULT, Artifact, Plan, ReproContext, compare, fmt, setting_of, weights_finding
from .paper_reference import SOURCES, TABLE_V, TABLE_V_FLOPS, reference

TITLE = "Table V: uni- vs bi-directional optical flow vs query-based flow"
METHODS = {
    "pixel_flow": "Uni-directional OF (learned, FlowNet-style)",
    "bi_pixel_flow": "Bi-directional OF (learned, FlowNet-style)",
    "query_flow": "Query-based flow",
    "optical_flow": "Uni-directional OF (classical DIS; extra, not in the paper's table)",
    "bi_optical_flow": "Bi-directional OF (classical DIS; extra, not in the paper's table)",
}


def compute(ctx: ReproContext) -> Artifact:
    """mIoU, non-key GFLOPs (or CPU time where FLOPs do not apply) next to the paper's."""
    plan = Plan(ctx, [(m, K_DEFAULT) for m in METHODS])
    rows = []
    for m, label in METHODS.items():
        rows.append(
            {
                "method": m,
                "paper_name": label,
                "ours_miou": plan.value(m, K_DEFAULT, "miou"),
                "ours_gflops_nonkey": plan.value(m, K_DEFAULT, "gflops_nonkey"),
                "ours_gflops_nonkey_excl_flow": plan.value(m, K_DEFAULT, "gflops_nonkey_excl_flow"),
                "ours_nonkey_ms": plan.value(m, K_DEFAULT, "latency_nonkey_ms"),
                "ours_dis_ms": plan.value(m, K_DEFAULT, "dis_ms"),
                "status": "skipped: " + plan.skipped[m] if m in plan.skipped else "ok",
                "paper_swin_t_miou": TABLE_V["Swin-T"].get(m, np.nan),
                "paper_swin_b_miou": TABLE_V["Swin-B"].get(m, np.nan),
                "paper_gflops_nonkey": TABLE_V_FLOPS.get(m, np.nan),
                "paper_source": SOURCES["table_5"] if m in TABLE_V["Swin-T"] else "",
            }
        )
    table = pd.DataFrame(rows)

    fig = make_subplots(rows=1, cols=2, subplot_titles=("mIoU (%)", "non-key frame time (ms, ours)"))
    fig.add_bar(x=table["method"], y=table["ours_miou"], name="ours mIoU", row=1, col=1)
    fig.add_bar(x=table["method"], y=table["paper_swin_t_miou"], name="paper Swin-T mIoU", row=1, col=1)
    fig.add_bar(x=table["method"], y=table["ours_nonkey_ms"], name="ours non-key ms", row=1, col=2)
    fig.update_layout(title=TITLE, barmode="group")

    o = dict(zip(table["method"], table["ours_miou"], strict=True))
    p = TABLE_V["Swin-T"]
    findings = weights_finding(ctx) + plan.notes()
    findings.append(
        compare(
            "Bi- vs uni-directional learned optical flow (Swin-T)",
            (o["bi_pixel_flow"], o["pixel_flow"]),
            (p["bi_pixel_flow"], p["pixel_flow"]),
            ("bi", "uni"),
        )
    )
    findings.append(
        compare(
            "Query-based flow vs bi-directional learned optical flow (Swin-T)",
            (o["query_flow"], o["bi_pixel_flow"]),
            (p["query_flow"], p["bi_pixel_flow"]),
            ("query", "bi"),
        )
    )
    g = dict(zip(table["method"], table["ours_gflops_nonkey"], strict=True))
    findings.append(
        compare(
            "Non-key frame GFLOPs, query-based flow vs bi-directional learned optical flow",
            (g["query_flow"], g["bi_pixel_flow"]),
            (TABLE_V_FLOPS["query_flow"], TABLE_V_FLOPS["bi_pixel_flow"]),
            ("query", "bi"),
        )
    )
    dis = dict(zip(table["method"], table["ours_dis_ms"], strict=True))
    findings.append(
        f"Extra (not in the paper's table): classical DIS optical flow scores {fmt(o['optical_flow'], 2)} "
        f"(uni) and {fmt(o['bi_optical_flow'], 2)} (bi) mIoU at {fmt(dis['optical_flow'])} / "
        f"{fmt(dis['bi_optical_flow'])} ms of CPU time per non-key frame and no FLOPs."
    )
    setting = setting_of(ctx, plan, K=K_DEFAULT, paper_dataset="Cityscapes", flops_unit="GFLOPs, fvcore")
    return Artifact(
        "table_5",
        TITLE,
        {"table_5": table, "paper": reference("table_5")},
        {"methods": fig},
        setting,
        findings,
    )
