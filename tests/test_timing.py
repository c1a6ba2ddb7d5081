"""The timing protocol (`mpvss_core.evaluation.timing`) on fake workloads whose figures are known, and
once on the tiny model (structure only: nothing about the numbers is asserted)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mpvss_core.evaluation.timing import Figure, measure, method_speeds, segmenter_identity


def _fake(values: list[float], log: list[str], name: str):
    """A workload that returns the next of `values` as its "ms" and logs that it ran."""
    it = iter(values)

    def run() -> dict[str, float]:
        log.append(name)
        return {"ms": next(it)}

    return run


def test_warmup_is_discarded_rounds_interleave_and_the_figure_is_their_median() -> None:
    log: list[str] = []
    work = {
        "a": _fake([999.0, 10.0, 30.0, 20.0], log, "a"),  # first value: the warm-up run
        "b": _fake([999.0, 5.0, 7.0, 6.0], log, "b"),
        "c": _fake([999.0, 1.0, 3.0, 2.0], log, "c"),
    }
    loads = iter([0.5, 1.5])
    t = measure(work, rounds=3, warmup=1, load=lambda: next(loads))
    # warm-up in table order, then each round starts one workload later (a rotation)
    assert log == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert t.order == log[3:]
    assert t.figures["a"]["ms"].samples == (10.0, 30.0, 20.0)  # rounds 1, 2, 3 in order, warm-up gone
    assert t.figures["a"]["ms"].median == 20.0 and t.figures["b"]["ms"].median == 6.0
    assert (t.figures["c"]["ms"].low, t.figures["c"]["ms"].high) == (1.0, 3.0)
    c = t.conditions
    assert (c.rounds, c.warmup, c.load_before, c.load_after, c.load) == (3, 1, 0.5, 1.5, 1.5)
    assert c.threads >= 1 and c.cpu_count >= 1 and c.device.startswith("cpu")
    d = c.as_dict()
    assert d["rounds"] == 3 and d["warmup"] == 1 and d["load"] == 1.5 and "loaded" in d
    assert "median of 3 interleaved rounds after 1 warm-up" in c.describe()


def test_on_step_counts_every_run_and_no_warmup_means_none() -> None:
    steps: list[tuple[int, int, str]] = []
    counter = itertools.count()
    t = measure({"x": lambda: {"v": float(next(counter))}}, rounds=2, warmup=0,
                on_step=lambda d, n, name: steps.append((d, n, name)), load=lambda: None)  # fmt: skip
    assert steps == [(0, 2, "x"), (1, 2, "x")]
    assert t.figures["x"]["v"].samples == (0.0, 1.0)
    assert t.conditions.load is None and not t.conditions.loaded
    assert "load average unknown" in t.conditions.describe()
    with pytest.raises(ValueError):
        measure({"x": lambda: {}}, rounds=0)


def test_noise_flag_overlapping_ranges_and_load_above_the_cpu_count() -> None:
    a, b, c = Figure((10.0, 12.0, 14.0)), Figure((13.0, 15.0, 16.0)), Figure((20.0, 21.0, 22.0))
    assert a.overlaps(b) and b.overlaps(a)  # 14 >= 13: the difference is within the spread
    assert not a.overlaps(c) and not c.overlaps(b)
    assert a.spread == 4.0
    import os

    cpus = os.cpu_count() or 1
    busy = measure({"x": lambda: {"v": 1.0}}, rounds=1, warmup=0, load=lambda: cpus + 0.5)
    quiet = measure({"x": lambda: {"v": 1.0}}, rounds=1, warmup=0, load=lambda: cpus - 0.5)
    assert busy.conditions.loaded and not quiet.conditions.loaded


def test_method_speeds_one_key_latency_per_segmenter_on_the_tiny_model() -> None:
    from mpvss_core.data.synthetic import render_clip
    from mpvss_core.predictor import VideoPredictor
    from mpvss_core.spec import resolve_model

    spec = resolve_model("tiny")
    names = ["per_frame", "copy", "query_flow"]
    preds = {m: VideoPredictor(spec, m) for m in names}
    frames = render_clip(900003, 4, (64, 128)).frames
    steps: list[str] = []
    report = method_speeds(preds, frames, 2, rounds=2, warmup=1, on_step=lambda d, n, w: steps.append(w),
                           load=lambda: 0.0)  # fmt: skip
    assert list(report.rows) == names and report.interval == 2 and report.frames == 3
    # one key-frame workload per segmenter (shapes and config, not weights), one non-key per method
    groups = {segmenter_identity(p.model) for p in preds.values()}
    assert len(report.segmenters) == len(groups)
    assert sorted(set(steps)) == sorted([*report.segmenters, "copy", "query_flow"])
    assert len(steps) == (1 + 2) * (len(groups) + 2)
    for label, members in report.segmenters.items():
        keys = {id(report.rows[m].key_ms) for m in members}
        assert len(keys) == 1, f"{label}: one key latency for {members}"
    pf = report.rows["per_frame"]
    assert pf.nonkey_ms is None and pf.fps.samples == tuple(1000.0 / k for k in pf.key_ms.samples)
    q = report.rows["query_flow"]
    want = [2000.0 / (k + n) for k, n in zip(q.key_ms.samples, q.nonkey_ms.samples, strict=True)]
    assert np.allclose(q.fps.samples, want)
    d = report.as_dict()
    assert d["conditions"]["rounds"] == 2 and d["methods"]["copy"]["fps"]["samples"]
