"""Reproduce: every artifact of the `analysis` package (the paper's tables and figures) beside the
paper's numbers; precomputed results (assets/results) show at once, and any can be re-run live on a
small subset with a progress bar (Stop cancels: the progress callback is where the run is interrupted)."""

from __future__ import annotations

import streamlit as st

from analysis import store as artifact_store
from analysis.artifacts import ARTIFACTS, TITLES
from analysis.common import ReproContext
from app import sources, state
from app.components.header import page_header
from mpvss_core.errors import InputError

s = page_header(
    "Reproduce the paper",
    "Each artifact regenerates one table or figure of the paper (supplementary A-E and the consistency "
    "table) with our models on the built-in benchmark, next to the paper's numbers.",
)


def _precomputed(name: str):
    """The artifact stored in assets/results by `mpvss reproduce`, or None."""
    try:
        return artifact_store.load_artifact(name)
    except Exception as exc:  # a damaged stored result must not break the page
        st.warning(f"Stored result of {name} is unreadable: {exc}")
        return None


def _show(art, origin: str) -> None:
    st.caption(origin)
    if art.setting:
        st.caption(" · ".join(f"{k}: {v}" for k, v in art.setting.items()))
    for finding in art.findings:
        st.markdown(f"- {finding}")
    for key, fig in art.figures.items():
        st.plotly_chart(fig, key=f"fig_{art.name}_{key}")
    for key, table in art.tables.items():
        st.markdown(f"**{key}**")
        st.dataframe(table, hide_index=True)
        st.download_button(
            f"{key}.csv",
            table.to_csv(index=False).encode(),
            f"{key}.csv",
            "text/csv",
            key=f"csv_{art.name}_{key}",
        )


names = list(ARTIFACTS)
stored = {n: _precomputed(n) for n in names}
name = st.selectbox(
    "Artifact",
    names,
    format_func=lambda n: f"{TITLES.get(n, n)}{'' if stored[n] is not None else '  (not precomputed)'}",
    key="repro_artifact",
)
live = st.session_state.setdefault("repro_live", {})

with st.expander("Re-run live", expanded=stored[name] is None):
    prof = sources.profile()
    c1, c2, c3 = st.columns(3)
    clips = c1.number_input("Clips of synthetic:val", 1, 16, 1, key="repro_clips")
    frames = c2.number_input(
        "Frames per clip (mVC needs > 16)", 2, 30, 8 if prof.test else 18, key="repro_frames"
    )
    c3.caption(f"Model `{s.spec.label}` on {s.device} (sidebar). Stored evaluations are reused.")
    if st.button("Run", key="repro_run", type="primary") and not state.stop_requested():
        bar = st.progress(0.0, text=f"{name}: starting ...")
        state.stop_button("stop_repro")

        def progress(fraction: float, message: str) -> None:
            bar.progress(fraction, text=f"{name}: {message}")  # a Stop click interrupts here

        ctx = ReproContext(
            model=s.spec, max_clips=int(clips), max_frames=int(frames), device=s.device, progress=progress
        )
        try:
            live[name] = ARTIFACTS[name](ctx)
        except InputError as exc:
            st.error(f"{name} cannot run with this setting: {exc}")
        except Exception as exc:  # an artifact's bug must not take the app down
            st.error(f"{name} failed: {type(exc).__name__}: {exc}")
        bar.empty()
    elif state.stop_requested():
        state.stopped_notice("the live run")

if name in live:
    _show(live[name], "Live run (this session)")
elif stored[name] is not None:
    _show(stored[name], "Precomputed (assets/results)")
else:
    st.info("Not precomputed yet: re-run it live above.")
