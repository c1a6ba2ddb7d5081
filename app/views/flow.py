"""Flow explorer: query-based, pixel-wise, fused and exact flow of a non-key frame on one colour scale,
and one query's flow, warped mask and end-point error (pick it in the list or click its segment)."""

from __future__ import annotations

import streamlit as st

from app import state
from app.components import charts, flow_panels, legend
from app.components.frames import show_grid
from app.components.header import page_header
from app.selection import query_from_selection
from mpvss_core.methods import method_spec
from mpvss_core.viz import colour_wheel_legend

s = page_header(
    "Flow explorer",
    "Flow from the current frame back to its key frame, in frame pixels. MPVSS predicts one flow per mask "
    "query (query-based), refines it with a pixel-wise flow and fuses the two; the synthetic clips also "
    "have the exact flow.",
)
learned = [m for m in s.available if not method_spec(m).segmenter_only]
nonkey = [i for i in range(s.clip.num_frames) if not s.schedule.is_key(i)]
if not learned:
    st.warning("This model has no trained flow module: only learned methods have query-based flows.")
elif not nonkey:
    st.warning("The clip has no non-key frame at this K.")
else:
    preferred = [m for m in s.methods if m in learned] or learned
    c1, c2 = st.columns([1, 3])
    name = c1.selectbox("Method", learned, index=learned.index(preferred[0]), key="flow_method")
    if st.session_state.get("flow_frame") not in nonkey:
        st.session_state["flow_frame"] = nonkey[0]
    index = c2.select_slider("Non-key frame", nonkey, key="flow_frame")
    r = state.frame_diagnostics(s, name, index)
    ff = flow_panels.frame_flows(s, r)
    left, right = st.columns([4, 1])
    modes = flow_panels.SCALES
    mode = left.radio(
        "Colour scale", list(modes), format_func=modes.get, horizontal=True, key="flow_scale_mode"
    )
    if mode == "manual":
        start = flow_panels.clip_scale(s.digest, s.interval, s) or 10.0  # one start for every frame
        scale = left.number_input(
            "Flow magnitude (px) at full saturation", min_value=0.1, value=round(float(start), 1), step=0.5
        )
        what = "set by hand"
    else:
        scale, what = flow_panels.colour_scale(s, ff, mode)
    left.caption(
        f"**Colour saturates at {scale:.1f} px** ({what}). Frame {index}, propagated "
        f"{index - r.key_index} frame{'s' * (index - r.key_index != 1)} from key frame {r.key_index}. "
        "EPE: end-point error against the exact flow at its valid pixels."
    )
    right.image(colour_wheel_legend(120, scale), caption="hue = direction, saturation = magnitude", width=120)
    images = flow_panels.flow_images(ff, scale)
    show_grid(images, columns=3)

    st.subheader("One query")
    table = flow_panels.queries(s, r, ff.winner)
    ids = table["query"].tolist()
    if st.session_state.get("flow_query") not in ids:
        st.session_state["flow_query"] = ids[0]

    def _pick() -> None:
        q = query_from_selection(st.session_state.get("segments"), set(ids))
        if q is not None:
            st.session_state["flow_query"] = q

    labels = {
        row.query: f"query {row.query} · {row.category} · {row.area_pct:.1f}% of the frame"
        for row in table.itertuples()
    }
    left, right = st.columns([2, 3])
    q = left.selectbox("Query (largest segment first)", ids, format_func=labels.get, key="flow_query")
    left.dataframe(
        table,
        hide_index=True,
        height=240,
        column_config={"area_pct": st.column_config.NumberColumn("area %", format="%.1f")},
    )
    with right:
        st.caption("Click a segment to pick its query")
        fig = charts.segment_picker(flow_panels.segments_image(s, r, ff.winner), ff.winner, step=8)
        st.plotly_chart(fig, key="segments", on_select=_pick, selection_mode="points")
        legend.show(st, legend.query_segments(ff.winner, table))
    show_grid(flow_panels.query_images(s, r, ff, int(q), scale), columns=3)
