"""Evaluations of the current clip through `mpvss_core.eval_runner` (its results store caches them by
content hash: model weights, clip identity, method, schedule), with progress and Stop.

The clip is wrapped as a one-clip `DataSet` whose identity is the clip's content hash, so the same
clip evaluated again (in any session, after a restart) is read back from the store.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from app import state
from mpvss_core.eval_data import ClipEntry, DataSet
from mpvss_core.eval_runner import evaluation_key, run_evaluation
from mpvss_core.results import ResultStore
from mpvss_core.schedules import ScheduleSpec

COLUMNS = [
    "method",
    "interval",
    "miou",
    "wiou",
    "mvc8",
    "mvc16",
    "gflops_key",
    "gflops_nonkey",
    "gflops_avg",
    "fps",
    "fps_e2e",
    "latency_key_ms",
    "latency_nonkey_ms",
    "num_frames",
]


def clip_dataset(s: state.Settings) -> DataSet:
    clip = s.clip
    entry = ClipEntry(clip.name, lambda: clip, f"app-clip:{s.digest}", "rendered")
    return DataSet(f"app:{clip.name}", [entry])


def _key(s: state.Settings, data: DataSet, method: str, k: int) -> str:
    return evaluation_key(s.model, data, method, ScheduleSpec(k), s.device, 0, False)[0]


def evaluations(
    s: state.Settings, methods: Iterable[str], intervals: Iterable[int], compute: bool
) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Summaries of (method, K) evaluations of the clip; with `compute`, the missing ones are run.

    Returns:
        (table with COLUMNS, the (method, K) pairs still missing).
    Raises:
        InputError: the model cannot be evaluated (e.g. a Hugging Face folder is not a zoo model).
    """
    data, store = clip_dataset(s), ResultStore()  # the CLI's store ($MPVSS_RESULTS)
    pairs = [(m, int(k)) for m in methods for k in intervals]
    rows, missing = [], []
    for m, k in pairs:
        cached = store.load(_key(s, data, m, k))
        if cached is None:
            missing.append((m, k))
        else:
            rows.append(cached.summary)
    if compute and missing and not state.stop_requested():
        box = st.empty()
        with box.container():
            bar = st.progress(0.0, text="Starting ...")
            state.stop_button("stop_eval")
        todo = list(missing)
        for j, (m, k) in enumerate(todo):
            # the update is where a Stop click interrupts the sweep (between two evaluations)
            bar.progress(j / len(todo), text=f"Evaluating {m} at K={k} ({j + 1}/{len(todo)}) ...")
            result = run_evaluation(
                s.model, data, m, ScheduleSpec(k), device=s.device, store=store, flow_epe=False
            )
            rows.append(result.summary)
            missing.remove((m, k))
        box.empty()
    elif compute and missing:
        state.stopped_notice("evaluations")
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=COLUMNS)
    table = table.rename(columns={"interval": "K"})
    return table.sort_values(["method", "K"]).reset_index(drop=True), missing
