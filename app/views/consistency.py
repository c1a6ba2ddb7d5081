"""Video consistency: mVC_8 and mVC_16 (and mIoU) of each method at the current K, from evaluations of
the clip; and the VC_8 of every window of the clip from the cached predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from app import state
from app.components import charts
from app.components.header import need_methods, page_header
from app.evaluations import evaluations
from mpvss_core.errors import InputError
from mpvss_core.metrics import VC_MIN_LENGTH, video_consistency

s = page_header(
    "Video consistency",
    "VC_n: of the pixels whose ground truth stays the same over n consecutive frames, the share whose "
    f"prediction stays the same too (VSPW convention: clips of {VC_MIN_LENGTH} frames or fewer are skipped, "
    "window starts range(L - n)). It measures stability, not correctness.",
)
if not s.scored:
    st.info("This clip has no ground truth in the model's label space: VC cannot be measured.")
elif need_methods(s):
    if s.clip.num_frames <= VC_MIN_LENGTH:
        st.warning(
            f"The clip has {s.clip.num_frames} frames: mVC needs more than {VC_MIN_LENGTH}. "
            "Choose a longer clip (the built-in clips have 20 frames by default)."
        )
    try:
        table, missing = evaluations(s, s.methods, [s.interval], compute=True)
    except InputError as exc:
        st.error(f"Cannot evaluate with this model: {exc}")
    else:
        if len(table):
            tidy = table.melt(id_vars=["method"], value_vars=["mvc8", "mvc16", "miou"], var_name="metric")
            tidy["metric"] = tidy["metric"].map({"mvc8": "mVC_8", "mvc16": "mVC_16", "miou": "mIoU"})
            st.plotly_chart(charts.grouped(tidy.dropna(), "value", "%"), key="vc_bars")
            st.dataframe(table[["method", "K", "mvc8", "mvc16", "miou", "num_frames"]], hide_index=True)
        preds = state.predictions(s, s.methods)
        if preds and s.clip.num_frames > VC_MIN_LENGTH:
            rows = []
            for name, p in preds.items():
                vcs = video_consistency(s.clip.labels, p.labels, 8, per_window=True)
                rows += [{"method": name, "window start": i, "VC_8 (%)": 100 * v} for i, v in enumerate(vcs)]
            if rows:
                st.subheader("VC_8 of each 8-frame window")
                fig = px.line(
                    pd.DataFrame(rows),
                    x="window start",
                    y="VC_8 (%)",
                    color="method",
                    markers=True,
                    height=320,
                )
                st.plotly_chart(fig, key="vc_windows")
                st.caption(
                    "Mean over windows per method: "
                    + ", ".join(
                        f"{m} {np.nanmean([r['VC_8 (%)'] for r in rows if r['method'] == m]):.1f}"
                        for m in preds
                    )
                )
