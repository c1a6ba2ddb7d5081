"""The scorer: one method's FrameResult stream, clip after clip, against a reference -> every score.

    scorer = Scorer(num_classes, flow_epe=True)
    for clip_no, clip in enumerate(clips):
        cs = scorer.clip(clip, schedule)                  # reference: the clip's labels
        for r in predictor.propagate(state, diagnostics=cs.diagnostics):
            row = cs.add(r)                               # one per-frame row (mIoU, EPE, timings)
        cs.close()                                        # the clip's row, its VC windows
    scores = scorer.scores()                              # pooled: confusion matrix, mVC, EPE
    scorer.per_frame, scorer.per_clip, scorer.windows     # tidy tables

Conventions (method-notes section 3, `mpvss_core.metrics`):

- mIoU / WIoU / per-class IoU: ONE confusion matrix over every labelled, predicted frame of every clip
  (key frames included, as the paper scores all annotated frames); percentages 0-100.
- mVC_8 / mVC_16: windows pooled over the densely labelled clips whose every frame was predicted
  (fixed-interval schedules), MRCFA conventions (clips of <= 16 frames skipped, `range(L - n)`); each
  window's VC is kept (`windows`: clip, n, start, vc).
- Flow EPE (pixels): on non-key frames of clips with exact flow (the synthetic benchmark), against the
  exact flow current -> key (`clip.flow(i, key)`) at its valid pixels; overall and per GT class of the
  current frame. The estimate is each method's frame-level flow (the `flow` diagnostic).
- Timings: one warm-up rule for every consumer: the frames of the first key-frame cycle of the first
  clip are not timed (`timed` False); FPS and latencies come from the timed rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mpvss_core.data.clip import Clip, NoExactFlowError
from mpvss_core.frame_result import FrameResult
from mpvss_core.metrics import (
    ConfusionMatrix,
    FlowEPEAccumulator,
    VideoConsistencyAccumulator,
    flow_epe,
    frame_miou,
)
from mpvss_core.schedules import FixedInterval, Schedule

__all__ = ["ClipScore", "Scorer", "VC_LENGTHS", "pct"]

VC_LENGTHS = (8, 16)
TIMING_KEYS = ("model_s", "e2e_s", "segment_s", "propagate_s", "flow_s")
FRAME_COLUMNS = ["clip", "frame", "is_key", "key_index", "next_key_index", "distance", "labelled",
                 "miou", "epe", *TIMING_KEYS, "timed"]  # fmt: skip
WINDOW_COLUMNS = ["clip", "n", "start", "vc"]


def pct(x: float | None) -> float | None:
    """Fraction -> percentage (NaN/None -> None)."""
    return None if x is None or not np.isfinite(x) else 100.0 * float(x)


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def is_warmup(clip_no: int, key_index: int, first_key: int) -> bool:
    """The warm-up rule: frames of the first key-frame cycle of the first clip are not timed."""
    return clip_no == 0 and key_index == first_key


@dataclass
class ClipScore:
    """Scores of one clip while its results arrive (made by `Scorer.clip`)."""

    scorer: Scorer
    clip: Clip
    schedule: Schedule
    clip_no: int
    load_s: float = 0.0
    first_key: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    preds: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cm = ConfusionMatrix(self.scorer.num_classes)
        self.epe = FlowEPEAccumulator(self.scorer.num_classes)
        self.has_flow = self.scorer.flow_epe and self.clip.has_flow

    @property
    def diagnostics(self) -> frozenset[str]:
        """What the scorer needs from each result (the frame-level flow when EPE is measured)."""
        return frozenset({"flow"}) if self.has_flow else frozenset()

    def add(self, r: FrameResult) -> dict[str, Any]:
        """Score one result; returns its per-frame row."""
        s = self.scorer
        self.first_key = r.key_index if self.first_key is None else self.first_key
        clip = self.clip
        labelled = bool(clip.labelled[r.index]) if clip.labels is not None else False
        row: dict[str, Any] = {
            "clip": clip.name,
            "frame": r.index,
            "is_key": r.is_key,
            "key_index": r.key_index,
            "next_key_index": r.next_key_index if r.next_key_index is not None else -1,
            "distance": r.distance,
            "labelled": labelled,
            "miou": np.nan,
            "epe": np.nan,
            **{k: r.timings.get(k, np.nan) for k in TIMING_KEYS},
            "timed": not is_warmup(self.clip_no, r.key_index, self.first_key),
        }
        if labelled:
            gt = clip.labels[r.index]
            s.cm.update(r.labels, gt)
            self.cm.update(r.labels, gt)
            row["miou"] = 100.0 * frame_miou(r.labels, gt, s.num_classes)
        if self.has_flow and not r.is_key and r.flow is not None:
            try:
                gt_flow, valid = clip.flow(r.index, r.key_index)
            except NoExactFlowError:
                self.has_flow = False
            else:
                gt_lab = clip.labels[r.index] if clip.labels is not None else None
                s.epe.update(r.flow, gt_flow, valid, gt_lab)
                self.epe.update(r.flow, gt_flow, valid, gt_lab)
                row["epe"] = flow_epe(r.flow, gt_flow, valid)
        self.preds.append(r.labels)
        self.rows.append(row)
        return row

    def close(self) -> dict[str, Any]:
        """Finish the clip: its share of loading time, its VC windows; returns the per-clip row."""
        s, clip = self.scorer, self.clip
        for row in self.rows:  # end-to-end time includes each frame's share of loading its clip
            row["e2e_s"] += self.load_s / max(len(self.rows), 1)
        s.frame_rows.extend(self.rows)
        dense = (
            clip.labels is not None
            and bool(clip.labelled.all())
            and isinstance(self.schedule, FixedInterval)
            and len(self.preds) == clip.num_frames
        )
        clip_vc = {n: float("nan") for n in s.vc}
        if dense:
            stack = np.stack(self.preds)
            for n, acc in s.vc.items():
                windows = acc.update(clip.labels, stack, clip.name)
                s.window_rows += [
                    {"clip": clip.name, "n": n, "start": i, "vc": 100.0 * v} for i, v in enumerate(windows)
                ]
                clip_vc[n] = float(np.nanmean(windows)) if len(windows) else np.nan
        model_s = sum(r["model_s"] for r in self.rows)
        row = {
            "clip": clip.name,
            "frames": clip.num_frames,
            "predicted_frames": len(self.rows),
            "labelled_frames": int(sum(r["labelled"] for r in self.rows)),
            "miou": pct(self.cm.miou()),
            "wiou": pct(self.cm.wiou()),
            "vc8": pct(clip_vc.get(8, np.nan)),
            "vc16": pct(clip_vc.get(16, np.nan)),
            "epe": _num(self.epe.mean()),
            "model_fps": len(self.rows) / model_s if model_s > 0 else np.nan,
            "load_s": self.load_s,
            "source": clip.source,
        }
        s.clip_rows.append(row)
        if s.keep_labels:
            s.labels[clip.name] = np.stack(self.preds) if self.preds else np.zeros((0, *clip.size), np.uint8)
        self.preds = []
        return row


class Scorer:
    """Pools the scores of one method over clips (see the module docstring).

    Args:
        num_classes: the label space of predictions and reference.
        flow_epe: measure flow EPE where clips have exact flow.
        keep_labels: keep every clip's predicted TxHxW label stack in `labels` (the app shows them).
    """

    def __init__(self, num_classes: int, *, flow_epe: bool = True, keep_labels: bool = False) -> None:
        self.num_classes = int(num_classes)
        self.flow_epe = flow_epe
        self.keep_labels = keep_labels
        self.cm = ConfusionMatrix(self.num_classes)
        self.vc = {n: VideoConsistencyAccumulator(n) for n in VC_LENGTHS}
        self.epe = FlowEPEAccumulator(self.num_classes)
        self.frame_rows: list[dict[str, Any]] = []
        self.clip_rows: list[dict[str, Any]] = []
        self.window_rows: list[dict[str, Any]] = []
        self.labels: dict[str, np.ndarray] = {}
        self._clips = 0

    def clip(self, clip: Clip, schedule: Schedule, load_s: float = 0.0) -> ClipScore:
        """Start scoring the next clip (its results must come in frame order)."""
        cs = ClipScore(self, clip, schedule, self._clips, load_s)
        self._clips += 1
        return cs

    @property
    def per_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.frame_rows, columns=FRAME_COLUMNS)

    @property
    def per_clip(self) -> pd.DataFrame:
        return pd.DataFrame(self.clip_rows)

    @property
    def windows(self) -> pd.DataFrame:
        """Every VC window: clip, n (8 or 16), start frame, VC in %."""
        return pd.DataFrame(self.window_rows, columns=WINDOW_COLUMNS)

    def scores(self, class_names: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The pooled scores (percentages; EPE in pixels; None where nothing was measured)."""
        names = class_names or tuple(f"class {i}" for i in range(self.num_classes))
        labelled = int(sum(r["labelled"] for r in self.frame_rows))
        return {
            "num_clips": len(self.clip_rows),
            "num_frames": len(self.frame_rows),
            "num_labelled_frames": labelled,
            "miou": pct(self.cm.miou()),
            "wiou": pct(self.cm.wiou()),
            "pixel_accuracy": pct(self.cm.pixel_accuracy()),
            "per_class_iou": {n: pct(v) for n, v in zip(names, self.cm.per_class_iou(), strict=True)},
            "mvc8": pct(self.vc[8].value()),
            "mvc16": pct(self.vc[16].value()),
            "vc_clips": self.vc[8].num_clips,
            "flow_epe": _num(self.epe.mean()) if self.epe.count else None,
            "per_class_epe": {n: _num(v) for n, v in zip(names, self.epe.per_class(), strict=True)},
            "flow_epe_pixels": int(self.epe.count),
        }
