"""Evaluations through the results store, and the table `mpvss eval` prints.

    spec = resolve_model("tiny")
    data = resolve_data("synthetic:val", max_clips=4)
    result = run_evaluation(spec, data, "query_flow", ScheduleSpec(5))   # stored, or read back
    print(format_table([result.summary]))

The store key is the model's identity for the method (`ModelSpec.method_identity`), the data identity,
the method, the schedule and the options: the same evaluation asked for by the CLI, the app or an analysis is
computed once and read back everywhere.
"""

from __future__ import annotations

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

__all__ = ["evaluation_key", "format_table", "run_evaluation"]

CLASSICAL_FLOW = "dis_medium"


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
    key, payload = evaluation_key(spec, data, method, schedule, device, flow_epe, reference, tc, tc_flow)
    info = processes(device)
    # under torchrun every process must take the same branch: the main one decides
    cached = store.load(key) if use_cache and not keep_labels and info.is_main else None
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
    load_before = load_average()
    result = evaluate(predictor, data, schedule, flow_epe_metric=flow_epe, progress=progress,
                      on_frame=on_frame, keep_labels=keep_labels, reference=reference,
                      per_frame_labels=refs, tc=tc, tc_flow=tc_flow)  # fmt: skip
    result.summary["model"] = spec.label
    result.summary["model_key"] = payload["model"]
    result.summary["data"] = data.spec
    result.summary["clips"] = data.names
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
        store.save(key, result, payload)
    else:
        result.key = key
    return result


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
