"""Classical optical flow for the optical-flow baselines (OpenCV DIS; Farneback as an alternative).

Convention (the same as `modeling.warp.backward_warp` and the synthetic benchmark's exact flow
`clip.flow(src, dst)`): `flow = ClassicalFlow()(current, key)` is HxWx2 float32 (dx, dy) in pixels
such that pixel p of `current` shows what `key` shows at `p + flow[p]`, i.e. sampling the key frame
at p + flow(p) warps it into the current frame. It is computed on full-resolution grayscale frames
(OpenCV `calc(gray_current, gray_key)`, docs/method-notes.md §5).

`flow_to_mask_grid` brings such a flow onto the Mask2Former mask grid (1/4 of the frame padded to a
multiple of 32), where the baselines warp the key frame's per-query mask logits, as MPVSS does with
its learned flow.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

__all__ = ["FLOW_ALGORITHMS", "ClassicalFlow", "flow_to_mask_grid", "to_gray"]

_DIS_PRESETS = {
    "dis_ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "dis_fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "dis_medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FLOW_ALGORITHMS: tuple[str, ...] = (*_DIS_PRESETS, "farneback")


def to_gray(frame: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW uint8 grayscale (OpenCV's flow algorithms work on one channel)."""
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


class ClassicalFlow:
    """Backward optical flow current -> key with OpenCV (default: DIS, MEDIUM preset).

    Args:
        algorithm: "dis_medium" (default), "dis_fast", "dis_ultrafast" or "farneback".
    """

    def __init__(self, algorithm: str = "dis_medium") -> None:
        if algorithm not in FLOW_ALGORITHMS:
            raise ValueError(f"unknown flow algorithm {algorithm!r}; choose one of {FLOW_ALGORITHMS}")
        self.algorithm = algorithm
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[algorithm]) if algorithm in _DIS_PRESETS else None

    def __call__(self, current: np.ndarray, key: np.ndarray) -> np.ndarray:
        """HxWx2 float32 flow such that `current[p]` ~ `key[p + flow[p]]` (frames RGB or grayscale)."""
        cur = current if current.ndim == 2 else to_gray(current)
        ref = key if key.ndim == 2 else to_gray(key)
        if cur.shape != ref.shape:
            raise ValueError(f"frames differ in size: {cur.shape} vs {ref.shape}")
        if self._dis is not None:
            return self._dis.calc(cur, ref, None)
        return cv2.calcOpticalFlowFarneback(cur, ref, None, 0.5, 4, 21, 5, 7, 1.5, 0)

    def __repr__(self) -> str:
        return f"ClassicalFlow({self.algorithm!r})"


def flow_to_mask_grid(flow: np.ndarray, grid: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """Full-resolution HxWx2 pixel flow -> 1x2xhxw flow on the mask grid, in pixels of that grid.

    The mask grid (h, w) covers the frame padded at the bottom/right to (4h, 4w) >= (H, W): the flow
    is edge-padded to that size (the padded area is cropped away by semantic inference anyway),
    area-averaged down to (h, w) and its values divided by 4 (a displacement of 4 frame pixels is 1
    grid pixel).
    """
    height, width = flow.shape[:2]
    h, w = grid
    pad_h, pad_w = 4 * h - height, 4 * w - width
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"mask grid {grid} is smaller than a quarter of the frame {flow.shape[:2]}")
    padded = cv2.copyMakeBorder(flow, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE) if pad_h or pad_w else flow
    small = cv2.resize(padded, (w, h), interpolation=cv2.INTER_AREA) * np.float32(0.25)
    return torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None].to(device)
