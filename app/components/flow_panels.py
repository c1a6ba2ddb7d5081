"""Flow pictures of one non-key frame: frame-level query-based / pixel-wise / fused / exact flow on one
colour scale, and one query's flow, warped mask and error (data from `state.frame_diagnostics`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app import state
from mpvss_core.frame_result import FrameResult
from mpvss_core.labels import generic_class_names, palette_for
from mpvss_core.metrics import flow_epe
from mpvss_core.viz import apply_colormap, flow_scale, flow_to_rgb, overlay_labels
from mpvss_core.viz.query_maps import grid_flow_to_frame, query_mask_probs, query_table, winner_queries


@dataclass
class FrameFlows:
    """Flows of one predicted frame in frame pixels (current -> key), per query and frame-level."""

    winner: np.ndarray  # HxW query ids
    per_query: np.ndarray | None  # QxHxWx2 query-based flow of every query (None: pixel_flow only)
    maps: dict[str, np.ndarray]  # name -> HxWx2 frame-level flow
    exact: tuple[np.ndarray, np.ndarray] | None  # (flow, valid) when the clip has exact flow


def frame_flows(s: state.Settings, r: FrameResult) -> FrameFlows:
    size = s.clip.size
    winner = winner_queries(r.mask_logits, r.class_probs, r.labels)
    maps: dict[str, np.ndarray] = {}
    per_query = None
    if r.query_flow is not None:
        per_query = np.stack([grid_flow_to_frame(f, size) for f in r.query_flow])
        maps["query-based"] = np.take_along_axis(per_query, winner[None, ..., None], axis=0)[0]
    if r.pixel_flow is not None:
        maps["pixel-wise"] = grid_flow_to_frame(r.pixel_flow, size)
    if r.flow is not None:
        maps["fused (used for warping)"] = r.flow
    exact = s.clip.flow(r.index, r.key_index) if s.clip.has_flow else None
    return FrameFlows(winner, per_query, maps, exact)


@st.cache_data(max_entries=8, show_spinner=False)
def clip_scale(digest: str, interval: int, _s: state.Settings) -> float | None:
    """One colour scale for the whole clip: the 99th percentile of its exact flows to their key frames."""
    clip = _s.clip
    if not clip.has_flow:
        return None
    schedule = _s.schedule  # the clip's own schedule says which frame propagates from which key
    keys = [(i, schedule.key_of(i)) for i in range(clip.num_frames) if not schedule.is_key(i)]
    pairs = [clip.flow(i, k) for i, k in keys[:: max(1, len(keys) // 6)]]  # a few frames suffice
    return flow_scale([f for f, _ in pairs], [v for _, v in pairs])


SCALES = {
    "clip": "Whole clip (fixed)",
    "frame": "This frame",
    "manual": "Manual",
}


def frame_scale(ff: FrameFlows) -> float:
    """The colour scale of this frame alone: the 99th percentile of its flows' magnitudes (a small flow,
    e.g. one frame from its key frame, then fills the colour range instead of staying nearly white)."""
    flows, valid = list(ff.maps.values()), [None] * len(ff.maps)
    if ff.exact is not None:
        flows.append(ff.exact[0])
        valid.append(ff.exact[1])
    return flow_scale(flows, valid)


def colour_scale(s: state.Settings, ff: FrameFlows, mode: str) -> tuple[float, str]:
    """(scale in px, what it is) of a `SCALES` mode other than "manual": the whole clip's scale comes
    from its exact flows; a clip without them (an upload) has only this frame's flows to go by."""
    if mode == "clip":
        auto = clip_scale(s.digest, s.interval, s)
        if auto is not None:
            return auto, "fixed for the clip: 99th percentile of its exact flows"
        return frame_scale(ff), "this frame's: the clip has no exact flow to fix one for the whole clip"
    return frame_scale(ff), "this frame's: 99th percentile of its flows"


def epe(
    flow: np.ndarray, exact: tuple[np.ndarray, np.ndarray] | None, where: np.ndarray | None = None
) -> str:
    """End-point error (px) against the exact flow at its valid pixels (and `where`), as text."""
    if exact is None:
        return ""
    valid = exact[1] if where is None else exact[1] & where
    if not valid.any():
        return " · EPE n/a"
    return f" · EPE {flow_epe(flow, exact[0], valid):.2f} px"


def flow_images(ff: FrameFlows, scale: float) -> list[tuple[np.ndarray, str]]:
    """(colour image, caption with EPE) of each frame-level flow and of the exact flow."""
    out = [(flow_to_rgb(f, scale), name + epe(f, ff.exact)) for name, f in ff.maps.items()]
    if ff.exact is not None:
        flow, valid = ff.exact
        out.append((flow_to_rgb(np.where(valid[..., None], flow, np.nan), scale), "exact (grey: occluded)"))
    return out


def segments_image(s: state.Settings, r: FrameResult, winner: np.ndarray) -> np.ndarray:
    """The frame with each query's segment (where it wins) in its own colour."""
    q = int(r.mask_logits.shape[0])
    return overlay_labels(
        s.clip.frames[r.index], winner, palette_for(generic_class_names(q)), 0.55, boundaries=True
    )


def queries(s: state.Settings, r: FrameResult, winner: np.ndarray):
    """The query table (largest segment first, then class)."""
    return query_table(winner, r.class_probs, s.class_names)


def query_images(s: state.Settings, r: FrameResult, ff: FrameFlows, q: int, scale: float) -> list[tuple]:
    """One query: its flow map, its warped mask (probability) and the mask over the frame."""
    out = []
    seg = ff.winner == q
    if ff.per_query is not None:
        out.append(
            (flow_to_rgb(ff.per_query[q], scale), f"flow of query {q}" + epe(ff.per_query[q], ff.exact, seg))
        )
    prob = query_mask_probs(r.mask_logits[q : q + 1], s.clip.size)[0]
    out.append((apply_colormap(prob), f"warped mask of query {q} (probability)"))
    mask_labels = np.where(prob > 0.5, 0, 255).astype(np.uint8)
    out.append(
        (
            overlay_labels(s.clip.frames[r.index], mask_labels, np.array([[255, 60, 60]], np.uint8), 0.6),
            "mask > 0.5 over the frame",
        )
    )
    return out
