"""Evaluate a propagation method on clips: mIoU, WIoU, per-class IoU, mVC_8/16, flow EPE, FLOPs, FPS.

    predictor = VideoPredictor(resolve_model("tiny"), "query_flow")
    result = evaluate(predictor, resolve_data("synthetic:val", max_clips=2), ScheduleSpec(5))
    result.summary["miou"], result.per_frame, result.per_clip, result.windows, result.confusion

Every clip goes through the predictor (`init_video` -> `propagate`) and its results through the scorer
(`evaluation.scorer`, which states the metric conventions). Costs: `evaluation.costs` (FLOPs per key /
non-key frame, K-average, FPS after the scorer's warm-up, latencies, device). Each frame's end-to-end
time includes its share of reading and decoding its clip's files (not of rendering a synthetic clip).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from mpvss_core.data.clip import Clip
from mpvss_core.errors import InputError
from mpvss_core.evaluation.costs import device_description, method_gflops, timing_summary
from mpvss_core.evaluation.datasets import DataSet
from mpvss_core.evaluation.scorer import Scorer
from mpvss_core.evaluation.store import CODE_VERSION, EvalResult
from mpvss_core.frame_result import FrameResult
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec

__all__ = ["evaluate"]


def _check_label_space(clip: Clip, num_classes: int) -> None:
    if clip.labels is not None and clip.num_classes != num_classes:
        raise InputError(
            f"clip {clip.name!r} has {clip.num_classes} classes but the model predicts {num_classes}: "
            "evaluate a model trained on this label space"
        )


def evaluate(
    predictor: VideoPredictor,
    data: DataSet | Iterable[Clip],
    schedule: ScheduleSpec | int = 5,
    *,
    flow_epe_metric: bool = True,
    costs: bool = True,
    progress: bool = False,
    on_frame: Callable[[FrameResult, int], None] | None = None,
    keep_labels: bool = False,
) -> EvalResult:
    """Run the predictor over every clip of `data` and score it (see the module docstring).

    Args:
        predictor: the method and its model.
        data: a DataSet (clips loaded one at a time) or an iterable of Clips.
        schedule: ScheduleSpec, or K for a fixed interval.
        flow_epe_metric: measure flow EPE where clips have exact flow (re-renders written synthetic
            clips once per clip, a few seconds each).
        costs: count FLOPs (cached) for the summary.
        progress: show a tqdm progress bar on stderr.
        on_frame: called as on_frame(result, clip number) after each frame is scored (progress bars;
            it may raise to stop the evaluation).
        keep_labels: keep each clip's predicted labels in `result.labels`.
    Returns:
        EvalResult with the summary, the per-frame, per-clip and VC-window tables, the confusion matrix.
    """
    spec = schedule if isinstance(schedule, ScheduleSpec) else ScheduleSpec(int(schedule))
    num_classes = predictor.num_classes
    scorer = Scorer(num_classes, flow_epe=flow_epe_metric and predictor.method != "per_frame",
                    keep_labels=keep_labels)  # fmt: skip
    class_names: tuple[str, ...] | None = None
    size: tuple[int, int] | None = None
    notes: list[str] = list(data.notes) if isinstance(data, DataSet) else []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc=f"eval {predictor.method}", unit="frame", total=None, leave=False)
    for clip_no, clip, load_s in _timed_clips(data):
        _check_label_space(clip, num_classes)
        if class_names is None and clip.labels is not None:
            class_names = clip.class_names
        size = size or clip.size
        notes.extend(f"{clip.name}: {n}" for n in clip.notes)
        schedule_c = spec.for_clip(clip.labelled if clip.labels is not None else None)
        state = predictor.init_video(clip, schedule_c)
        scored = scorer.clip(clip, schedule_c, load_s)
        for r in predictor.propagate(state, diagnostics=scored.diagnostics):
            scored.add(r)
            if bar is not None:
                bar.update(1)
            if on_frame is not None:
                on_frame(r, clip_no)
        scored.close()
        del state, clip
    if bar is not None:
        bar.close()
    if not scorer.clip_rows:
        raise InputError("no clip to evaluate")
    per_frame = scorer.per_frame
    summary = _summary(predictor, spec, scorer, class_names, size, costs)
    summary["notes"] = notes
    return EvalResult(summary, per_frame, scorer.per_clip, scorer.windows, scorer.cm.matrix.copy(),
                      labels=scorer.labels if keep_labels else None)  # fmt: skip


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


def _summary(predictor: VideoPredictor, spec: ScheduleSpec, scorer: Scorer, class_names, size, costs) -> dict:
    model = predictor.model
    summary: dict[str, Any] = {
        "method": predictor.method,
        "interval": spec.interval,
        "before_labelled": spec.before_labelled,
        "schedule": spec.describe(),
        "random_init": predictor.random_init,
        "untrained_flow": predictor.untrained,
        "model_config": model.cfg.name,
        "frame_size": list(size) if size else None,
        **scorer.scores(class_names),
        "device": device_description(predictor.device),
        "code_version": CODE_VERSION,
    }
    if costs and size is not None:
        summary.update(method_gflops(model, predictor.method, size, spec.interval))
    per_frame = scorer.per_frame
    summary.update(timing_summary(per_frame))
    summary["warmup_frames"] = int((~per_frame["timed"].astype(bool)).sum())
    return summary
