"""Figure B: per-category IoU of per-frame, query-based flow and optical flow; better and worse cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px

from .better_worse import OUTCOME_COLOURS, better_worse, outcome_counts
from .common import K_DEFAULT, Artifact, Plan, ReproContext, fmt, setting_of, weights_finding
from .method_colours import colour_methods
from .paper_reference import FIGURE_B_WINS, SOURCES, reference

TITLE = "Figure B: per-category analysis"
METHODS = ("per_frame", "query_flow", "optical_flow")


def per_class_frame(plan: Plan, methods: tuple[str, ...] = METHODS) -> pd.DataFrame:
    """Tidy [method, category, iou] of the evaluations in `plan` at K_DEFAULT (None -> NaN)."""
    rows = []
    for m in methods:
        r = plan.results.get((m, K_DEFAULT))
        if r is None:
            continue
        for cat, iou in r.summary["per_class_iou"].items():
            rows.append({"method": m, "category": cat, "iou": np.nan if iou is None else float(iou)})
    return pd.DataFrame(rows, columns=["method", "category", "iou"])


def compute(ctx: ReproContext) -> Artifact:
    """Per-category IoU of the three methods and the query flow vs optical flow split."""
    plan = Plan(ctx, [(m, K_DEFAULT) for m in METHODS])
    per_class = per_class_frame(plan)
    bw = better_worse(per_class, "query_flow", "optical_flow")
    counts = outcome_counts(bw)
    wins, n = counts["better"], len(bw)
    paper_wins, paper_n = FIGURE_B_WINS["wins"], FIGURE_B_WINS["categories"]
    summary = pd.DataFrame(
        [
            {
                "comparison": "query_flow vs optical_flow",
                "ours_better": wins,
                "ours_worse": counts["worse"],
                "ours_tie": counts["tie"],
                "ours_categories": n,
                "ours_win_share": wins / n if n else np.nan,
                "paper_better": paper_wins,
                "paper_categories": paper_n,
                "paper_win_share": paper_wins / paper_n,
                "paper_source": SOURCES["figure_b"],
            }
        ]
    )
    order = per_class.groupby("category")["iou"].mean().sort_values(ascending=False).index.tolist()
    bars = px.bar(
        per_class,
        x="category",
        y="iou",
        color="method",
        barmode="group",
        category_orders={"category": order},
        title=TITLE + ": IoU per category",
        labels={"iou": "IoU (%)", "category": ""},
    )
    colour_methods(bars)
    delta = px.bar(
        bw,
        x="category",
        y="delta",
        color="outcome",
        color_discrete_map=OUTCOME_COLOURS,
        title="Query-based flow minus optical flow, per category (better / worse)",
        labels={"delta": "IoU difference (points)", "category": ""},
    )

    findings = weights_finding(ctx) + plan.notes()
    if n:
        share, paper_share = wins / n, paper_wins / paper_n
        findings.append(
            f"Query-based flow beats optical flow in {wins} of {n} scored categories ({100 * share:.0f} %); "
            f"the paper: {paper_wins} of {paper_n} ({100 * paper_share:.0f} %): "
            + ("agrees with" if share > 0.5 else "differs from")
            + " the paper's majority of wins."
        )
        outcome = dict(zip(bw["category"], bw["outcome"], strict=True))
        delta_of = dict(zip(bw["category"], bw["delta"], strict=True))
        for cat, expected in [(c, "better") for c in FIGURE_B_WINS["better"]] + [
            (c, "worse") for c in FIGURE_B_WINS["worse"]
        ]:
            if cat in outcome:
                verdict = "agrees with" if outcome[cat] == expected else "differs from"
                word = {"better": "better than", "worse": "worse than", "tie": "level with"}[outcome[cat]]
                findings.append(
                    f"'{cat}': query-based flow is {word} optical flow "
                    f"({fmt(delta_of[cat], 2)} points); the paper has it {expected}: {verdict} the paper."
                )
        if len(bw):
            top = ", ".join(bw.head(3)["category"])
            bottom = ", ".join(bw.tail(3)["category"][::-1])
            findings.append(f"Largest gains of query-based flow: {top}; largest losses: {bottom}.")
    else:
        findings.append("No category could be compared (a method was skipped or no labels).")
    setting = setting_of(ctx, plan, K=K_DEFAULT)
    tables = {"summary": summary, "better_worse": bw, "per_class": per_class, "paper": reference("figure_b")}
    return Artifact(
        "figure_b", TITLE, tables, {"per_category": bars, "better_worse": delta}, setting, findings
    )
