"""Key-frame interval: mIoU against K for the chosen methods (evaluated live, or read from the results
store), and the accuracy / cost trade-off (GFLOPs per frame, FPS)."""

from __future__ import annotations

import streamlit as st

from app import sources
from app.components import charts
from app.components.header import need_methods, page_header
from app.evaluations import evaluations
from mpvss_core.errors import InputError
from mpvss_core.evaluation.costs import FLOPS_UNIT

s = page_header(
    "Key-frame interval",
    "A longer interval K runs the segmenter less often (cheaper) but propagates further (less accurate). "
    "Evaluations are stored by content hash (model weights, clip, method, K): each runs once.",
)
if not s.has_ground_truth:
    st.info("No ground truth in the model's label space: mIoU is vs per-frame (no ground truth).")
if need_methods(s):
    ks = st.multiselect(
        "Intervals K", list(range(2, 16)), default=list(sources.profile().intervals), key="sweep_k"
    )
    run = st.button("Compute the missing evaluations", key="sweep_run", type="primary")
    try:
        table, missing = evaluations(s, s.methods, sorted(ks), compute=run)
    except InputError as exc:
        st.error(f"Cannot evaluate with this model: {exc}")
    else:
        if missing:
            st.info(
                f"{len(missing)} of {len(missing) + len(table)} evaluations are not computed yet "
                f"({', '.join(f'{m} K={k}' for m, k in missing[:6])}{' ...' if len(missing) > 6 else ''}). "
                "Press the button to run them with a progress bar (Stop interrupts between evaluations)."
            )
        if len(table):
            st.plotly_chart(charts.miou_vs_k(table), key="miou_k")
            c1, c2 = st.columns(2)
            c1.plotly_chart(
                charts.tradeoff(table, "gflops_avg", "GFLOPs per frame (K-average)"), key="t_flops"
            )
            c2.plotly_chart(charts.tradeoff(table, "fps", "FPS (model time)"), key="t_fps")
            st.caption(
                f"Labels are K. {FLOPS_UNIT}. Optical-flow baselines have no non-key GFLOPs (OpenCV DIS "
                "runs on the CPU; see Efficiency). FPS was measured by the run that computed each result."
            )
            st.dataframe(table, hide_index=True)
            st.download_button(
                "Table (CSV)", table.to_csv(index=False).encode(), "interval_sweep.csv", "text/csv"
            )
