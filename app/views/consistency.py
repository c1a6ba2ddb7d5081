"""Video consistency: mVC_8 and mVC_16 (and mIoU) of each method at the current K, and the VC_8 of
every window of the clip, all from the same stored evaluations of the clip (the library's scorer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from app.components import charts
from app.components.header import need_methods, page_header
from app.evaluations import results
from mpvss_core.errors import InputError
from mpvss_core.metrics import VC_MIN_LENGTH

s = page_header(
    "Video consistency",
    "VC_n: of the pixels whose ground truth stays the same over n consecutive frames, the share whose "
    f"prediction stays the same too (VSPW convention: clips of {VC_MIN_LENGTH} frames or fewer are skipped, "
    "window starts range(L - n)). It measures stability, not correctness. TC: the IoU of each frame's "
    "prediction with the next frame's prediction warped back by optical flow (DIS), needing no labels.",
)
if not s.has_ground_truth:
    st.info(
        "No ground truth in the model's label space: VC is measured vs per-frame (no ground truth): of "
        "the pixels where the per-frame prediction stays the same, the share where the method's does too. "
        "TC needs no labels at all."
    )
if need_methods(s):
    if s.clip.num_frames <= VC_MIN_LENGTH:
        st.warning(
            f"The clip has {s.clip.num_frames} frames: mVC needs more than {VC_MIN_LENGTH}. "
            "Choose a longer clip (the built-in clips have 20 frames by default)."
        )
    try:
        found, missing = results(s, s.methods, [s.interval], compute=True)
    except InputError as exc:
        st.error(f"Cannot evaluate with this model: {exc}")
    else:
        shown = ["mvc8", "mvc16", "tc", "miou", "reference", "num_frames"]
        rows = [{"method": m, "K": k, **{c: r.summary.get(c) for c in shown}} for (m, k), r in found.items()]
        table = pd.DataFrame(rows, columns=["method", "K", *shown])
        if len(table):
            names = {"mvc8": "mVC_8", "mvc16": "mVC_16", "tc": "TC", "miou": "mIoU"}
            tidy = table.melt(id_vars=["method"], value_vars=list(names), var_name="metric")
            tidy["metric"] = tidy["metric"].map(names)
            tidy["value"] = pd.to_numeric(tidy["value"], errors="coerce")
            st.plotly_chart(charts.grouped(tidy.dropna(), "value", "%"), key="vc_bars")
            st.dataframe(table, hide_index=True)
        # every window's VC as the scorer measured it (the same evaluations as the bars)
        windows = [
            r.windows[r.windows["n"] == 8].assign(method=m) for (m, _), r in found.items() if len(r.windows)
        ]
        if windows:
            tidy_w = pd.concat(windows, ignore_index=True).rename(
                columns={"start": "window start", "vc": "VC_8 (%)"}
            )
            st.subheader("VC_8 of each 8-frame window")
            fig = px.line(tidy_w, x="window start", y="VC_8 (%)", color="method", markers=True, height=320)
            charts.colour_methods(fig)
            st.plotly_chart(fig, key="vc_windows")
            means = tidy_w.groupby("method", sort=False)["VC_8 (%)"].apply(lambda v: np.nanmean(v))
            st.caption("Mean over windows per method: " + ", ".join(f"{m} {v:.1f}" for m, v in means.items()))
