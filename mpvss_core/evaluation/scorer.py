"""The scorer: one method's FrameResult stream, clip after clip, against a reference -> every score.

    scorer = Scorer(Reference.labels(clip.class_names, model_names), num_model_classes, flow_epe=True)
    for clip_no, clip in enumerate(clips):
        cs = scorer.clip(clip, schedule)                  # reference: the clip's labels
        for r in predictor.propagate(state, diagnostics=cs.diagnostics):
            row = cs.add(r)                               # one per-frame row (mIoU, TC, EPE, timings)
        cs.close()                                        # the clip's row, its VC windows
    scores = scorer.scores()                              # pooled: confusion matrix, mVC, TC, EPE
    scorer.per_frame, scorer.per_clip, scorer.windows     # tidy tables

The reference (`Reference`) is what predictions are scored against:
- "labels": the ground truth. When the model's class names differ from the data's, classes are
  matched by name (`labels.match_label_spaces`): predictions are mapped to data ids, a predicted class
  without a counterpart counts as wrong, pixels of a data class the model does not know are not scored
  (both lists are in the summary).
- "per_frame": the segmenter's own prediction on every frame (what running the full model on every
  frame gives), for footage without ground truth in the model's label space: a method's mIoU then
  says how much of the full model's output it keeps (per_frame against itself is 100).

Conventions (method-notes section 3, `mpvss_core.metrics`):
- mIoU / WIoU / per-class IoU: ONE confusion matrix over every scored, predicted frame of every clip
  (key frames included, as the paper scores all annotated frames), at the reference's own resolution:
  predictions made on downscaled frames are brought to the label size (`labels.resize_nearest`) first,
  labels are never resized; percentages 0-100.
- mVC_8 / mVC_16: windows pooled over the clips whose every frame has a reference and was predicted
  (fixed-interval schedules), MRCFA conventions (clips of <= 16 frames skipped, `range(L - n)`); each
  window's VC is kept (`windows`: clip, n, start, vc).
- TC (temporal consistency, Liu et al. ECCV 2020; no labels needed): for each pair of consecutive
  predicted frames t, t+1, the prediction of t+1 is warped back to t by optical flow t -> t+1 (OpenCV
  DIS on the frames by default; the exact flow where the clip has it, `tc_flow="exact"`) with nearest
  sampling, and compared with the prediction of t; pooled over the clip like mIoU (one confusion
  matrix of the model's classes; pixels whose flow leaves the frame are not counted).
- Flow EPE (pixels): on non-key frames of clips with exact flow (the synthetic benchmark), against the
  exact flow current -> key (`clip.flow(i, key)`) at its valid pixels; overall and per GT class of the
  current frame. The estimate is each method's frame-level flow (the `flow` diagnostic).
- Timings: one warm-up rule for every consumer: the frames of the first key-frame cycle of the first
  clip a process scores are not timed (`timed` False); FPS and latencies come from the timed rows only.

Pooling is per clip, then over clips in the data's clip order (`ClipBundle`), so the scores of clips
scored by several processes (torchrun, `Scorer.absorb`) equal those of one process exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mpvss_core.data.clip import Clip, NoExactFlowError
from mpvss_core.frame_result import FrameResult
from mpvss_core.labels import IGNORE_INDEX, LabelMatch, match_label_spaces, resize_nearest
from mpvss_core.metrics import (
    ConfusionMatrix,
    FlowEPEAccumulator,
    VideoConsistencyAccumulator,
    flow_epe,
    frame_miou,
    video_consistency,
)
from mpvss_core.schedules import FixedInterval, Schedule

__all__ = ["ClipScore", "Reference", "Scorer", "VC_LENGTHS", "is_warmup", "pct"]

VC_LENGTHS = (8, 16)
TC_FLOWS = ("dis", "exact")
TIMING_KEYS = ("model_s", "e2e_s", "segment_s", "propagate_s", "flow_s")
FRAME_COLUMNS = ["clip", "frame", "is_key", "key_index", "next_key_index", "distance", "labelled",
                 "miou", "tc", "epe", *TIMING_KEYS, "timed"]  # fmt: skip
WINDOW_COLUMNS = ["clip", "n", "start", "vc"]


def pct(x: float | None) -> float | None:
    """Fraction -> percentage (NaN/None -> None)."""
    return None if x is None or not np.isfinite(x) else 100.0 * float(x)


def _num(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _pooled(into, parts):
    for p in parts:
        into.merge(p)
    return into


def is_warmup(clip_no: int, key_index: int, first_key: int) -> bool:
    """The warm-up rule: frames of the first key-frame cycle of the first clip are not timed."""
    return clip_no == 0 and key_index == first_key


@dataclass(frozen=True)
class Reference:
    """What predictions are scored against (see the module docstring).

    Attributes:
        kind: "labels" or "per_frame".
        class_names: the label space scores are reported in (the data's, or the model's for per_frame).
        match: for "labels", how the model's classes meet the data's (None: the same names).
    """

    kind: str
    class_names: tuple[str, ...]
    match: LabelMatch | None = None

    @classmethod
    def labels(cls, data_names: tuple[str, ...], model_names: tuple[str, ...]) -> Reference:
        match = match_label_spaces(model_names, data_names)
        return cls("labels", tuple(data_names), None if match.identical else match)

    @classmethod
    def per_frame(cls, model_names: tuple[str, ...]) -> Reference:
        return cls("per_frame", tuple(model_names))

    def describe(self) -> str:
        if self.kind == "per_frame":
            return "vs per-frame (no ground truth): the segmenter's own prediction on every frame"
        if self.match is None:
            return "vs ground truth"
        return f"vs ground truth, {len(self.match.matched)} classes matched by name"


@dataclass
class ClipBundle:
    """Everything one scored clip contributes (picklable: processes exchange them under torchrun)."""

    index: int  # the clip's position in the data (the pooling order)
    rows: list[dict[str, Any]]
    clip_row: dict[str, Any]
    windows: list[dict[str, Any]]
    vc: dict[int, np.ndarray]  # n -> VC of every window (empty when the clip is not densely scored)
    cm: ConfusionMatrix
    tc_cm: ConfusionMatrix
    epe: FlowEPEAccumulator
    labels: np.ndarray | None = None  # TxHxW predictions (keep_labels)


@dataclass
class ClipScore:
    """Scores of one clip while its results arrive (made by `Scorer.clip`)."""

    scorer: Scorer
    clip: Clip
    schedule: Schedule
    clip_no: int  # the clip's position in the data
    load_s: float = 0.0
    per_frame_labels: np.ndarray | None = None  # TxHxW model ids: the per_frame reference of the clip
    first: bool = True  # the first clip this process scores (its first key-frame cycle is warm-up)
    first_key: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    preds: list[np.ndarray] = field(default_factory=list)
    _prev: FrameResult | None = None

    def __post_init__(self) -> None:
        s = self.scorer
        self.cm = ConfusionMatrix(s.num_scored_classes)
        self.tc_cm = ConfusionMatrix(s.num_model_classes)
        self.epe = FlowEPEAccumulator(s.num_scored_classes)
        self.has_flow = s.flow_epe and self.clip.has_flow
        if s.reference.kind == "per_frame" and self.per_frame_labels is None:
            raise ValueError("a per_frame reference needs the clip's per-frame labels")
        self._data_lut = s.reference.match.data_ignore_lut() if s.reference.match is not None else None

    @property
    def diagnostics(self) -> frozenset[str]:
        """What the scorer needs from each result (the frame-level flow when EPE is measured)."""
        return frozenset({"flow"}) if self.has_flow else frozenset()

    # --- reference ------------------------------------------------------------------------------------
    def _reference(self, index: int) -> np.ndarray | None:
        """The reference map of frame `index` (its own resolution), None where there is none."""
        if self.scorer.reference.kind == "per_frame":
            return self.per_frame_labels[index]
        clip = self.clip
        if clip.labels is None or not clip.labelled[index]:
            return None
        gt = clip.labels[index]
        return gt if self._data_lut is None else self._data_lut[gt]

    def _scored_pred(self, labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A prediction in the scored label space, at the reference's resolution."""
        match = self.scorer.reference.match
        if self.scorer.reference.kind == "labels" and match is not None:
            labels = match.pred_to_data[labels]
        return resize_nearest(labels, size)

    # --- one frame ------------------------------------------------------------------------------------
    def add(self, r: FrameResult) -> dict[str, Any]:
        """Score one result; returns its per-frame row."""
        s = self.scorer
        self.first_key = r.key_index if self.first_key is None else self.first_key
        ref = self._reference(r.index)
        row: dict[str, Any] = {
            "clip": self.clip.name,
            "frame": r.index,
            "is_key": r.is_key,
            "key_index": r.key_index,
            "next_key_index": r.next_key_index if r.next_key_index is not None else -1,
            "distance": r.distance,
            "labelled": ref is not None,
            "miou": np.nan,
            "tc": np.nan,
            "epe": np.nan,
            **{k: r.timings.get(k, np.nan) for k in TIMING_KEYS},
            "timed": not is_warmup(0 if self.first else 1, r.key_index, self.first_key),
        }
        if ref is not None:
            pred = self._scored_pred(r.labels, ref.shape)
            self.cm.update(pred, ref)
            row["miou"] = 100.0 * frame_miou(pred, ref, s.num_scored_classes)
        if s.tc and self._prev is not None and self._prev.index == r.index - 1:
            tc_pair = self._tc_pair(self._prev, r)
            if tc_pair is not None:
                self.rows[-1]["tc"] = 100.0 * frame_miou(*tc_pair, s.num_model_classes)
                self.tc_cm.update(*tc_pair)
        if self.has_flow and not r.is_key and r.flow is not None:
            self._add_epe(r, row)
        self._prev = r
        self.preds.append(r.labels)
        self.rows.append(row)
        return row

    def _tc_pair(self, prev: FrameResult, cur: FrameResult) -> tuple[np.ndarray, np.ndarray] | None:
        """(prediction of t, prediction of t+1 warped back to t; 255 where the flow leaves the frame)."""
        flow, valid = self.scorer.tc_flow_of(self.clip, prev.index, cur.index)
        h, w = prev.labels.shape
        ys, xs = np.mgrid[0:h, 0:w]
        x = np.rint(xs + flow[..., 0]).astype(np.int64)
        y = np.rint(ys + flow[..., 1]).astype(np.int64)
        inside = valid & (x >= 0) & (x < w) & (y >= 0) & (y < h)
        if not inside.any():
            return None
        warped = np.full((h, w), IGNORE_INDEX, np.uint8)
        warped[inside] = cur.labels[y[inside], x[inside]]
        return prev.labels, warped

    def _add_epe(self, r: FrameResult, row: dict[str, Any]) -> None:
        s, clip = self.scorer, self.clip
        try:
            gt_flow, valid = clip.flow(r.index, r.key_index)
        except NoExactFlowError:
            self.has_flow = False
            return
        gt_lab = None  # per-class EPE needs the data's class of each frame pixel
        if s.reference.kind == "labels" and clip.labels is not None and clip.label_size == clip.size:
            gt_lab = clip.labels[r.index]
        self.epe.update(r.flow, gt_flow, valid, gt_lab)
        row["epe"] = flow_epe(r.flow, gt_flow, valid)

    # --- the clip -------------------------------------------------------------------------------------
    def close(self) -> dict[str, Any]:
        """Finish the clip: its share of loading time, its VC windows; returns the per-clip row."""
        s, clip = self.scorer, self.clip
        for row in self.rows:  # end-to-end time includes each frame's share of loading its clip
            row["e2e_s"] += self.load_s / max(len(self.rows), 1)
        dense = (
            all(r["labelled"] for r in self.rows)
            and isinstance(self.schedule, FixedInterval)
            and len(self.preds) == clip.num_frames
        )
        clip_vc = {n: float("nan") for n in VC_LENGTHS}
        vc = {n: np.zeros(0) for n in VC_LENGTHS}
        window_rows: list[dict[str, Any]] = []
        if dense and self.preds:
            refs = np.stack([self._reference(i) for i in range(clip.num_frames)])
            stack = np.stack([self._scored_pred(p, refs.shape[1:]) for p in self.preds])
            for n in VC_LENGTHS:
                vc[n] = video_consistency(refs, stack, n, per_window=True)
                window_rows += [
                    {"clip": clip.name, "n": n, "start": i, "vc": 100.0 * v} for i, v in enumerate(vc[n])
                ]
                clip_vc[n] = float(np.nanmean(vc[n])) if np.isfinite(vc[n]).any() else np.nan
        model_s = sum(r["model_s"] for r in self.rows)
        row = {
            "clip": clip.name,
            "frames": clip.num_frames,
            "predicted_frames": len(self.rows),
            "labelled_frames": int(sum(r["labelled"] for r in self.rows)),
            "reference": s.reference.kind,
            "miou": pct(self.cm.miou()),
            "wiou": pct(self.cm.wiou()),
            "tc": pct(self.tc_cm.miou()),
            "vc8": pct(clip_vc.get(8, np.nan)),
            "vc16": pct(clip_vc.get(16, np.nan)),
            "epe": _num(self.epe.mean()),
            "model_fps": len(self.rows) / model_s if model_s > 0 else np.nan,
            "load_s": self.load_s,
            "source": clip.source,
        }
        labels = None
        if s.keep_labels:
            labels = np.stack(self.preds) if self.preds else np.zeros((0, *clip.size), np.uint8)
        s.bundles.append(
            ClipBundle(self.clip_no, self.rows, row, window_rows, vc, self.cm, self.tc_cm, self.epe, labels)
        )
        self.preds = []
        return row


class Scorer:
    """Pools the scores of one method over clips (see the module docstring).

    Args:
        reference: what predictions are scored against.
        num_model_classes: the model's label space (TC is measured in it).
        flow_epe: measure flow EPE where clips have exact flow.
        keep_labels: keep every clip's predicted TxHxW label stack in `labels` (the app shows them).
        tc: measure temporal consistency; `tc_flow` "dis" (OpenCV DIS, any clip) or "exact" (the
            clip's exact flow where it has one, DIS elsewhere).
    """

    def __init__(
        self,
        reference: Reference,
        num_model_classes: int,
        *,
        flow_epe: bool = True,
        keep_labels: bool = False,
        tc: bool = True,
        tc_flow: str = "dis",
    ) -> None:
        if tc_flow not in TC_FLOWS:
            raise ValueError(f"tc_flow must be one of {TC_FLOWS}, got {tc_flow!r}")
        self.reference = reference
        self.num_scored_classes = len(reference.class_names)
        self.num_model_classes = int(num_model_classes)
        self.flow_epe = flow_epe
        self.keep_labels = keep_labels
        self.tc = tc
        self.tc_flow = tc_flow
        self.bundles: list[ClipBundle] = []
        self._dis: Callable | None = None

    def clip(
        self,
        clip: Clip,
        schedule: Schedule,
        load_s: float = 0.0,
        per_frame_labels: np.ndarray | None = None,
        index: int | None = None,
    ) -> ClipScore:
        """Start scoring a clip (its results must come in frame order).

        Args:
            per_frame_labels: TxHxW, the clip's reference when the reference is per_frame.
            index: the clip's position in the data (default: after the clips scored so far).
        """
        index = len(self.bundles) if index is None else index
        return ClipScore(self, clip, schedule, index, load_s, per_frame_labels, first=not self.bundles)

    def absorb(self, bundles: list[ClipBundle]) -> Scorer:
        """Add clips scored elsewhere (other torchrun processes); pooling follows the clip order."""
        self.bundles = sorted([*self.bundles, *bundles], key=lambda b: b.index)
        return self

    # --- pooled, in clip order ---------------------------------------------------------------------------
    @property
    def frame_rows(self) -> list[dict[str, Any]]:
        return [r for b in self._ordered() for r in b.rows]

    @property
    def clip_rows(self) -> list[dict[str, Any]]:
        return [b.clip_row for b in self._ordered()]

    @property
    def window_rows(self) -> list[dict[str, Any]]:
        return [w for b in self._ordered() for w in b.windows]

    @property
    def labels(self) -> dict[str, np.ndarray]:
        return {b.clip_row["clip"]: b.labels for b in self._ordered() if b.labels is not None}

    @property
    def cm(self) -> ConfusionMatrix:
        return _pooled(ConfusionMatrix(self.num_scored_classes), [b.cm for b in self._ordered()])

    @property
    def tc_cm(self) -> ConfusionMatrix:
        return _pooled(ConfusionMatrix(self.num_model_classes), [b.tc_cm for b in self._ordered()])

    @property
    def epe(self) -> FlowEPEAccumulator:
        return _pooled(FlowEPEAccumulator(self.num_scored_classes), [b.epe for b in self._ordered()])

    @property
    def vc(self) -> dict[int, VideoConsistencyAccumulator]:
        out = {n: VideoConsistencyAccumulator(n) for n in VC_LENGTHS}
        for b in self._ordered():
            for n, acc in out.items():
                acc.per_window.append(b.vc[n])
                acc.clip_names.append(b.clip_row["clip"])
        return out

    def _ordered(self) -> list[ClipBundle]:
        return sorted(self.bundles, key=lambda b: b.index)

    def tc_flow_of(self, clip: Clip, t: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow t -> t1 (HxWx2 px) and its validity, for TC (see the class docstring)."""
        if self.tc_flow == "exact" and clip.has_flow:
            return clip.flow(t, t1)
        if self._dis is None:
            from mpvss_core.optical_flow import ClassicalFlow, to_gray

            flow = ClassicalFlow("dis_medium")
            self._dis = lambda a, b: flow(to_gray(a), to_gray(b))
        f = self._dis(clip.frames[t], clip.frames[t1])
        return f, np.ones(f.shape[:2], bool)

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

    def scores(self) -> dict[str, Any]:
        """The pooled scores (percentages; EPE in pixels; None where nothing was measured)."""
        names = self.reference.class_names
        labelled = int(sum(r["labelled"] for r in self.frame_rows))
        cm, tc_cm, epe, vc = self.cm, self.tc_cm, self.epe, self.vc
        out = {
            "reference": self.reference.kind,
            "reference_text": self.reference.describe(),
            "num_clips": len(self.clip_rows),
            "num_frames": len(self.frame_rows),
            "num_labelled_frames": labelled,
            "miou": pct(cm.miou()),
            "wiou": pct(cm.wiou()),
            "pixel_accuracy": pct(cm.pixel_accuracy()),
            "per_class_iou": {n: pct(v) for n, v in zip(names, cm.per_class_iou(), strict=True)},
            "mvc8": pct(vc[8].value()),
            "mvc16": pct(vc[16].value()),
            "vc_clips": vc[8].num_clips,
            "tc": pct(tc_cm.miou()) if self.tc else None,
            "tc_flow": self.tc_flow if self.tc else None,
            "flow_epe": _num(epe.mean()) if epe.count else None,
            "per_class_epe": {n: _num(v) for n, v in zip(names, epe.per_class(), strict=True)},
            "flow_epe_pixels": int(epe.count),
        }
        if self.reference.match is not None:
            out["class_matching"] = self.reference.match.describe()
        return out
