"""Table V: uni- vs bi-directional optical flow vs query-based flow: mIoU and non-key frame cost.

Classical optical flow (OpenCV DIS) runs on the CPU outside the model and has no FLOPs, so the cost
columns are CPU/model time per non-key frame (`latency_nonkey_ms`, `dis_ms`) beside the GFLOPs of the
parts that are counted (warping + semantic inference, twice for bi-directional).
"""

from __future__ import annotations

import pandas as pd
from plotly.subplots import make_subplots

from .common import K_DEFAULT, Artifact, Plan, ReproContext, compare, fmt, setting_of, weights_finding
from .paper_reference import SOURCES, TABLE_V, TABLE_V_FLOPS, reference

TITLE = "Table V: uni- vs bi-directional optical flow vs query-based flow"
METHODS = {
    "optical_flow": "Uni-directional OF",
    "bi_optical_flow": "Bi-directional OF",
    "query_flow": "Query-based flow",
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
                "status": "skipped: no trained weights" if m in plan.skipped else "ok",
                "paper_swin_t_miou": TABLE_V["Swin-T"][m],
                "paper_swin_b_miou": TABLE_V["Swin-B"][m],
                "paper_gflops_nonkey": TABLE_V_FLOPS[m],
                "paper_source": SOURCES["table_5"],
            }
        )
    table = pd.DataFrame(rows)

    fig = make_subplots(rows=1, cols=2, subplot_titles=("mIoU (%)", "non-key frame time (ms, ours)"))
    fig.add_bar(x=table["paper_name"], y=table["ours_miou"], name="ours mIoU", row=1, col=1)
    fig.add_bar(x=table["paper_name"], y=table["paper_swin_t_miou"], name="paper Swin-T mIoU", row=1, col=1)
    fig.add_bar(x=table["paper_name"], y=table["ours_nonkey_ms"], name="ours non-key ms", row=1, col=2)
    fig.update_layout(title=TITLE, barmode="group")

    o = dict(zip(table["method"], table["ours_miou"], strict=True))
    p = TABLE_V["Swin-T"]
    findings = weights_finding(ctx) + plan.skip_findings()
    findings.append(
        compare(
            "Bi- vs uni-directional optical flow (Swin-T)",
            (o["bi_optical_flow"], o["optical_flow"]),
            (p["bi_optical_flow"], p["optical_flow"]),
            ("bi", "uni"),
        )
    )
    findings.append(
        compare(
            "Query-based flow vs bi-directional optical flow (Swin-T)",
            (o["query_flow"], o["bi_optical_flow"]),
            (p["query_flow"], p["bi_optical_flow"]),
            ("query", "bi"),
        )
    )
    ms = dict(zip(table["method"], table["ours_nonkey_ms"], strict=True))
    findings.append(
        compare(
            "Non-key frame cost, query-based flow vs bi-directional OF (ours: median ms, paper: GFLOPs)",
            (ms["query_flow"], ms["bi_optical_flow"]),
            (TABLE_V_FLOPS["query_flow"], TABLE_V_FLOPS["bi_optical_flow"]),
            ("query", "bi"),
        )
    )
    g = dict(zip(table["method"], table["ours_gflops_nonkey"], strict=True))
    dis = dict(zip(table["method"], table["ours_dis_ms"], strict=True))
    findings.append(
        f"DIS optical flow has no FLOPs: it costs {fmt(dis['optical_flow'])} ms of CPU time per non-key "
        "frame "
        f"(the paper counts its FlowNet at {TABLE_V_FLOPS['optical_flow']} GFLOPs); query-based flow costs "
        f"{fmt(g['query_flow'], 3)} GFLOPs per non-key frame (paper {TABLE_V_FLOPS['query_flow']})."
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
