"""Attention: where each flow query looks in the motion features, per decoder stage and scale, with the
flow queries initialised from the key frame's mask queries Q_O^k (query_flow) and without (noinit)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import state
from app.components import flow_panels
from app.components.header import page_header
from mpvss_core.viz import attention_heatmap, tile_images

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
        scales = list(dict.fromkeys(a["scale"] for a in layers))
        st.subheader(f"{v}: {VARIANTS[v]}")
        if not layers:
            st.info("This method returned no attention maps.")
            continue
        images = [attention_heatmap(a["maps"][q], frame) for a in layers]
        titles = [
            f"stage {a['stage'] + 1} · {a['scale']} ({a['maps'].shape[1]}x{a['maps'].shape[2]})"
            for a in layers
        ]
        st.image(tile_images(images, titles, columns=len(scales)), width="stretch")
        mass_rows += [
            {
                "variant": v,
                "layer": a["layer"],
                "stage": a["stage"] + 1,
                "scale": a["scale"],
                "motion share": float(a["motion_mass"][q]),
            }
            for a in layers
        ]
    if mass_rows:
        st.subheader("Share of attention on motion tokens (vs the other queries)")
        mass = pd.DataFrame(mass_rows)
        fig = px.line(
            mass,
            x="layer",
            y="motion share",
            color="variant",
            markers=True,
            hover_data=["stage", "scale"],
            height=320,
            range_y=[0, 1.02],
        )
        st.plotly_chart(fig, key="attn_mass")
