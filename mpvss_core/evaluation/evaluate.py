"""Evaluate a propagation method on clips: mIoU, WIoU, per-class IoU, mVC_8/16, flow EPE, FLOPs, FPS.

    predictor = VideoPredictor(resolve_model("tiny"), "query_flow")
    result = evaluate(predictor, resolve_data("synthetic:val", max_clips=2), ScheduleSpec(5))
    result.summary["miou"], result.per_frame, result.per_clip, result.windows, result.confusion

Every clip goes through the predictor (`init_video` -> `propagate`) and its results through the scorer
(`evaluation.scorer`, which states the metric conventions). Costs: `evaluation.costs` (FLOPs per key /
non-key frame, K-average, FPS after the scorer's warm-up, latencies, device). Each frame's end-to-end
time includes its share of reading and decoding its clip's files (not of rendering a synthetic clip).

The reference (`reference=`): "labels" scores against the ground truth (classes matched by name when
the model's and the data's differ), "per_frame" against the segmenter's own prediction on every frame
(`evaluation.reference`), and "auto" (the default) takes the labels when the first clip has ground
truth sharing at least one class with the model, else per_frame; every result says which.

Launched by torchrun (`torchrun --nproc_per_node N -m mpvss_cli eval ...`), the clips are sharded over
the processes (clip i to rank i mod N; Gloo on CPU, NCCL on GPUs); every process scores its clips and
the per-clip parts are gathered and pooled in clip order, so the scores equal a single process's
exactly (`world_size` is recorded; timings are each process's own, warm-up included).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.distributed import (
    DistInfo,
    broadcast_object,
    gather_objects,
    launched_by_torchrun,
    setup_distributed,
)
from mpvss_core.errors import InputError
from mpvss_core.evaluation.costs import device_description, method_gflops, timing_summary
from mpvss_core.evaluation.datasets import DataSet
from mpvss_core.evaluation.reference import PerFrameReference
from mpvss_core.evaluation.scorer import Reference, Scorer
from mpvss_core.evaluation.store import CODE_VERSION, EvalResult
from mpvss_core.frame_result import FrameResult
from mpvss_core.methods.runners import build_propagator
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec

__all__ = ["REFERENCES", "choose_reference", "evaluate"]


REFERENCES = ("auto", "labels", "per_frame")


def choose_reference(kind: str, clip: Clip, model_names: tuple[str, ...]) -> Reference:
    """The reference of an evaluation from its first clip (see the module docstring).

    Raises:
        InputError: "labels" asked for on a clip without ground truth the model can be scored on.
    """
    if kind not in REFERENCES:
        raise InputError(f"--reference must be one of {', '.join(REFERENCES)}, got {kind!r}")
    has_gt = clip.labels is not None and bool(clip.labelled.any())
    labels = Reference.labels(clip.class_names, model_names) if has_gt else None
    usable = labels is not None and (labels.match is None or len(labels.match.matched) > 0)
    if kind == "per_frame" or (kind == "auto" and not usable):
        return Reference.per_frame(model_names)
    if not usable:
        why = "has no ground truth" if not has_gt else "shares no class name with the model"
        raise InputError(f"clip {clip.name!r} {why}: score against --reference per_frame instead")
    return labels


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
    reference: str = "auto",
    per_frame_labels: Callable[[Clip], np.ndarray] | None = None,
    tc: bool = True,
    tc_flow: str = "dis",
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
        reference: "auto", "labels" or "per_frame" (see the module docstring).
        per_frame_labels: clip -> TxHxW per-frame predictions (the per_frame reference); default: a
            `PerFrameReference` of the predictor's model spec (memory only).
        tc, tc_flow: measure temporal consistency, with DIS ("dis") or exact flow ("exact").
    Returns:
        EvalResult with the summary, the per-frame, per-clip and VC-window tables, the confusion matrix.
    """
    spec = schedule if isinstance(schedule, ScheduleSpec) else ScheduleSpec(int(schedule))
    model_names = predictor.class_names
    info = eval_processes(predictor)
    size: tuple[int, int] | None = None
    notes: list[str] = list(data.notes) if isinstance(data, DataSet) else []
    clip_notes: list[tuple[int, str]] = []  # (clip position, note): in clip order whoever scored it
    bar = None
    if progress and info.is_main:
        from tqdm import tqdm

        bar = tqdm(desc=f"eval {predictor.method}", unit="frame", total=None, leave=False)
    mine = _timed_clips(data, info.rank, info.world_size)
    first = next(mine, None)
    ref = None
    if first is not None and info.is_main:  # the first clip of the data decides, for every process
        ref = choose_reference(reference, first[1], model_names)
    ref = broadcast_object(ref, info)
    if ref is None:
        raise InputError("no clip to evaluate")
    scorer = Scorer(ref, predictor.num_classes, keep_labels=keep_labels, tc=tc, tc_flow=tc_flow,
                    flow_epe=flow_epe_metric and predictor.method != "per_frame")  # fmt: skip
    if ref.kind == "per_frame" and per_frame_labels is None:
        per_frame_labels = _default_reference(predictor)
    for clip_no, clip, load_s in itertools.chain([first] if first else [], mine):
        size = size or clip.size
        clip_notes.extend((clip_no, f"{clip.name}: {n}") for n in clip.notes)
        if tc and tc_flow == "exact" and not clip.has_flow:
            clip_notes.append((clip_no, _NO_EXACT_FLOW + clip.name))
        refs = per_frame_labels(clip) if scorer.reference.kind == "per_frame" else None
        labelled = clip.labelled if scorer.reference.kind == "labels" and clip.labels is not None else None
        schedule_c = spec.for_clip(labelled)
        state = predictor.init_video(clip, schedule_c)
        scored = scorer.clip(clip, schedule_c, load_s, refs, index=clip_no)
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
    if info.distributed:  # every process's clips, pooled in clip order on every process
        parts = gather_objects((scorer.bundles, clip_notes, size), info)
        scorer.bundles = []
        for bundles, _, _ in parts:
            scorer.absorb(bundles)
        clip_notes = [n for _, part_notes, _ in parts for n in part_notes]
        size = next((sz for _, _, sz in parts if sz is not None), None)
    notes += _one_dis_fallback_note([n for _, n in sorted(clip_notes, key=lambda x: x[0])])
    if not scorer.bundles:
        raise InputError("no clip to evaluate")
    notes = _reference_notes(scorer.reference) + notes
    summary = _summary(predictor, spec, scorer, size, costs, info)
    summary["notes"] = notes
    return EvalResult(summary, scorer.per_frame, scorer.per_clip, scorer.windows, scorer.cm.matrix.copy(),
                      labels=scorer.labels if keep_labels else None)  # fmt: skip


_NO_EXACT_FLOW = "\0no exact flow: "  # marks a clip whose TC fell back to DIS (never shown as is)


def _one_dis_fallback_note(notes: list[str]) -> list[str]:
    """The clips that asked for exact TC flow but have none, as one note (after the others)."""
    names = [n[len(_NO_EXACT_FLOW) :] for n in notes if n.startswith(_NO_EXACT_FLOW)]
    if not names:
        return notes
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    note = f"--tc-flow exact: {len(names)} clip(s) have no exact flow ({shown}); their TC used DIS flow"
    return [n for n in notes if not n.startswith(_NO_EXACT_FLOW)] + [note]


def eval_processes(predictor: VideoPredictor) -> DistInfo:
    """This process's rank among the evaluation's processes (one, unless launched by torchrun)."""
    if not launched_by_torchrun():
        return DistInfo(0, 1, 0, predictor.device)
    return setup_distributed(str(predictor.device))  # once: later calls reuse the process group


def _timed_clips(data: DataSet | Iterable[Clip], rank: int = 0, world: int = 1):
    """(position, clip, seconds spent decoding it) of the clips of this process (i mod world == rank),
    loaded lazily.

    Rendering a synthetic clip is data generation, not decoding: it counts 0 s.
    """
    if isinstance(data, DataSet):
        for n, entry in enumerate(data.entries):
            if n % world != rank:
                continue
            t0 = time.perf_counter()
            clip = entry.load()
            yield n, clip, 0.0 if entry.origin == "rendered" else time.perf_counter() - t0
    else:
        yield from ((n, clip, 0.0) for n, clip in enumerate(data) if n % world == rank)


def _reference_notes(ref: Reference) -> list[str]:
    if ref.kind == "per_frame":
        return [
            "no ground truth in the model's label space: every score is against the segmenter's own "
            "per-frame prediction (per_frame scores 100 by definition)"
        ]
    if ref.match is None:
        return []
    m = ref.match
    return [
        f"labels matched by class name: {len(m.matched)} classes; model classes without a counterpart "
        f"(counted wrong): {', '.join(m.unmatched_model) or 'none'}; data classes the model lacks (not "
        f"scored): {', '.join(m.unmatched_data) or 'none'}"
    ]


def _default_reference(predictor: VideoPredictor) -> Callable[[Clip], np.ndarray]:
    """Per-frame predictions of the predictor's model spec (or, without one, of its own segmenter)."""
    if predictor.model_spec is not None:
        return PerFrameReference(predictor.model_spec, device=str(predictor.device))
    own = VideoPredictor.from_propagator(build_propagator("per_frame", predictor.model))
    return PerFrameReference(predictor=own)


def _summary(
    predictor: VideoPredictor, spec: ScheduleSpec, scorer: Scorer, size, costs, info: DistInfo
) -> dict:
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
        **scorer.scores(),
        "device": device_description(predictor.device),
        "world_size": info.world_size,
        "code_version": CODE_VERSION,
    }
    if costs and size is not None:
        summary.update(method_gflops(model, predictor.method, size, spec.interval))
    per_frame = scorer.per_frame
    summary.update(timing_summary(per_frame))
    summary["warmup_frames"] = int((~per_frame["timed"].astype(bool)).sum())
    return summary
