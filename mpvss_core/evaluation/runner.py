"""Evaluations through the results store, and the table `mpvss eval` prints.

    spec = resolve_model("tiny")
    data = resolve_data("synthetic:val", max_clips=4)
    result = run_evaluation(spec, data, "query_flow", ScheduleSpec(5))   # stored, or read back
    print(format_table([result.summary]))

The store key is the model's identity for the method (`ModelSpec.method_identity`), the data identity,
the method, the schedule and the options: the same evaluation asked for by the CLI, the app or an analysis is
computed once and read back everywhere.

per_frame once for every K: per_frame segments every frame whatever the key-frame interval, so its
labels, scores and timings do not depend on K (its warm-up is frame 0 of the first clip at any K).
Under a fixed interval it is computed once and stored under a K-free key (`shared_evaluation_key`);
asked for at any K it is that evaluation with the K-dependent summary fields (`interval`, `schedule`,
`before_labelled`) set for the K asked (`for_interval`), and stored under the K's own key as well, so
readers of the store by key (the app's Key-frame interval page) find it; `stored_evaluation` reads
the store as `run_evaluation` does, without computing (per_frame at a K never asked for included). A
key-before-labelled schedule chooses which frames are predicted, so there per_frame stays per schedule.

Key frames once per model: evaluations of methods that run the same model identity share their key
frames in memory (`methods.shared_keys`); `segmenter_calls` and `shared_key_frames` in the summary
say how many key frames the evaluation segmented itself and how many it received (their timings are
those measured when they were computed). `evaluation_order` runs per_frame after the methods that
segment only every K-th frame, so that a bounded cache keeps what the others can use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from mpvss_core.distributed import DistInfo, broadcast_object, launched_by_torchrun, setup_distributed
from mpvss_core.evaluation.datasets import DataSet
from mpvss_core.evaluation.evaluate import evaluate
from mpvss_core.evaluation.reference import PerFrameReference
from mpvss_core.evaluation.store import EvalResult, ResultStore, result_key
from mpvss_core.evaluation.timing import conditions, load_average
from mpvss_core.frame_result import FrameResult
from mpvss_core.methods.table import method_spec
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import ModelSpec

__all__ = [
    "evaluation_key",
    "evaluation_order",
    "for_interval",
    "format_table",
    "run_evaluation",
    "shared_evaluation_key",
    "stored_evaluation",
]

CLASSICAL_FLOW = "dis_medium"
# the schedule part of the store key of an evaluation that does not depend on K (per_frame)
ANY_INTERVAL = "any-K"
_COMPUTED_HERE: set[tuple[str, str]] = set()  # (store root, key) this process wrote (read back always)


def evaluation_key(
    spec: ModelSpec,
    data: DataSet,
    method: str,
    schedule: ScheduleSpec,
    device: str,
    flow_epe: bool,
    reference: str = "auto",
    tc: bool = True,
    tc_flow: str = "dis",
) -> tuple[str, dict[str, Any]]:
    """(key, payload) of an evaluation in the results store (see `mpvss_core.evaluation.store`)."""
    method = method_spec(method).name
    payload = {
        "model": spec.method_identity(method),
        "data": data.identity,
        "data_spec": data.spec,
        "clips": data.names,
        "method": method,
        "schedule": schedule.tag,
        "options": {
            "flow_epe": flow_epe,
            "classical_flow": CLASSICAL_FLOW,
            "device": torch.device(device).type,
            "reference": reference,
            "tc": tc_flow if tc else None,
        },
    }
    return result_key(**payload), payload


def interval_free(method: str, schedule: ScheduleSpec) -> bool:
    """An evaluation that is the same at every K: per_frame under a fixed interval (module docstring)."""
    return method_spec(method).runner == "per_frame" and schedule.before_labelled is None


def shared_evaluation_key(*args, **kwargs) -> tuple[str, dict[str, Any]]:
    """(key, payload) of an interval-free evaluation (`interval_free`) under which every K reads it;
    the arguments are `evaluation_key`'s."""
    _, payload = evaluation_key(*args, **kwargs)
    payload["schedule"] = ANY_INTERVAL
    return result_key(**payload), payload


def for_interval(result: EvalResult, schedule: ScheduleSpec) -> EvalResult:
    """An interval-free evaluation as the evaluation at `schedule` (its K-dependent summary fields)."""
    summary = {**result.summary, "interval": schedule.interval, "before_labelled": schedule.before_labelled,
               "schedule": schedule.describe()}  # fmt: skip
    return dataclasses.replace(result, summary=summary)


def evaluation_order(methods: list[str]) -> list[str]:
    """`methods` in the order to compute them: per_frame (every frame a key frame) after the others,
    so that the key frames it shares with copy and the optical-flow baselines (every K-th) are those
    segmented first and kept by the bounded key-frame cache (`methods.shared_keys`)."""
    return sorted(methods, key=lambda m: method_spec(m).runner == "per_frame")


def run_evaluation(
    spec: ModelSpec,
    data: DataSet,
    method: str,
    schedule: ScheduleSpec,
    *,
    device: str = "cpu",
    store: ResultStore | None = None,
    use_cache: bool = True,
    flow_epe: bool = True,
    progress: bool = False,
    on_frame: Callable[[FrameResult, int], None] | None = None,
    keep_labels: bool = False,
    predictor: VideoPredictor | None = None,
    reference: str = "auto",
    tc: bool = True,
    tc_flow: str = "dis",
) -> EvalResult:
    """Evaluate `method` of `spec` on `data`, or read the stored result with the same key.

    With `keep_labels`, a stored result is used only if it already holds labels (never: labels are
    not stored), so the evaluation runs and its tables are stored for every later reader.
    `predictor` reuses an already loaded predictor of `method` for `spec` (the app keeps them).
    `reference` "auto" | "labels" | "per_frame" (`evaluation.evaluate`): per-frame references are
    computed once per clip and kept in the store beside the results (`evaluation.reference`).

    Raises:
        InputError: unknown method, one the model cannot run, unusable data.
    """
    method = method_spec(method).name
    spec.entry(method)  # unavailable methods fail before anything is read
    store = store if store is not None else ResultStore()
    args = (spec, data, method, schedule, device, flow_epe, reference, tc, tc_flow)
    key, payload = evaluation_key(*args)
    shared = shared_evaluation_key(*args) if interval_free(method, schedule) else None
    info = processes(device)
    # under torchrun every process must take the same branch: the main one decides
    cached = None
    if not keep_labels and info.is_main:
        cached = _lookup(store, key, payload, shared, schedule, use_cache)
    if broadcast_object(cached is not None, info):
        return cached if info.is_main else store.load(key)
    if predictor is None:
        predictor = VideoPredictor(spec, method, device=device)
    elif predictor.method != method or (
        predictor.model_spec is not None
        and predictor.model_spec.method_identity(method) != spec.method_identity(method)
    ):
        raise ValueError(f"the predictor runs {predictor.method!r}, not {method!r} of this model")
    refs = PerFrameReference(spec, device=device, store=store)
    calls, served = predictor.propagator.segmenter_calls, predictor.propagator.keys_served
    load_before = load_average()
    result = evaluate(predictor, data, schedule, flow_epe_metric=flow_epe, progress=progress,
                      on_frame=on_frame, keep_labels=keep_labels, reference=reference,
                      per_frame_labels=refs, tc=tc, tc_flow=tc_flow)  # fmt: skip
    result.summary["model"] = spec.label
    result.summary["model_key"] = payload["model"]
    result.summary["data"] = data.spec
    result.summary["clips"] = data.names
    # key frames segmented by this evaluation / received from another run of the same weights (their
    # timings are those measured when they were computed: methods.shared_keys)
    result.summary["segmenter_calls"] = predictor.propagator.segmenter_calls - calls
    result.summary["shared_key_frames"] = predictor.propagator.keys_served - served
    # how its FPS and latencies were made (one pass, not the timing protocol): stored with them
    result.summary["timing"] = conditions(
        device,
        1,
        result.summary.get("warmup_frames", 0),
        load_before=load_before,
        load_after=load_average(),
        protocol="single pass",
    ).as_dict()
    if info.is_main:
        if shared is not None:
            _save(store, shared[0], result, shared[1])
        _save(store, key, result, payload)
    else:
        result.key = key
    return result


def stored_evaluation(
    spec: ModelSpec,
    data: DataSet,
    method: str,
    schedule: ScheduleSpec,
    *,
    device: str = "cpu",
    store: ResultStore | None = None,
    flow_epe: bool = True,
    reference: str = "auto",
    tc: bool = True,
    tc_flow: str = "dis",
) -> EvalResult | None:
    """The evaluation `run_evaluation` would return from the store, or None; nothing is computed.
    per_frame at a K never asked for is served from its K-free entry (module docstring)."""
    method = method_spec(method).name
    store = store if store is not None else ResultStore()
    args = (spec, data, method, schedule, device, flow_epe, reference, tc, tc_flow)
    key, payload = evaluation_key(*args)
    shared = shared_evaluation_key(*args) if interval_free(method, schedule) else None
    return _lookup(store, key, payload, shared, schedule, True)


def _lookup(
    store: ResultStore,
    key: str,
    payload: dict[str, Any],
    shared: tuple[str, dict[str, Any]] | None,
    schedule: ScheduleSpec,
    use_cache: bool,
) -> EvalResult | None:
    """The stored result of `key`, or of the K-free `shared` key as this K's (then saved under `key`)."""
    cached = store.load(key) if use_cache else None
    if cached is None and shared is not None:
        base = _stored(store, shared[0], use_cache)
        if base is not None:  # per_frame at another K: this K's fields, stored under its own key
            cached = for_interval(base, schedule)
            _save(store, key, cached, payload)
            cached.cached = True
    return cached


def _stored(store: ResultStore, key: str, use_cache: bool) -> EvalResult | None:
    """The stored result of `key`; without `use_cache` only one this process wrote (`--no-cache`
    recomputes what earlier runs stored, but per_frame still runs once for every K)."""
    return store.load(key) if use_cache or (str(store.root), key) in _COMPUTED_HERE else None


def _save(store: ResultStore, key: str, result: EvalResult, payload: dict[str, Any]) -> None:
    store.save(key, result, payload)
    _COMPUTED_HERE.add((str(store.root), key))


def processes(device: str) -> DistInfo:
    """This process among the evaluation's (one, unless launched by torchrun)."""
    if not launched_by_torchrun():
        return DistInfo(0, 1, 0, torch.device(device))
    return setup_distributed(device)


def _fmt(value: Any, digits: int = 1, na: str = "-") -> str:
    if value is None:
        return na
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(summaries: list[dict[str, Any]]) -> str:
    """Plain-text table: one row per evaluation (scores in %, EPE in px, fvcore GFLOPs, FPS)."""
    header = ["method", "K", "ref", "mIoU", "WIoU", "mVC8", "mVC16", "TC", "EPE px", "GF key", "GF non-key",
              "GF avg", "DIS ms", "FPS", "FPS e2e", "nk/k lat", "frames"]  # fmt: skip
    rows = []
    for s in summaries:
        na = "n/a" if s.get("gflops_nonkey_excl_flow") is not None else "-"
        rows.append(
            [
                s["method"] + (" (UNTRAINED)" if s.get("untrained_flow") else ""),
                _fmt(s.get("interval")),
                {"labels": "GT", "per_frame": "per-frame"}.get(s.get("reference"), "-"),
                _fmt(s.get("miou"), 2),
                _fmt(s.get("wiou"), 2),
                _fmt(s.get("mvc8"), 2),
                _fmt(s.get("mvc16"), 2),
                _fmt(s.get("tc"), 2),
                _fmt(s.get("flow_epe"), 2),
                _fmt(s.get("gflops_key"), 3),
                _fmt(s.get("gflops_nonkey"), 3, na),
                _fmt(s.get("gflops_avg"), 3, na),
                _fmt(s.get("dis_ms"), 1),
                _fmt(s.get("fps"), 2),
                _fmt(s.get("fps_e2e"), 2),
                _fmt(s.get("nonkey_key_latency_ratio"), 3),
                _fmt(s.get("num_frames")),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-|-".join("-" * w for w in widths))
    for r in rows:
        cells = zip(r, widths, strict=True)
        lines.append(" | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(cells)))
    return "\n".join(lines)
