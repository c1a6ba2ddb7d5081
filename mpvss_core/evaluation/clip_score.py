"""One clip's scores while its results arrive: per-frame rows, its confusion matrices, TC pairs, flow
EPE and VC windows (`evaluation.scorer` pools them over clips; its docstring has the conventions).

    cs = scorer.clip(clip, schedule)       # a ClipScore
    for r in results:
        row = cs.add(r)                    # the frame's row
    cs.close()                             # the clip's row; a ClipBundle for the scorer
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mpvss_core.data.clip import Clip, NoExactFlowError
from mpvss_core.evaluation.reference import Reference
from mpvss_core.frame_result import FrameResult
from mpvss_core.labels import IGNORE_INDEX, resize_nearest
from mpvss_core.metrics import (
    ConfusionMatrix,
    FlowEPEAccumulator,
    flow_epe,
    frame_miou,
    vc_min_length,
    video_consistency,
)
from mpvss_core.schedules import FixedInterval, Schedule

__all__ = [
    "FRAME_COLUMNS",
    "VC_LENGTHS",
    "WINDOW_COLUMNS",
    "ClipBundle",
    "ClipScore",
    "ScoringRules",
    "finite_or_none",
    "is_warmup",
    "pct",
]

VC_LENGTHS = (8, 16)
TIMING_KEYS = ("model_s", "e2e_s", "segment_s", "propagate_s", "flow_s")
FRAME_COLUMNS = ["clip", "frame", "is_key", "key_index", "next_key_index", "distance", "labelled",
                 "miou", "tc", "epe", *TIMING_KEYS, "timed"]  # fmt: skip
WINDOW_COLUMNS = ["clip", "n", "start", "vc"]


def pct(x: float | None) -> float | None:
    """Fraction -> percentage (NaN/None -> None)."""
    return None if x is None or not np.isfinite(x) else 100.0 * float(x)


def finite_or_none(x: float | None) -> float | None:
    """A finite number as float, else None (NaN/None -> None)."""
    return None if x is None or not np.isfinite(x) else float(x)


def is_warmup(clip_no: int, key_index: int, first_key: int) -> bool:
    """The warm-up rule: frames of the first key-frame cycle of the first clip are not timed."""
    return clip_no == 0 and key_index == first_key


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
    # n -> VC of every window under the VSPW benchmark's skip rule (metrics.VC_SKIP_RULES)
    vc_vspw: dict[int, np.ndarray] = field(default_factory=dict)


class ScoringRules(Protocol):
    """What a clip's scoring reads of the pooling scorer (`scorer.Scorer` is one): the reference, the
    label spaces, what is measured, the flow TC uses, and where a closed clip's bundle goes. A protocol,
    so this module needs no import of the scorer that imports it."""

    reference: Reference
    num_scored_classes: int
    num_model_classes: int
    flow_epe: bool
    keep_labels: bool
    tc: bool
    bundles: list[ClipBundle]

    def tc_flow_of(self, clip: Clip, t: int, t1: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class ClipScore:
    """Scores of one clip while its results arrive (made by `Scorer.clip`)."""

    scorer: ScoringRules
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
        vc_vspw = {n: np.zeros(0) for n in VC_LENGTHS}
        window_rows: list[dict[str, Any]] = []
        if dense and self.preds:
            refs = np.stack([self._reference(i) for i in range(clip.num_frames)])
            stack = np.stack([self._scored_pred(p, refs.shape[1:]) for p in self.preds])
            for n in VC_LENGTHS:
                # every window once; the two skip rules only choose which clips keep theirs
                windows = video_consistency(refs, stack, n, min_length=0, per_window=True)
                vc[n] = windows if len(self.preds) > vc_min_length(n, "mrcfa") else np.zeros(0)
                vc_vspw[n] = windows if len(self.preds) > vc_min_length(n, "vspw") else np.zeros(0)
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
            "miou_gt_classes": pct(self.cm.miou("gt_classes")),
            "wiou": pct(self.cm.wiou()),
            "tc": pct(self.tc_cm.miou()),
            "vc8": pct(clip_vc.get(8, np.nan)),
            "vc16": pct(clip_vc.get(16, np.nan)),
            "epe": finite_or_none(self.epe.mean()),
            "model_fps": len(self.rows) / model_s if model_s > 0 else np.nan,
            "load_s": self.load_s,
            "source": clip.source,
        }
        labels = None
        if s.keep_labels:
            labels = np.stack(self.preds) if self.preds else np.zeros((0, *clip.size), np.uint8)
        s.bundles.append(
            ClipBundle(
                self.clip_no, self.rows, row, window_rows, vc, self.cm, self.tc_cm, self.epe, labels, vc_vspw
            )
        )
        self.preds = []
        return row
