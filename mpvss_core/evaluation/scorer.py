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

Conventions (docs/method-notes.md §3, `mpvss_core.metrics`):
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
from typing import Any

import numpy as np
import pandas as pd

from mpvss_core.data.clip import Clip
from mpvss_core.evaluation.clip_score import (
    FRAME_COLUMNS,
    VC_LENGTHS,
    WINDOW_COLUMNS,
    ClipBundle,
    ClipScore,
    finite_or_none,
    is_warmup,
    pct,
)
from mpvss_core.evaluation.reference import Reference
from mpvss_core.metrics import (
    ConfusionMatrix,
    FlowEPEAccumulator,
    VideoConsistencyAccumulator,
    vc_min_length,
)
from mpvss_core.schedules import Schedule

__all__ = ["ClipScore", "Reference", "Scorer", "VC_LENGTHS", "is_warmup", "pct"]

TC_FLOWS = ("dis", "exact")


def _pooled(into, parts):
    for p in parts:
        into.merge(p)
    return into


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
        """n -> the pooled VC windows under the default (MRCFA) skip rule."""
        return self._pooled_vc("mrcfa")

    def _pooled_vc(self, rule: str) -> dict[int, VideoConsistencyAccumulator]:
        out = {n: VideoConsistencyAccumulator(n, vc_min_length(n, rule)) for n in VC_LENGTHS}
        for b in self._ordered():
            windows = b.vc if rule == "mrcfa" else b.vc_vspw
            for n, acc in out.items():
                acc.per_window.append(windows.get(n, np.zeros(0)))
                acc.clip_names.append(b.clip_row["clip"])
        return out

    def _ordered(self) -> list[ClipBundle]:
        return sorted(self.bundles, key=lambda b: b.index)

    def tc_flow_of(self, clip: Clip, t: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
        """Flow t -> t1 (HxWx2 px) and its validity, for TC (see the class docstring)."""
        if self.tc_flow == "exact" and clip.has_flow:
            return clip.flow(t, t1)
        if self._dis is None:
            from mpvss_core.methods.optical_flow import ClassicalFlow, to_gray

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
        cm, tc_cm, epe, vc, vspw = self.cm, self.tc_cm, self.epe, self.vc, self._pooled_vc("vspw")
        out = {
            "reference": self.reference.kind,
            "reference_text": self.reference.describe(),
            "num_clips": len(self.clip_rows),
            "num_frames": len(self.frame_rows),
            "num_labelled_frames": labelled,
            "miou": pct(cm.miou()),  # official MPVSS convention (metrics.MIOU_CONVENTIONS)
            "miou_gt_classes": pct(cm.miou("gt_classes")),  # VSPW benchmark / current detectron2
            "wiou": pct(cm.wiou()),
            "pixel_accuracy": pct(cm.pixel_accuracy()),
            "per_class_iou": {n: pct(v) for n, v in zip(names, cm.per_class_iou(), strict=True)},
            "mvc8": pct(vc[8].value()),
            "mvc16": pct(vc[16].value()),
            "vc_clips": vc[8].num_clips,
            # the VSPW benchmark's skip rule (clips of L <= n frames skipped, not L <= 16)
            "mvc8_vspw_rule": pct(vspw[8].value()),
            "mvc16_vspw_rule": pct(vspw[16].value()),
            "tc": pct(tc_cm.miou()) if self.tc else None,
            "tc_flow": self.tc_flow if self.tc else None,
            "flow_epe": finite_or_none(epe.mean()) if epe.count else None,
            "per_class_epe": {n: finite_or_none(v) for n, v in zip(names, epe.per_class(), strict=True)},
            "flow_epe_pixels": int(epe.count),
        }
        if self.reference.match is not None:
            out["class_matching"] = self.reference.match.describe()
        return out
