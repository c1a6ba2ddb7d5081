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
if not s.has_ground_truth:
    st.info("No ground truth in the model's label space: IoU per class is vs per-frame (no ground truth).")
if need_methods(s):
    preds = state.predictions(s, s.methods)
    if preds:
        per_class = scores.per_class(preds)
        shown = per_class.dropna()
        st.plotly_chart(charts.iou_bars(shown), key="iou_bars")
        st.download_button(
            "Per-category IoU (CSV)",
            per_class.to_csv(index=False).encode(),
            f"{s.clip.name}_per_class_K{s.interval}.csv",
            "text/csv",
        )

        st.subheader("Better and worse categories")
        names = list(preds)
        if len(names) < 2:
            st.info("Choose at least two methods to compare categories.")
        else:
            c1, c2 = st.columns(2)
            default_m = names.index("query_flow") if "query_flow" in names else len(names) - 1
            method = c1.selectbox("Method", names, index=default_m, key="bw_method")
            others = [n for n in names if n != method]
            default_r = others.index("optical_flow") if "optical_flow" in others else 0
            reference = c2.selectbox("Reference", others, index=default_r, key="bw_reference")
            split = better_worse(per_class, method, reference)
            counts = outcome_counts(split)
            st.caption(
                f"{method} vs {reference}: better in {counts['better']}, worse in {counts['worse']}, "
                f"tie in {counts['tie']} categories."
            )
            st.plotly_chart(charts.delta_bars(split, method, reference), key="bw_bars")
            st.dataframe(split, hide_index=True)

        st.subheader("Confusion matrix")
        which = st.selectbox("Method", names, key="cm_method")
        matrix = preds[which].result.confusion
        rows_are = "ground truth" if s.has_ground_truth else "per_frame (no ground truth)"
        st.plotly_chart(charts.confusion(matrix, list(s.class_names), which, rows_are), key="confusion")
