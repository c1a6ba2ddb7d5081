"""Evaluate a propagation method on clips: mIoU, WIoU, per-class IoU, mVC_8/16, flow EPE, FLOPs, FPS.

    method = load_method("query_flow", "tiny")
    result = evaluate(method, resolve_data("synthetic:val", max_clips=2), ScheduleSpec(5))
    result.summary["miou"], result.per_frame, result.per_clip

Conventions (method-notes section 3, `mpvss_core.metrics`):

- mIoU / WIoU / per-class IoU: ONE confusion matrix over every labelled, predicted frame of every
  clip (key frames included, as the paper scores all annotated frames); percentages 0-100.
- mVC_8 / mVC_16: windows pooled over the densely labelled clips whose every frame was predicted
  (fixed-interval schedules), MRCFA conventions (clips of <= 16 frames skipped, `range(L - n)`).
- Flow EPE (pixels): on non-key frames of clips with exact flow (the synthetic benchmark), against the
  exact flow current -> key (`clip.flow(i, key)`) at its valid pixels; overall and per GT class of the
  current frame. The estimate scored is each method's frame-level flow: learned methods the flow of
  the query that wins the semantic argmax at each pixel (`frame_result.winner_flow`; the pixel-wise
  flow for `pixel_flow`), the optical-flow baselines their DIS flow to the previous key, `copy` the
  zero flow it implicitly assumes; `per_frame` has none.
- Costs: `mpvss_core.costs` (FLOPs per key / non-key frame, K-average, FPS after the warm-up of the
  first key-frame cycle of the first clip, latencies, device). Each frame's end-to-end time includes
  its share of reading and decoding its clip's files (not of rendering a synthetic clip).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .costs import device_description, method_gflops, timing_summary
from .data.clip import Clip, NoExactFlowError
from .errors import InputError
from .eval_data import DataSet
from .methods import Method
from .metrics import ConfusionMatrix, FlowEPEAccumulator, VideoConsistencyAccumulator, flow_epe, frame_miou
from .results import CODE_VERSION, EvalResult
from .schedules import FixedInterval, ScheduleSpec

__all__ = ["evaluate", "pct"]


def pct(x: float | None) -> float | None:
    """Fraction -> percentage (NaN/None -> None)."""
    return None if x is None or not np.isfinite(x) else 100.0 * float(x)


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _check_label_space(clip: Clip, num_classes: int) -> None:
    if clip.labels is not None and clip.num_classes != num_classes:
        raise InputError(
            f"clip {clip.name!r} has {clip.num_classes} classes but the model predicts {num_classes}: "
            "evaluate a model trained on this label space"
        )


def evaluate(
    method: Method,
    data: DataSet | Iterable[Clip],
    schedule: ScheduleSpec | int = 5,
    *,
    flow_epe_metric: bool = True,
    costs: bool = True,
    progress: bool = False,
) -> EvalResult:
    """Run `method` over every clip of `data` and score it (see the module docstring).

    Args:
        method: a Method (e.g. from `methods.load_method`).
        data: a DataSet (clips loaded one at a time) or an iterable of Clips.
        schedule: ScheduleSpec, or K for a fixed interval.
        flow_epe_metric: measure flow EPE where clips have exact flow (re-renders written synthetic
            clips once per clip, a few seconds each).
        costs: count FLOPs (cached) for the summary.
        progress: show a tqdm progress bar on stderr.
    Returns:
        EvalResult with the summary dict, the per-frame and the per-clip tables.
    """
    spec = schedule if isinstance(schedule, ScheduleSpec) else ScheduleSpec(int(schedule))
    num_classes = int(method.model.segmenter.num_classes)
    cm = ConfusionMatrix(num_classes)
    vc = {n: VideoConsistencyAccumulator(n) for n in (8, 16)}
    epe_acc = FlowEPEAccumulator(num_classes)
    frames_rows: list[dict[str, Any]] = []
    clip_rows: list[dict[str, Any]] = []
    class_names: tuple[str, ...] | None = None
    size: tuple[int, int] | None = None
    notes: list[str] = list(data.notes) if isinstance(data, DataSet) else []
    wants_epe = flow_epe_metric and method.name != "per_frame"
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc=f"eval {method.name}", unit="frame", total=None, leave=False)
    for clip_no, clip, load_s in _timed_clips(data):
        _check_label_space(clip, num_classes)
        if class_names is None and clip.labels is not None:
            class_names = clip.class_names
        size = size or clip.size
        notes.extend(f"{clip.name}: {n}" for n in clip.notes)
        schedule_c = spec.for_clip(clip.labelled if clip.labels is not None else None)
        has_flow = wants_epe and clip.has_flow
        clip_cm = ConfusionMatrix(num_classes)
        clip_epe = FlowEPEAccumulator(num_classes)
        preds: list[np.ndarray] = []
        rows: list[dict[str, Any]] = []
        diagnostics = {"flow"} if has_flow else False
        first_key = None
        for r in method.run(clip.frames, schedule_c, diagnostics=diagnostics):
            first_key = r.key_index if first_key is None else first_key
            labelled = bool(clip.labelled[r.index])
            row = {
                "clip": clip.name,
                "frame": r.index,
                "is_key": r.is_key,
                "key_index": r.key_index,
                "next_key_index": r.next_key_index if r.next_key_index is not None else -1,
                "distance": r.distance,
                "labelled": labelled,
                "miou": np.nan,
                "epe": np.nan,
                "model_s": r.timings["model_s"],
                "e2e_s": r.timings["e2e_s"],
                "flow_s": r.timings.get("flow_s", np.nan),
                "timed": not (clip_no == 0 and r.key_index == first_key),
            }
            if labelled:
                gt = clip.labels[r.index]
                cm.update(r.labels, gt)
                clip_cm.update(r.labels, gt)
                row["miou"] = 100.0 * frame_miou(r.labels, gt, num_classes)
            if has_flow and not r.is_key and r.flow is not None:
                try:
                    gt_flow, valid = clip.flow(r.index, r.key_index)
                except NoExactFlowError:
                    has_flow = False
                else:
                    gt_lab = clip.labels[r.index] if clip.labels is not None else None
                    epe_acc.update(r.flow, gt_flow, valid, gt_lab)
                    clip_epe.update(r.flow, gt_flow, valid, gt_lab)
                    row["epe"] = flow_epe(r.flow, gt_flow, valid)
            preds.append(r.labels)
            rows.append(row)
            if bar is not None:
                bar.update(1)
        for row in rows:  # end-to-end time includes each frame's share of loading its clip
            row["e2e_s"] += load_s / max(len(rows), 1)
        frames_rows.extend(rows)
        dense = (
            clip.labels is not None
            and bool(clip.labelled.all())
            and isinstance(schedule_c, FixedInterval)
            and len(preds) == clip.num_frames
        )
        clip_vc = {n: float("nan") for n in vc}
        if dense:
            stack = np.stack(preds)
            for n, acc in vc.items():
                windows = acc.update(clip.labels, stack, clip.name)
                clip_vc[n] = float(np.nanmean(windows)) if len(windows) else np.nan
        model_s = sum(r["model_s"] for r in rows)
        clip_rows.append(
            {
                "clip": clip.name,
                "frames": clip.num_frames,
                "predicted_frames": len(rows),
                "labelled_frames": int(sum(r["labelled"] for r in rows)),
                "miou": pct(clip_cm.miou()),
                "wiou": pct(clip_cm.wiou()),
                "vc8": pct(clip_vc[8]),
                "vc16": pct(clip_vc[16]),
                "epe": _num(clip_epe.mean()),
                "model_fps": len(rows) / model_s if model_s > 0 else np.nan,
                "load_s": load_s,
                "source": clip.source,
            }
        )
        del preds, clip
    if bar is not None:
        bar.close()
    if not clip_rows:
        raise InputError("no clip to evaluate")
    per_frame = pd.DataFrame(frames_rows)
    per_clip = pd.DataFrame(clip_rows)
    summary = _summary(method, spec, cm, vc, epe_acc, class_names, per_frame, per_clip, size, costs)
    summary["notes"] = notes
    return EvalResult(summary, per_frame, per_clip)


def _timed_clips(data: DataSet | Iterable[Clip]):
    """(number, clip, seconds spent decoding it) per clip, loaded lazily.

    Rendering a synthetic clip is data generation, not decoding: it counts 0 s.
    """
    if isinstance(data, DataSet):
        for n, entry in enumerate(data.entries):
            t0 = time.perf_counter()
            clip = entry.load()
            yield n, clip, 0.0 if entry.origin == "rendered" else time.perf_counter() - t0
    else:
        yield from ((n, clip, 0.0) for n, clip in enumerate(data))


def _summary(method, spec, cm, vc, epe_acc, class_names, per_frame, per_clip, size, costs) -> dict:
    model = method.model
    iou = cm.per_class_iou()
    names = class_names or tuple(f"class {i}" for i in range(cm.num_classes))
    labelled = int(per_frame["labelled"].sum())
    summary: dict[str, Any] = {
        "method": method.name,
        "interval": spec.interval,
        "before_labelled": spec.before_labelled,
        "schedule": spec.describe(),
        "random_init": bool(getattr(model, "random_init", False)),
        "model_config": model.cfg.name,
        "num_clips": len(per_clip),
        "num_frames": len(per_frame),
        "num_labelled_frames": labelled,
        "frame_size": list(size) if size else None,
        "miou": pct(cm.miou()),
        "wiou": pct(cm.wiou()),
        "pixel_accuracy": pct(cm.pixel_accuracy()),
        "per_class_iou": {n: pct(v) for n, v in zip(names, iou, strict=True)},
        "mvc8": pct(vc[8].value()),
        "mvc16": pct(vc[16].value()),
        "vc_clips": vc[8].num_clips,
        "flow_epe": _num(epe_acc.mean()),
        "per_class_epe": {n: _num(v) for n, v in zip(names, epe_acc.per_class(), strict=True)},
        "flow_epe_pixels": int(epe_acc.count),
        "device": device_description(method.device),
        "code_version": CODE_VERSION,
    }
    if method.name != "per_frame" and not epe_acc.count:
        summary["flow_epe"] = None
    if costs and size is not None:
        summary.update(method_gflops(method, size, spec.interval))
    summary.update(timing_summary(per_frame))
    summary["warmup_frames"] = int((~per_frame["timed"]).sum())
    return summary
