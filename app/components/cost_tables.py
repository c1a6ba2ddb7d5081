"""Cost tables of the Efficiency page: GFLOPs per part (mpvss_core.flops / costs) and measured latency
per component (FrameResult timings of the cached predictions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import state
from mpvss_core.costs import method_gflops
from mpvss_core.flops import flop_breakdown


@st.cache_data(max_entries=64, show_spinner="Counting FLOPs ...")
def _breakdown(model_id: str, name: str, size: tuple[int, int], frame: str, _s: state.Settings) -> dict:
    return flop_breakdown(state.method(_s, name).model, size, frame)


@st.cache_data(max_entries=64, show_spinner="Counting FLOPs ...")
def _summary(model_id: str, name: str, size: tuple[int, int], k: int, _s: state.Settings) -> dict:
    return method_gflops(state.method(_s, name), size, k)


def flops(s: state.Settings, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-part rows [method, frame, part, gflops], summary rows [method, key, non-key, K-average, note])."""
    parts, summary = [], []
    for name in names:
        g = _summary(s.model_id, name, s.clip.size, s.interval, s)
        summary.append(
            {
                "method": name,
                "key": g["gflops_key"],
                "non-key": g["gflops_nonkey"],
                "K-average": g["gflops_avg"],
                "note": g["flops_note"],
            }
        )
        for part, v in _breakdown(s.model_id, name, s.clip.size, "key", s).items():
            if part != "total":
                parts.append({"method": name, "frame": "key", "part": part, "gflops": v})
        if name == "copy":
            continue
        if name == "per_frame":
            nonkey = {p["part"]: p["gflops"] for p in parts if p["method"] == name}
        elif g["gflops_nonkey_excl_flow"] is not None:  # classical flow: only the warp is counted
            nonkey = {"warp + semantic inference": g["gflops_nonkey_excl_flow"]}
        else:
            nonkey = _breakdown(s.model_id, name, s.clip.size, "non_key", s)
        parts += [
            {"method": name, "frame": "non-key", "part": p, "gflops": v}
            for p, v in nonkey.items()
            if p != "total"
        ]
    return pd.DataFrame(parts), pd.DataFrame(summary)


def latency(preds: dict[str, state.Prediction]) -> pd.DataFrame:
    """Median ms per component of key and non-key frames; the first key-frame cycle is warm-up."""
    rows = []
    for name, p in preds.items():
        t = p.table
        timed = t[t["key_index"] > 0] if (t["key_index"] > 0).any() else t
        for frame, sub in (("key", timed[timed["is_key"]]), ("non-key", timed[~timed["is_key"]])):
            if sub.empty:
                continue
            med = sub.median(numeric_only=True)
            if frame == "key":
                comp = {"segmenter + semantic inference": med["segment_ms"]}
            elif not np.isnan(med["flow_ms"]):
                comp = {
                    "classical flow (OpenCV DIS)": med["flow_ms"],
                    "warp + semantic inference": med["model_ms"] - med["flow_ms"],
                }
            elif not np.isnan(med["propagate_ms"]):
                comp = {"flow module + warp + semantic inference": med["propagate_ms"]}
            else:
                comp = {"copy labels": med["model_ms"]}
            comp["reading the frame"] = med["e2e_ms"] - med["model_ms"]
            rows += [
                {"method": name, "frame": frame, "part": k, "ms": max(float(v), 0.0)} for k, v in comp.items()
            ]
    return pd.DataFrame(rows, columns=["method", "frame", "part", "ms"])
