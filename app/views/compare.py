"""Compare methods: synchronised overlays with a frame scrubber, the per-frame mIoU timeline (click a
point to jump to its frame), distance to the key frame, H.264 and CSV export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import state
from app.components import charts, frames
from app.components.header import need_methods, page_header
from app.selection import frame_from_selection, selection_signature

s = page_header(
    "Compare methods",
    "Every method segments the same key frames with the segmenter (the learned methods with the heads "
    "stage 1 retrained beside their flow module, unless the sidebar's stage-0 key-frame heads are on); "
    "in between, each propagates them in its own way. Scrub through the clip or click a point of the "
    "timeline.",
)


def _jump_to_selection() -> None:
    """A new click on the timeline moves the frame slider to the clicked frame.

    Runs at the top of the page, before the slider exists (so its value can still be set): the
    chart's selection from the click is already in session_state on this rerun. Only a selection not
    seen before moves the slider, so moving the slider afterwards is not undone by the old click.
    """
    event = st.session_state.get("timeline")
    seen = selection_signature(event)
    if seen == st.session_state.get("_timeline_seen"):
        return
    st.session_state["_timeline_seen"] = seen
    frame = frame_from_selection(event, s.clip.num_frames)
    if frame is not None:
        st.session_state["frame"] = frame


if need_methods(s):
    preds = state.predictions(s, s.methods)
    if preds:
        n = s.clip.num_frames
        if st.session_state.get("frame", 0) >= n:  # a shorter clip was loaded
            st.session_state["frame"] = 0
        _jump_to_selection()
        index = st.slider("Frame", 0, n - 1, key="frame")
        table = pd.concat([p.table for p in preds.values()], ignore_index=True)
        here = table[table["frame"] == index]
        # the key frame, as the propagating methods' results say (per_frame makes every frame a key)
        propagated = here[here["method"] != "per_frame"]
        key = int(propagated["key_index"].iloc[0]) if len(propagated) else s.schedule.key_of(index)
        cols = st.columns(2 + min(len(preds), 4))
        cols[0].metric(f"Key frame (K = {s.interval})", key)
        cols[1].metric("Distance to key frame", index - key)
        for col, (_, row) in zip(cols[2:], here.iterrows(), strict=False):
            col.metric(f"mIoU {row['method']}", "-" if np.isnan(row["miou"]) else f"{row['miou']:.1f}")
        frames.show_grid(frames.panels(s, preds, index))

        ref = s.reference
        st.subheader("Per-frame mIoU" + ("" if ref.kind == "labels" else " vs per-frame (no ground truth)"))
        st.caption(
            f"Scores {ref.describe()}."
            + (
                ""
                if ref.kind == "labels"
                else " Without labels, a method's mIoU says how much of the full model's output it keeps; "
                "per_frame is 100 by definition."
            )
        )
        keys = sorted(table.loc[table["is_key"] & (table["method"] != "per_frame"), "frame"].unique())
        fig = charts.timeline(table, index, [int(k) for k in keys])
        st.plotly_chart(fig, key="timeline", on_select="rerun", selection_mode="points")

        st.subheader("Export")
        c1, c2 = st.columns(2)
        csv = table.to_csv(index=False).encode()
        c1.download_button("Per-frame numbers (CSV)", csv, f"{s.clip.name}_K{s.interval}.csv", "text/csv")
        if c2.button("Render the side-by-side video (H.264)", key="render_video"):
            key = (s.spec.identity, s.digest, s.interval, tuple(preds))
            st.session_state["video"] = (key, frames.side_by_side_video(key, s, preds))
        video = st.session_state.get("video")
        if video and video[0] == (s.spec.identity, s.digest, s.interval, tuple(preds)):
            c2.download_button("Download MP4", video[1], f"{s.clip.name}_K{s.interval}.mp4", "video/mp4")
            st.video(video[1], format="video/mp4")
