"""Efficiency: GFLOPs of key and non-key frames per part, and the measured latency per component."""

from __future__ import annotations

import streamlit as st

from app import state
from app.components import charts, cost_tables
from app.components.header import need_methods, page_header
from mpvss_core.evaluation.costs import FLOPS_UNIT

s = page_header(
    "Efficiency",
    "A key frame runs the Mask2Former segmenter; a non-key frame runs only the flow module (or classical "
    "flow), warps the key frame's masks and reuses its classes.",
)
if need_methods(s):
    parts, summary = cost_tables.flops(s, s.methods)
    st.subheader(f"GFLOPs per frame at {s.clip.size[1]}x{s.clip.size[0]}")
    st.plotly_chart(charts.stacked(parts, "gflops", "GFLOPs"), key="flops_parts")
    st.dataframe(summary, hide_index=True)
    st.caption(f"{FLOPS_UNIT}. K-average = (key + (K-1) x non-key) / K at K = {s.interval}.")

    preds = state.predictions(s, s.methods)
    if preds:
        lat = cost_tables.latency(preds)
        st.subheader("Latency per component (median ms)")
        st.plotly_chart(charts.stacked(lat, "ms", "ms per frame"), key="latency_parts")
        device = next(iter(preds.values())).result.summary.get("device", s.device)
        st.caption(
            f"Measured on {device} by the run that predicted this clip (batch 1; the first key-frame cycle "
            "is warm-up and excluded). On a shared CPU the numbers vary from run to run."
        )
        st.dataframe(lat.pivot_table(index=["method", "frame"], columns="part", values="ms").round(1))
