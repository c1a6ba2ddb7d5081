"""Compare methods: synchronised overlays with class legends and a frame scrubber, the look controls
(opacity, class filter, error view, two-method difference view), the per-frame mIoU timeline (click a
point to jump to its frame), distance to the key frame, H.264 / label-PNG zip / CSV export."""

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


VIEWS = ("Overlay", "Errors", "Difference")


def _keep_valid(key: str, options: list[str], many: bool = False) -> None:
    """Drop the widget `key`'s remembered choice(s) that are not among `options`."""
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if many:
        st.session_state[key] = [v for v in value if v in options]
    elif value not in options:
        del st.session_state[key]


def _views(preds: dict[str, state.Prediction], index: int) -> None:
    """The look controls and the panels of frame `index` in the chosen view."""
    c1, c2, c3 = st.columns([2, 2, 3])
    view = c1.radio("View", VIEWS, horizontal=True, key="cmp_view")
    alpha = c2.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="cmp_alpha")
    names = list(dict.fromkeys([*s.model_class_names, *(s.clip.class_names if s.has_ground_truth else ())]))
    # choices of an earlier clip or model that this one does not offer would make the widgets raise
    _keep_valid("cmp_classes", names, many=True)
    chosen = c3.multiselect(
        "Show only these classes (none chosen: all)",
        names,
        key="cmp_classes",
        disabled=view != "Overlay",
        help="The other classes' pixels are drawn as the plain frame.",
    )
    if view == "Overlay":
        look = frames.Look(alpha, frozenset(chosen) if chosen else None)
        frames.show_grid(frames.panels(s, preds, index, look))
    elif view == "Errors":
        kind, truth, lut = frames.error_reference(s, index)
        if kind == "labels":
            st.caption(
                f"Each method's pixels against the ground truth of frame {index}"
                + (f" ({s.reference.describe()})" if s.reference.match else "")
                + ": correct, wrong, or ignored (no label there)."
            )
        else:
            ref = preds.get("per_frame") or state.predictions(s, ["per_frame"]).get("per_frame")
            if ref is None:
                st.info("The error view needs the per_frame prediction (the reference of this clip).")
                return
            truth, lut = ref.labels[index], None
            why = "this frame has no ground truth" if s.has_ground_truth else "the clip has no ground truth"
            st.caption(
                f"Against the reference, per_frame ({why} in the model's label space): wrong = a different "
                "class than the segmenter run on this frame gives; per_frame itself is all correct."
            )
        frames.show_grid(frames.error_panels(s, preds, index, truth, lut, alpha))
    else:
        methods = list(preds)
        if len(methods) < 2:
            st.info("The difference view needs two methods: choose another in the sidebar.")
            return
        d1, d2 = st.columns(2)
        _keep_valid("diff_a", methods)
        _keep_valid("diff_b", methods)
        a = d1.selectbox("Method A", methods, index=0, key="diff_a")
        b = d2.selectbox("Method B", methods, index=1, key="diff_b")
        look = frames.Look(alpha)
        items = frames.panels(s, {m: preds[m] for m in dict.fromkeys([a, b])}, index, look)
        items = [it for it in items if it[1] != "ground truth"]
        frames.show_grid([*items, frames.difference_panel(s, preds[a], preds[b], index, alpha)])
        st.caption(
            "Right: the frame in grey, the pixels where the two methods give different classes in magenta."
        )


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
        _views(preds, index)

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
        c1, c2, c3 = st.columns(3)
        csv = table.to_csv(index=False).encode()
        c1.download_button("Per-frame numbers (CSV)", csv, f"{s.clip.name}_K{s.interval}.csv", "text/csv")
        zip_key = (s.spec.identity, s.digest, s.interval, tuple(preds))
        if c3.button("Prepare the label PNGs (zip)", key="render_zip"):
            st.session_state["label_zip"] = (zip_key, frames.label_pngs_zip(s, preds))
        packed = st.session_state.get("label_zip")
        if packed and packed[0] == zip_key:
            c3.download_button(
                "Download label PNGs (zip)",
                packed[1],
                f"{s.clip.name}_K{s.interval}_labels.zip",
                "application/zip",
            )
            c3.caption("One PNG per frame per method; pixel value = class id (classes.json: names, colours).")
        if c2.button("Render the side-by-side video (H.264)", key="render_video"):
            key = (s.spec.identity, s.digest, s.interval, tuple(preds))
            st.session_state["video"] = (key, frames.side_by_side_video(key, s, preds))
        video = st.session_state.get("video")
        if video and video[0] == (s.spec.identity, s.digest, s.interval, tuple(preds)):
            c2.download_button("Download MP4", video[1], f"{s.clip.name}_K{s.interval}.mp4", "video/mp4")
            st.video(video[1], format="video/mp4")
