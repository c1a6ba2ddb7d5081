"""Page header: title, what is being looked at, and every warning about it, each in one place: errors of
the sidebar, random weights, the model's training domain and what the scores mean on this clip (the
banner), and what decoding changed or found in the clip's frames (one warning box, sizes as WxH)."""

from __future__ import annotations

import streamlit as st

from app import sources, state
from app.components.sidebar import STAGE0_SWITCH
from mpvss_core.methods import method_spec


def page_header(title: str, intro: str) -> state.Settings:
    """Title + one-line intro + the current settings' warnings; returns the settings."""
    s = state.settings()
    st.title(title)
    st.caption(intro)
    for err in s.errors:
        st.error(err)
    if s.random_weights:
        st.warning("Model: tiny preset with RANDOM weights - the numbers only show shapes and costs.")
    untrained = [m for m in s.methods if s.spec.entry(m).untrained]
    if untrained:
        st.warning(
            f"UNTRAINED flow module (asked for in the sidebar): {', '.join(untrained)} - their results show "
            "what an untrained module does, not the method."
        )
    clip = s.clip
    h, w = clip.size
    gt = "with ground truth" if s.has_ground_truth else "no ground truth: scores are vs per-frame"
    st.caption(
        f"Clip **{clip.name}** ({clip.source or 'built-in'}): {clip.num_frames} frames, "
        f"{w}x{h}, {gt} · model `{s.spec.label}` on {s.device} · K = {s.interval}"
    )
    text = banner(s)
    if text:
        st.info(text)
    warnings = sources.clip_warnings(clip)
    if warnings:
        st.warning("**The clip's frames**\n" + "".join(f"\n- {n}" for n in warnings))
    return s


def banner(s: state.Settings) -> str:
    """What the user must know before reading a score (markdown; "" when nothing): the model's training
    domain (on a clip that is not a built-in one, or has no ground truth), what the scores are on a
    clip without ground truth, the stage-0 key-heads switch where it changes the picture, and how the
    clip's labels were matched to the model's classes."""
    parts = []
    domain = sources.training_domain(s.spec)
    if domain and (not sources.is_builtin(s.clip) or not s.has_ground_truth):
        parts.append(
            f"**Model domain**: `{s.spec.label}` was trained on {domain}. On other footage its classes can "
            "be wrong (a path labelled as road or car): look at the overlays before reading any score."
        )
    if not s.has_ground_truth:
        parts.append(
            "**Scores on this clip**: it has no ground truth in the model's label space, so every score "
            "is vs per-frame: the **agreement with per_frame** (the model's own per-frame prediction), "
            "not accuracy. per_frame is the reference (100 by definition), and a method that copies a "
            "wrong per-frame segmentation well scores high."
        )
        learned = [m for m in s.methods if not method_spec(m).segmenter_only]
        if s.spec.key_heads == "stage0":
            parts.append(
                f"Key frames use the stage-0 heads (sidebar: *{STAGE0_SWITCH}*): on key frames the learned "
                "methods equal per_frame, so their scores measure propagation alone."
            )
        elif s.spec.kind == "bundle" and learned:
            parts.append(
                f"{', '.join(learned)} segment key frames with the heads retrained in stage 1, so they "
                f"disagree with per_frame even on key frames; the sidebar's *{STAGE0_SWITCH}* switch makes "
                "key frames exactly per_frame, so the agreement measures propagation alone."
            )
    clip_notes = set(s.clip.notes)
    parts += [n for n in s.notes if n not in clip_notes]  # the sidebar's label-matching notes
    return "\n\n".join(parts)


def need_methods(s: state.Settings) -> bool:
    """False (and a hint) when no method is chosen."""
    if not s.methods:
        st.info("Choose methods in the sidebar.")
        return False
    return True
