"""Attention: where each flow query looks in the motion features, per decoder stage and scale, with the
flow queries initialised from the key frame's mask queries Q_O^k (query_flow) and without (noinit)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import state
from app.components import flow_panels
from app.components.header import page_header
from mpvss_core.viz import attention_heatmap

VARIANTS = {
    "query_flow": "with Q_O^k initialisation",
    "query_flow_noinit": "without (learned embedding only)",
}

s = page_header(
    "Attention",
    "The motion decoder's flow queries attend jointly to each other and to motion tokens of three scales "
    "(conv6, conv5, conv4 of the FlowNetS encoder), stage after stage. Maps are each normalised to their "
    "own peak.",
)
have = [v for v in VARIANTS if v in s.available]
nonkey = [i for i in range(s.clip.num_frames) if not s.schedule.is_key(i)]
missing = [v for v in VARIANTS if v not in s.available]
if missing:
    st.info(
        "Not in this model: "
        + "; ".join(f"{v} ({s.spec.unavailable.get(v, 'unavailable')})" for v in missing)
    )
if not have or not nonkey:
    st.warning("Attention maps need a learned query-flow method and a non-key frame.")
else:
    c1, c2 = st.columns([3, 2])
    if st.session_state.get("attn_frame") not in nonkey:
        st.session_state["attn_frame"] = nonkey[0]
    index = c1.select_slider("Non-key frame", nonkey, key="attn_frame")
    results = {v: state.frame_diagnostics(s, v, index) for v in have}
    ref = results[have[0]]
    winner = flow_panels.winner_queries(ref.mask_logits, ref.class_probs, ref.labels)
    table = flow_panels.queries(s, ref, winner)
    labels = {
        row.query: f"query {row.query} · {row.category} · {row.area_pct:.1f}%" for row in table.itertuples()
    }
    q = c2.selectbox(
        "Flow query (largest segment first)", list(labels), format_func=labels.get, key="attn_query"
    )
    frame = s.clip.frames[index]
    mass_rows = []
    for v, r in results.items():
        layers = r.attention or []
        st.subheader(f"{v}: {VARIANTS[v]}")
        if not layers:
            st.info("This method returned no attention maps.")
            continue
        # one row per decoder stage, one column per scale: the grid the layers run through (layer =
        # stage x scales + scale), labelled in page text (titles burnt into one picture were unreadable)
        scales = list(dict.fromkeys(a["scale"] for a in layers))
        stages = sorted({a["stage"] for a in layers})
        grid = {(a["stage"], a["scale"]): a for a in layers}
        head = st.columns([1] + [3] * len(scales))
        head[0].markdown("**stage**")
        for col, sc in zip(head[1:], scales, strict=True):
            a = next(x for x in layers if x["scale"] == sc)
            col.markdown(f"**{sc}** · {a['maps'].shape[2]}x{a['maps'].shape[1]} motion tokens (WxH)")
        for stage in stages:
            row = st.columns([1] + [3] * len(scales))
            row[0].markdown(f"**stage {stage + 1}**")
            for col, sc in zip(row[1:], scales, strict=True):
                a = grid.get((stage, sc))
                if a is not None:
                    share = float(a["motion_mass"][q])
                    col.image(
                        attention_heatmap(a["maps"][q], frame),
                        caption=f"layer {a['layer']} · stage {stage + 1} · {sc} · motion share {share:.2f}",
                        width="stretch",
                    )
        mass_rows += [
            {
                "variant": v,
                "layer": f"{a['layer']}: stage {a['stage'] + 1} · {a['scale']}",
                "motion share": float(a["motion_mass"][q]),
            }
            for a in layers
        ]
    if mass_rows:
        st.subheader("Share of attention on motion tokens (vs the other queries), layer by layer")
        st.caption("Each layer is one cell of the grids above: stage after stage, each scale in turn.")
        mass = pd.DataFrame(mass_rows)
        fig = px.line(
            mass, x="layer", y="motion share", color="variant", markers=True, height=360, range_y=[0, 1.02]
        )
        fig.update_xaxes(type="category", tickangle=-30, title=None)
        st.plotly_chart(fig, key="attn_mass")
