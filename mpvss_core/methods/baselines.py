"""The methods that need only the key-frame segmenter: per-frame, copy, and classical optical flow.

| method | non-key frame |
|---|---|
| `per_frame` | the segmenter runs on every frame (every frame is a key frame) |
| `copy` | the key frame's labels (its implied flow is zero) |
| `optical_flow` | OpenCV DIS flow current -> key; the key's per-query mask logits warped by it |
| `bi_optical_flow` | the same from the previous and the next key frame, score maps fused |

The optical-flow baselines warp the key frame's per-query MASK LOGITS (not its label map) with
`backward_warp`, as MPVSS warps masks with its learned flow, then run the same semantic inference
with the key's class logits.
"""

from __future__ import annotations

import time

import numpy as np
from torch import Tensor

from mpvss_core.frame_result import FrameResult
from mpvss_core.methods.optical_flow import ClassicalFlow, flow_to_mask_grid, to_gray
from mpvss_core.methods.propagator import KeyFrame, Propagator, sync
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.warp import backward_warp

__all__ = ["Copy", "OpticalFlow", "PerFrame"]


class PerFrame(Propagator):
    """The segmenter on every predicted frame (Table II "Per-frame")."""

    every_frame_key = True


class Copy(Propagator):
    """Non-key frames repeat the key frame's labels (Figure A "Copy"); its implied flow is zero."""

    def _predict(self, frame, index, key, nxt, diag):
        r = FrameResult(index, False, key.index, key.labels.copy())
        if "masks" in diag:
            self._fill_masks(r, key.state.class_logits, key.state.mask_logits)
        if "flow" in diag or "flows" in diag:
            r.flow = np.zeros((*frame.shape[:2], 2), np.float32)
        return r, 0.0


class OpticalFlow(Propagator):
    """Key-frame mask logits warped by classical optical flow current -> key (OpenCV DIS by default);
    from both neighbouring key frames when the method is bi-directional."""

    def __init__(
        self, model: MPVSS, method: str = "optical_flow", flow_algorithm: str = "dis_medium", **kwargs
    ) -> None:
        super().__init__(model, method, **kwargs)
        self.flow = ClassicalFlow(flow_algorithm)

    def _flow_to(self, key: KeyFrame, gray: np.ndarray) -> tuple[np.ndarray, float]:
        """(HxWx2 flow current -> key, seconds) of the classical flow algorithm."""
        if key.gray is None:
            key.gray = to_gray(key.frame)
        t0 = time.perf_counter()
        flow = self.flow(gray, key.gray)
        return flow, time.perf_counter() - t0

    def _warp_from(
        self, key: KeyFrame, gray: np.ndarray, keep: Tensor | None = None
    ) -> tuple[Tensor, np.ndarray, float]:
        """(warped mask logits of the `keep` queries (all: None), HxWx2 flow, flow seconds) of the frame
        from one key."""
        flow, flow_s = self._flow_to(key, gray)
        mask_logits = key.state.mask_logits if keep is None else key.state.mask_logits[:, keep]
        grid = flow_to_mask_grid(flow, mask_logits.shape[-2:], self.device)
        warped = backward_warp(mask_logits, grid, self.model.cfg.warp_mode)  # float32 grid (also bf16 masks)
        return warped, flow, flow_s

    def _predict(self, frame, index, key, nxt, diag):
        t0 = time.perf_counter()
        gray = to_gray(frame)
        keep = self.kept_queries(key, diag)
        warped, flow, flow_s = self._warp_from(key, gray, keep)
        classes = key.state.class_logits if keep is None else key.state.class_logits[:, keep]
        w_key, w_next = self._weights(index, key, nxt)
        parts = [(classes, warped, w_key)]
        if nxt is not None:
            keep_next = self.kept_queries(nxt, diag)
            warped_next, _, flow_next_s = self._warp_from(nxt, gray, keep_next)
            next_classes = (
                nxt.state.class_logits if keep_next is None else nxt.state.class_logits[:, keep_next]
            )
            parts.append((next_classes, warped_next, w_next))
            flow_s += flow_next_s
        labels = self.labels(parts, frame.shape[:2])
        sync(self.device)
        t_model = time.perf_counter() - t0
        r = FrameResult(index, False, key.index, labels, next_key_index=None if nxt is None else nxt.index)
        if "masks" in diag:
            self._fill_masks(r, key.state.class_logits, warped)  # warped from the previous key
        if "flow" in diag or "flows" in diag:
            r.flow = flow  # current -> previous key
        r.timings = {"flow_s": flow_s}
        return r, t_model
