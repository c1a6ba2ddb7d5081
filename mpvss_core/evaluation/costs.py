"""Costs of a method: GFLOPs of key / non-key frames and their K-average, latency and FPS, the device.

FLOPs (fvcore convention, 1 per multiply-add, the paper's unit; `mpvss_core.evaluation.flops`), by the `cost`
rule of the method's entry in the method table:

| cost rule | key frame | non-key frame |
|---|---|---|
| "segmenter" (`per_frame`) | segmenter + semantic inference | the same (every frame is a key frame) |
| "zero" (`copy`) | as above | 0 |
| "flow_module" (learned flows) | as above | flow module + warping + semantic inference (`count_flops`), |
| | | twice for bi-directional methods (one pass from each key frame) |
| "classical" (`optical_flow`, `bi_optical_flow`) | as above | not applicable (None): OpenCV DIS runs on the |
| | | CPU and is reported as CPU time (`dis_ms`); the warping + semantic inference part |
| | | alone is `gflops_nonkey_excl_flow` (twice for bi-directional) |

`gflops_avg = (key + (K-1) * non_key) / K` over one key-frame cycle (docs/method-notes.md §2.4); None
when a term is not applicable or the schedule has no K. Counts are cached in memory and on disk
(`<results root>/../flops/`), keyed by model config, parameter names and shapes, frame size and torch
version.

Timings (from the per-frame table): FPS = timed frames / their summed model time (`fps`) or
end-to-end time (`fps_e2e`, adds reading / decoding the frames; not the extraction of diagnostics
for metrics such as the flow for EPE); latencies are
medians of key and non-key frames; frames of the warm-up (the first key-frame cycle of the first clip)
are not timed.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mpvss_core.errors import InputError
from mpvss_core.evaluation.flops import count_flops, flop_breakdown, flop_count
from mpvss_core.evaluation.store import default_results_root
from mpvss_core.io.outputs import atomic_file
from mpvss_core.methods.table import method_spec
from mpvss_core.modeling.warp import backward_warp

__all__ = [
    "FLOPS_UNIT",
    "device_description",
    "frame_gflops",
    "method_flop_parts",
    "method_gflops",
    "timing_summary",
]

FLOPS_UNIT = "GFLOPs, fvcore convention (1 per multiply-add)"
_MEMORY: dict[str, float] = {}


def device_description(device: torch.device | str) -> str:
    """e.g. "cpu (x86_64, 2 torch threads)" or "cuda: NVIDIA H100 80GB HBM3"."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    cpu = platform.processor() or platform.machine()
    return f"cpu ({cpu}, {torch.get_num_threads()} torch threads)"


def _cache_dir() -> Path:
    return default_results_root().parent / "flops"


def _cached(key_parts: dict[str, Any], compute) -> float:
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True).encode()).hexdigest()[:24]
    if key in _MEMORY:
        return _MEMORY[key]
    path = _cache_dir() / f"{key}.json"
    try:
        value = float(json.loads(path.read_text())["gflops"])
    except (OSError, ValueError, KeyError, TypeError):
        value = float(compute())
        try:  # a cache that cannot be written is not an error
            with atomic_file(path, "w") as fh:
                json.dump({"gflops": value, **key_parts}, fh)
        except InputError:  # what atomic_file makes of an OSError
            pass
    _MEMORY[key] = value
    return value


def _structure(model) -> str:
    """Fingerprint of the parameter names and shapes: a swapped-in module never shares a cache entry."""
    text = ";".join(f"{n}:{tuple(p.shape)}" for n, p in model.named_parameters())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def frame_gflops(model, size: tuple[int, int], frame: str) -> float:
    """GFLOPs (fvcore) of one "key" or "non_key" frame of `size` for `model` (cached)."""
    if frame == "key":
        # a key frame runs only the segmenter (+ semantic inference), so the method variants of one
        # preset, which differ only in their flow module, share one count
        parts = {"segmenter": model.cfg.to_dict()["segmenter"], "structure": _structure(model.segmenter)}
        if getattr(model, "key_decoder", None) is not None:  # stage-0 key heads: a second decoder pass
            parts["key_decoder"] = _structure(model.key_decoder)
    else:
        parts = {"config": model.cfg.to_dict(), "structure": _structure(model)}
        # the folded query-flow head of the fast path (`MPVSS.use_fast_path`) executes fewer
        # multiply-adds and is counted as it runs, so the two paths never share a cache entry
        head = getattr(getattr(getattr(model, "flow", None), "decoder", None), "query_flow_head", None)
        if getattr(head, "fold", False):
            parts["folded_query_flow_head"] = True
    # rule 2: counted as specified, whatever path the model is set to (`flops._run_frame`)
    parts.update(size=list(size), frame=frame, torch=torch.__version__, rule=2)
    return _cached(parts, lambda: count_flops(model, size, frame, convention="fvcore"))


def _warp_semantic_gflops(model, size: tuple[int, int]) -> float:
    """GFLOPs of warping the Q key mask logits by one flow and semantic inference (fvcore)."""
    seg = model.segmenter
    hp, wp = -(-size[0] // 32) * 32, -(-size[1] // 32) * 32
    mask = torch.zeros(1, seg.num_queries, hp // 4, wp // 4)
    flow = torch.zeros(1, 2, hp // 4, wp // 4)
    cls = torch.zeros(1, seg.num_queries, seg.num_classes + 1)

    def run() -> None:
        model.semantic_inference(cls, backward_warp(mask, flow, model.cfg.warp_mode), size)

    parts = {"part": "warp+semantic", "queries": seg.num_queries, "classes": seg.num_classes}
    parts.update(size=list(size), torch=torch.__version__)
    return _cached(parts, lambda: flop_count(run, convention="fvcore") / 1e9)


def method_gflops(model, method: str, size: tuple[int, int], interval: int | None) -> dict[str, Any]:
    """gflops_key, gflops_nonkey, gflops_avg, gflops_nonkey_excl_flow and a note (see the table above).

    Args:
        model: the MPVSS that runs `method`.
        method: a method name (its cost rule comes from the method table).
    """
    spec = method_spec(method)
    directions = 2 if spec.bidirectional else 1
    key = frame_gflops(model, size, "key")
    excl = None
    if spec.cost == "segmenter":
        nonkey, note = key, "every frame runs the segmenter"
    elif spec.cost == "zero":
        nonkey, note = 0.0, "non-key frames copy the key frame's labels"
    elif spec.cost == "classical":
        nonkey = None
        excl = directions * _warp_semantic_gflops(model, size)
        note = (
            "non-key FLOPs not applicable: OpenCV DIS optical flow runs on the CPU (see dis_ms); "
            f"gflops_nonkey_excl_flow = {directions} x (mask warping + semantic inference)"
        )
    else:
        nonkey = directions * frame_gflops(model, size, "non_key")
        note = "flow module + warping + semantic inference" + (
            ", from both neighbouring key frames" if directions == 2 else ""
        )
    avg = None
    if nonkey is not None and interval:
        avg = (key + (interval - 1) * nonkey) / interval
    return {
        "gflops_key": key,
        "gflops_nonkey": nonkey,
        "gflops_avg": avg,
        "gflops_nonkey_excl_flow": excl,
        "flops_unit": FLOPS_UNIT,
        "flops_note": note,
    }


def method_flop_parts(model, method: str, size: tuple[int, int]) -> list[dict[str, Any]]:
    """GFLOPs per part of a key and a non-key frame of `method`, by its cost rule (the table above).

    Returns:
        rows {"frame": "key" | "non-key", "part", "gflops"}: the key frame's parts (`flops.flop_breakdown`:
        "segmenter", "flow", "warp + semantic inference"), then the non-key frame's: none for "zero",
        the key frame's for "segmenter", "warp + semantic inference" alone for "classical" (DIS runs on
        the CPU), the flow module's frame for "flow_module"; twice for bi-directional methods.
    """
    spec = method_spec(method)
    directions = 2 if spec.bidirectional else 1
    key = {p: v for p, v in flop_breakdown(model, size, "key").items() if p != "total"}
    rows = [{"frame": "key", "part": p, "gflops": v} for p, v in key.items()]
    if spec.cost == "zero":
        return rows
    if spec.cost == "segmenter":
        nonkey = key
    elif spec.cost == "classical":
        nonkey = {"warp + semantic inference": directions * _warp_semantic_gflops(model, size)}
    else:
        one = flop_breakdown(model, size, "non_key")
        nonkey = {p: directions * v for p, v in one.items() if p != "total"}
    return rows + [{"frame": "non-key", "part": p, "gflops": v} for p, v in nonkey.items()]


def _median_ms(series: pd.Series) -> float | None:
    return float(series.median() * 1000) if len(series) else None


def timing_summary(per_frame: pd.DataFrame) -> dict[str, Any]:
    """FPS (model / end-to-end) and median latencies from a per-frame table with `timed` rows."""
    timed = per_frame[per_frame["timed"]] if len(per_frame) else per_frame
    n = len(timed)
    model_s = float(timed["model_s"].sum()) if n else 0.0
    e2e_s = float(timed["e2e_s"].sum()) if n else 0.0
    key_ms = _median_ms(timed.loc[timed["is_key"], "model_s"]) if n else None
    nonkey_ms = _median_ms(timed.loc[~timed["is_key"], "model_s"]) if n else None
    flow_ms = None
    if n and "flow_s" in timed and timed["flow_s"].notna().any():
        flow_ms = _median_ms(timed["flow_s"].dropna())
    return {
        "fps": n / model_s if model_s > 0 else None,
        "fps_e2e": n / e2e_s if e2e_s > 0 else None,
        "latency_key_ms": key_ms,
        "latency_nonkey_ms": nonkey_ms,
        "nonkey_key_latency_ratio": nonkey_ms / key_ms if key_ms and nonkey_ms is not None else None,
        "dis_ms": flow_ms,
        "timed_frames": n,
    }
