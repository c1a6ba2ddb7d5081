"""Evaluation metrics, exactly as the MPVSS evaluation computes them (docs/method-notes.md §3).

- `ConfusionMatrix`: one matrix accumulated over all frames of all clips -> mIoU (both conventions of
  `MIOU_CONVENTIONS`), WIoU (frequency weighted IoU), per-class IoU, pixel accuracy.
- `video_consistency`, `VideoConsistencyAccumulator`, `pool_video_consistency`, `window_vc`: mVC_n with
  the window and skip conventions of the MRCFA `VC_perclip.py` script (`VC_SKIP_RULES`: the VSPW one too).
- `flow_epe`, `flow_epe_per_class`, `FlowEPEAccumulator`: optical-flow end-point error against exact flow.

All scores are fractions in [0, 1] (callers multiply by 100 to print percentages). "No data" is NaN,
never an exception. numpy only.

Package layout (one concept per module; import everything from `mpvss_core.metrics`): `confusion`
(confusion matrix, mIoU / WIoU), `consistency` (mVC_n) and `flow_epe` (end-point error).
"""

from __future__ import annotations

from mpvss_core.metrics.confusion import IGNORE_INDEX, MIOU_CONVENTIONS, ConfusionMatrix, frame_miou
from mpvss_core.metrics.consistency import (
    VC_MIN_LENGTH,
    VC_SKIP_RULES,
    VideoConsistencyAccumulator,
    pool_video_consistency,
    vc_min_length,
    video_consistency,
    window_vc,
)
from mpvss_core.metrics.flow_epe import FlowEPEAccumulator, flow_epe, flow_epe_per_class

__all__ = [
    "ConfusionMatrix",
    "FlowEPEAccumulator",
    "IGNORE_INDEX",
    "MIOU_CONVENTIONS",
    "VC_MIN_LENGTH",
    "VC_SKIP_RULES",
    "VideoConsistencyAccumulator",
    "flow_epe",
    "flow_epe_per_class",
    "frame_miou",
    "pool_video_consistency",
    "vc_min_length",
    "video_consistency",
    "window_vc",
]
