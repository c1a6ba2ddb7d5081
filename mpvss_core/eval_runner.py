"""Evaluation through the results store, and the table `mpvss eval` prints.

data = resolve_data("synthetic:val", max_clips=4)
result = run_evaluation("tiny", data, "query_flow", ScheduleSpec(5))   # stored, or read back
print(format_table([result.summary]))
"""

from __future__ import annotations

from typing import Any

import torch

from .eval_data import DataSet
from .evaluate import evaluate
from .methods import check_method_name, load_method
from .results import EvalResult, ResultStore, result_key
from .schedules import ScheduleSpec

__all__ = ["evaluation_key", "format_table", "run_evaluation"]

CLASSICAL_FLOW = "dis_medium"


def evaluation_key(
    model: str, data: DataSet, method: str, schedule: ScheduleSpec, device: str, seed: int, flow_epe: bool
) -> tuple[str, dict[str, Any]]:
    """(key, payload) of an evaluation in the results store (see `mpvss_core.results`)."""
    from .zoo import model_key, resolve_spec

    mk = model_key(model, method)
    if resolve_spec(model).kind == "random":
        mk += f"-seed{seed}"
    payload = {
        "model": mk,
        "data": data.identity,
        "data_spec": data.spec,
        "clips": data.names,
        "method": method,
        "schedule": schedule.tag,
        "options": {
            "flow_epe": flow_epe,
            "classical_flow": CLASSICAL_FLOW,
            "device": torch.device(device).type,
        },
    }
    return result_key(**payload), payload


def run_evaluation(
    model: str,
    data: DataSet,
    method: str,
    schedule: ScheduleSpec,
    *,
    device: str = "cpu",
    seed: int = 0,
    store: ResultStore | None = None,
    use_cache: bool = True,
    flow_epe: bool = True,
    progress: bool = False,
) -> EvalResult:
    """Evaluate `method` of `model` on `data`, or read the stored result with the same key.

    Raises:
        InputError: unknown method/model, no weights for a learned method, unusable data.
    """
    check_method_name(method)
    store = store if store is not None else ResultStore()
    key, payload = evaluation_key(model, data, method, schedule, device, seed, flow_epe)
    if use_cache and (cached := store.load(key)) is not None:
        return cached
    m = load_method(method, model, device=device, seed=seed)
    result = evaluate(m, data, schedule, flow_epe_metric=flow_epe, progress=progress)
    result.summary["model"] = str(model)
    result.summary["model_key"] = payload["model"]
    result.summary["data"] = data.spec
    result.summary["clips"] = data.names
    store.save(key, result, payload)
    return result


def _fmt(value: Any, digits: int = 1, na: str = "-") -> str:
    if value is None:
        return na
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(summaries: list[dict[str, Any]]) -> str:
    """Plain-text table: one row per evaluation (scores in %, EPE in px, fvcore GFLOPs, FPS)."""
    header = ["method", "K", "mIoU", "WIoU", "mVC8", "mVC16", "EPE px", "GF key", "GF non-key", "GF avg",
              "DIS ms", "FPS", "FPS e2e", "nk/k lat", "frames"]  # fmt: skip
    rows = []
    for s in summaries:
        na = "n/a" if s.get("gflops_nonkey_excl_flow") is not None else "-"
        rows.append(
            [
                s["method"],
                _fmt(s.get("interval")),
                _fmt(s.get("miou"), 2),
                _fmt(s.get("wiou"), 2),
                _fmt(s.get("mvc8"), 2),
                _fmt(s.get("mvc16"), 2),
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
