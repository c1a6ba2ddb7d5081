"""Per-category: IoU of every class per method, the better / worse split against a reference method
(the paper's Figure B), and a confusion matrix."""

from __future__ import annotations

import streamlit as st

from analysis.better_worse import better_worse, outcome_counts
from app import state
from app.components import charts, scores
from app.components.header import need_methods, page_header

s = page_header(
    "Per-category",
    "IoU per class over every labelled frame of the clip (one confusion matrix per method). Static stuff "
    "classes are easy to propagate; small, fast objects are where methods differ.",
)
# On a clip without ground truth the scores are against per_frame (`state.Settings.reference`):
# per_frame against itself is 100 in every class and an identity matrix, so it is never a default.
REFERENCE = None if s.has_ground_truth else "per_frame"
NEITHER = "found by neither"  # the outcome of a class both methods score 0 in


def _prefer(options: list[str], *wanted: str | None) -> int:
    """Index of the first wanted name among the options, else of the first that is not the reference."""
    for w in wanted:
        if w in options:
            return options.index(w)
    return next((i for i, n in enumerate(options) if n != REFERENCE), 0)


if need_methods(s):
    preds = state.predictions(s, s.methods)
    if preds:
        per_class = scores.per_class(preds)
        shown = per_class.dropna()
        if REFERENCE in preds and len(preds) > 1:
            shown = shown[shown["method"] != REFERENCE]
            st.caption(
                f"{REFERENCE} is the reference on this clip (100 in every class by definition): not drawn."
            )
        st.plotly_chart(charts.iou_bars(shown), key="iou_bars")
        st.download_button(
            "Per-category IoU (CSV)",
            per_class.to_csv(index=False).encode(),
            f"{s.clip.name}_per_class_K{s.interval}.csv",
            "text/csv",
        )

        st.subheader("Better and worse categories")
        names = list(preds)
        candidates = [n for n in names if n != REFERENCE] or names
        if len(names) < 2:
            st.info("Choose at least two methods to compare categories.")
        else:
            c1, c2 = st.columns(2)
            pick = candidates[-1] if "query_flow" not in candidates else "query_flow"
            method = c1.selectbox("Method", candidates, index=candidates.index(pick), key="bw_method")
            others = [n for n in names if n != method]
            reference = c2.selectbox(
                "Reference", others, index=_prefer(others, "optical_flow"), key="bw_reference"
            )
            split = better_worse(per_class, method, reference)
            # a class both methods score 0 in (in the labels, found by neither) is no tie: it says nothing
            # about which is better, so it is marked and counted apart
            missed = (split["iou_method"] == 0) & (split["iou_reference"] == 0)
            split.loc[missed, "outcome"] = NEITHER
            counts = outcome_counts(split)
            both_missed = (
                f" Found by neither (0 vs 0, not counted): {', '.join(split.loc[missed, 'category'])}."
                if missed.any()
                else ""
            )
            st.caption(
                f"{method} vs {reference}: better in {counts['better']}, worse in {counts['worse']}, "
                f"tie in {counts['tie']} categories.{both_missed}"
            )
            st.plotly_chart(charts.delta_bars(split[~missed], method, reference), key="bw_bars")
            st.dataframe(split, hide_index=True)

        st.subheader("Confusion matrix")
        which = st.selectbox("Method", names, index=_prefer(names), key="cm_method")
        matrix = preds[which].result.confusion
        rows_are = "ground truth" if s.has_ground_truth else "per_frame (no ground truth)"
        st.plotly_chart(charts.confusion(matrix, list(s.class_names), which, rows_are), key="confusion")
