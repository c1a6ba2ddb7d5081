"""Cost tables of the Efficiency page, rendered here and decided in the library: GFLOPs per part
(`evaluation.costs.method_flop_parts`, by each method's cost rule in the method table) and measured
latency per component (the timed rows of the predictions' evaluations: the scorer's warm-up rule
decides which frames count)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import state
from mpvss_core.evaluation.costs import method_flop_parts, method_gflops


@st.cache_data(max_entries=64, show_spinner="Counting FLOPs ...")
def _parts(model_key: str, name: str, size: tuple[int, int], _s: state.Settings) -> list[dict]:
    return method_flop_parts(state.predictor(_s, name).model, name, size)


@st.cache_data(max_entries=64, show_spinner="Counting FLOPs ...")
def _summary(model_key: str, name: str, size: tuple[int, int], k: int, _s: state.Settings) -> dict:
    return method_gflops(state.predictor(_s, name).model, name, size, k)


def flops(s: state.Settings, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-part rows [method, frame, part, gflops], summary rows [method, key, non-key, K-average, note])."""
    parts, summary = [], []
    for name in names:
        key = s.spec.method_identity(name)
        g = _summary(key, name, s.clip.size, s.interval, s)
        summary.append(
            {
                "method": name,
                "key": g["gflops_key"],
                "non-key": g["gflops_nonkey"],
                "K-average": g["gflops_avg"],
                "note": g["flops_note"],
            }
        )
        parts += [{"method": name, **row} for row in _parts(key, name, s.clip.size, s)]
    return pd.DataFrame(parts), pd.DataFrame(summary)


def latency(preds: dict[str, state.Prediction]) -> pd.DataFrame:
    """Median ms per component of key and non-key frames over the timed frames (not the warm-up)."""
    rows = []
    for name, p in preds.items():
        t = p.table
        timed = t[t["timed"]] if t["timed"].any() else t
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
