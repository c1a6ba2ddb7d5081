"""Evaluations of the current clip through `mpvss_core.evaluation.runner` (its results store caches
them by content hash: model weights and config, clip identity, method, schedule), with progress and
Stop. The predictions of the Compare page are the same evaluations (`state.predictions`), so a
(method, K) computed there is read back here, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from app import state
from mpvss_core.evaluation.runner import evaluation_key, run_evaluation
from mpvss_core.evaluation.store import EvalResult, ResultStore
from mpvss_core.schedules import ScheduleSpec

COLUMNS = [
    "method",
    "interval",
    "reference",
    "miou",
    "tc",
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


def _key(s: state.Settings, method: str, k: int) -> str:
    return evaluation_key(s.spec, state.clip_dataset(s), method, ScheduleSpec(k), s.device, False)[0]


def results(
    s: state.Settings, methods: Iterable[str], intervals: Iterable[int], compute: bool
) -> tuple[dict[tuple[str, int], EvalResult], list[tuple[str, int]]]:
    """The (method, K) evaluations of the clip that are stored; with `compute`, the missing ones run.

    Returns:
        ({(method, K): EvalResult}, the (method, K) pairs still missing).
    """
    store = ResultStore()  # the CLI's store ($MPVSS_RESULTS)
    pairs = [(m, int(k)) for m in methods for k in intervals]
    found: dict[tuple[str, int], EvalResult] = {}
    missing = []
    for m, k in pairs:
        cached = store.load(_key(s, m, k))
        if cached is None:
            missing.append((m, k))
        else:
            found[(m, k)] = cached
    if compute and missing and not state.stop_requested():
        box = st.empty()
        with box.container():
            bar = st.progress(0.0, text="Starting ...")
            state.stop_button("stop_eval")
        todo = list(missing)
        for j, (m, k) in enumerate(todo):
            # the update is where a Stop click interrupts the sweep (between two evaluations)
            bar.progress(j / len(todo), text=f"Evaluating {m} at K={k} ({j + 1}/{len(todo)}) ...")
            found[(m, k)] = run_evaluation(
                s.spec,
                state.clip_dataset(s),
                m,
                ScheduleSpec(k),
                device=s.device,
                store=store,
                flow_epe=False,
                predictor=state.predictor(s, m),
            )
            missing.remove((m, k))
        box.empty()
    elif compute and missing:
        state.stopped_notice("evaluations")
    return found, missing


def evaluations(
    s: state.Settings, methods: Iterable[str], intervals: Iterable[int], compute: bool
) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Summaries of (method, K) evaluations of the clip as a table with COLUMNS (see `results`)."""
    found, missing = results(s, methods, intervals, compute)
    rows = [r.summary for r in found.values()]
    table = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], columns=COLUMNS)
    table = table.rename(columns={"interval": "K"})
    return table.sort_values(["method", "K"]).reset_index(drop=True), missing
