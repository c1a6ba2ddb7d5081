"""Table I: mIoU vs the number of motion-decoder stages S (S=1..4; S=3 is the full model, query_flow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (
    K_DEFAULT,
    Artifact,
    Plan,
    ReproContext,
    fmt,
    setting_of,
    training_records,
    weights_finding,
)
from .paper_reference import REFERENCE_BACKBONE, SOURCES, TABLE_I, reference

TITLE = "Table I: effect of the number of motion-decoder stages"
STAGES = {1: "stages_1", 2: "stages_2", 3: "query_flow", 4: "stages_4"}


def _shape(values: dict[int, float]) -> str:
    """Where the curve peaks, e.g. 'peaks at S=3'."""
    finite = {s: v for s, v in values.items() if np.isfinite(v)}
    if not finite:
        return "not measured"
    best = max(finite.values())
    peaks = [s for s, v in finite.items() if v == best]
    return "peaks at " + " and ".join(f"S={s}" for s in peaks)


def compute(ctx: ReproContext) -> Artifact:
    """Our mIoU per S next to the paper's (Swin-T, Swin-B); methods without weights are skipped."""
    plan = Plan(ctx, [(m, K_DEFAULT) for m in STAGES.values()], flow_epe=True)
    records = training_records(ctx.model)
    rows = []
    for s, method in STAGES.items():
        rows.append(
            {
                "stages": s,
                "method": method,
                "ours_miou": plan.value(method, K_DEFAULT, "miou"),
                "ours_flow_epe": plan.value(method, K_DEFAULT, "flow_epe"),
                "ours_gflops_nonkey": plan.value(method, K_DEFAULT, "gflops_nonkey"),
                "ours_train_steps": (records.get(method) or {}).get("steps", np.nan),
                "status": "skipped: no trained weights" if method in plan.skipped else "ok",
                **{f"paper_{bb.lower().replace('-', '_')}_miou": TABLE_I[bb][s] for bb in TABLE_I},
                "paper_source": SOURCES["table_1"],
            }
        )
    table = pd.DataFrame(rows)

    fig = make_subplots(rows=1, cols=2, subplot_titles=("ours (synthetic benchmark)", "paper (VSPW)"))
    fig.add_trace(
        go.Scatter(x=table["stages"], y=table["ours_miou"], mode="lines+markers", name="ours"), 1, 1
    )
    for bb in TABLE_I:
        fig.add_trace(
            go.Scatter(x=list(TABLE_I[bb]), y=list(TABLE_I[bb].values()), mode="lines+markers", name=bb), 1, 2
        )
    fig.update_xaxes(title_text="decoder stages S", dtick=1)
    fig.update_yaxes(title_text="mIoU (%)")
    fig.update_layout(title=TITLE, legend_title_text="")

    ours = dict(zip(table["stages"], table["ours_miou"], strict=True))
    findings = weights_finding(ctx) + plan.notes()
    findings.append(
        f"Ours {_shape(ours)} ("
        + ", ".join(f"S={s}: {fmt(v, 2)}" for s, v in ours.items())
        + "); the paper peaks at S=3 on both Swin-T and Swin-B."
    )
    if all(np.isfinite(ours[s]) for s in (2, 3, 4)):
        up, down = ours[3] > ours[2], ours[4] < ours[3]
        verdict = "agrees with" if up and down else "differs from"
        findings.append(
            f"From S=2 to S=3 ours {'rises' if up else 'does not rise'} and from S=3 to S=4 it "
            f"{'drops' if down else 'does not drop'}: {verdict} the paper's rise-then-drop."
        )
    steps = {s: v for s, v in zip(table["stages"], table["ours_train_steps"], strict=True) if np.isfinite(v)}
    if len(set(steps.values())) > 1:
        findings.append(
            "The entries were not trained for the same number of stage-1 steps ("
            + ", ".join(f"S={s}: {int(v):,}" for s, v in steps.items())
            + "), so this curve compares training budgets as much as S; for the effect of S alone, "
            "compare variants trained alike (e.g. a query_flow control trained like them, with "
            "`scripts/compare_methods.py`)."
        )
    setting = setting_of(ctx, plan, K=K_DEFAULT, paper_backbone=REFERENCE_BACKBONE)
    return Artifact(
        "table_1",
        TITLE,
        {"table_1": table, "paper": reference("table_1")},
        {"stages": fig},
        setting,
        findings,
    )
