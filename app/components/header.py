"""Page header: title, what is being looked at, and every warning about it (random weights, caps,
errors of the sidebar)."""

from __future__ import annotations

import streamlit as st

from app import state


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
    gt = "with ground truth" if s.has_ground_truth else "no ground truth: scores are vs per-frame"
    st.caption(
        f"Clip **{clip.name}** ({clip.source or 'built-in'}): {clip.num_frames} frames, "
        f"{clip.size[1]}x{clip.size[0]}, {gt} · model `{s.spec.label}` on {s.device} · K = {s.interval}"
    )
    for note in s.notes:
        st.info(note)
    return s


def need_methods(s: state.Settings) -> bool:
    """False (and a hint) when no method is chosen."""
    if not s.methods:
        st.info("Choose methods in the sidebar.")
        return False
    return True
