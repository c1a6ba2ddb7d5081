"""What a propagation method yields per frame (`FrameResult`), and the helpers the methods share.

Diagnostics are requested by name (`diagnostics=True` asks for all of them):

- "masks": per-query mask logits Qxhxw (h, w = 1/4 of the frame padded to a multiple of 32; warped
  to the frame on non-key frames) and per-query class probabilities Qx(K+1) (last = no object);
- "flows": the per-query flows Qx2xh8xw8 of learned methods on the 1/8 grid, in pixels of that grid
  (`fused_flow` = the flow the masks were warped with, `query_flow` and `pixel_flow` (2xh8xw8) when
  that branch exists), or the classical flow HxWx2 of the optical-flow baselines;
- "flow": the frame-level flow estimate `flow` HxWx2 current -> key in frame pixels (see
  `winner_flow`), what flow end-point error is measured on;
- "attention": the flow queries' attention maps per decoder layer (learned methods).

Timings (seconds) are always there: `model_s` (frame conversion, segmenter / flow / warping,
semantic inference, argmax to a numpy label map, synchronised on CUDA), `e2e_s` (`model_s` +
producing the frame: reading or decoding it), `diagnostics_s` (extracting the requested diagnostics,
in neither: they serve inspection and metrics, not the prediction), and the parts a method has
(`segment_s`, `flow_s` for the classical flow's CPU time, `propagate_s`, `hidden_key_s` for a key
frame that was segmented but is not itself a predicted frame and is charged to the first frame that
uses it). What the consumer does between frames (drawing, writing) is in none of them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import InputError
from .modeling.warp import resize_flow

__all__ = [
    "DIAGNOSTICS",
    "FrameResult",
    "check_frame",
    "check_frame_size",
    "diagnostic_set",
    "mask_logits_to_frame",
    "query_flows_to_frame",
    "to_image_tensor",
    "winner_flow",
]

DIAGNOSTICS: tuple[str, ...] = ("masks", "flows", "flow", "attention")
MIN_SIDE = 16  # the smallest frame side any method accepts (checked on every frame)


@dataclass
class FrameResult:
    """One frame's prediction (see the module docstring for the diagnostics).

    Attributes:
        index: frame index in the clip.
        is_key: the segmenter ran on this frame and produced its labels.
        key_index: the key frame the labels come from (== index on key frames).
        labels: HxW uint8 class ids.
        next_key_index: bi-directional methods: the later key frame fused in, or None (uni-directional).
        mask_logits, class_probs, flow, fused_flow, query_flow, pixel_flow, attention: diagnostics.
        timings: seconds, see the module docstring.
        frame: the HxWx3 input frame, when the caller asked for it (overlays), else None.
    """

    index: int
    is_key: bool
    key_index: int
    labels: np.ndarray
    next_key_index: int | None = None
    mask_logits: np.ndarray | None = None
    class_probs: np.ndarray | None = None
    flow: np.ndarray | None = None
    fused_flow: np.ndarray | None = None
    query_flow: np.ndarray | None = None
    pixel_flow: np.ndarray | None = None
    attention: list[dict[str, Any]] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    frame: np.ndarray | None = None  # the input frame, when asked for (`VideoPredictor.propagate`)

    @property
    def distance(self) -> int:
        """Frames since the key frame the labels come from (0 on key frames)."""
        return self.index - self.key_index


def diagnostic_set(diagnostics: bool | Collection[str]) -> frozenset[str]:
    """`True` -> every diagnostic, `False` -> none, or a collection of names from DIAGNOSTICS."""
    if diagnostics is True:
        return frozenset(DIAGNOSTICS)
    if not diagnostics:
        return frozenset()
    if isinstance(diagnostics, str):
        diagnostics = [diagnostics]
    unknown = sorted(set(diagnostics) - set(DIAGNOSTICS))
    if unknown:
        raise ValueError(f"unknown diagnostics {unknown}; choose from {DIAGNOSTICS}")
    return frozenset(diagnostics)


def check_frame(frame: Any, size: tuple[int, int] | None, index: int) -> np.ndarray:
    """Validate one input frame: HxWx3 uint8 RGB of the clip's size (raises InputError)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame {index} must be HxWx3 RGB, got an array of shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise InputError(f"frame {index} must be uint8 (0..255), got {frame.dtype}")
    if size is not None and frame.shape[:2] != size:
        raise InputError(
            f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but the clip's first frame is "
            f"{size[1]}x{size[0]}: all frames of a clip must have one size"
        )
    check_frame_size(frame.shape[:2], what=f"frame {index}")
    return frame


def check_frame_size(
    size: tuple[int, int], source: tuple[int, int] | None = None, what: str = "the frame"
) -> None:
    """Refuse a frame size (H, W) with a side under MIN_SIDE; messages give sizes as WxH.

    `source` is the (H, W) before a resolution cap: when the cap made the frames too small, the
    message gives both, so a 2000x4 video is not reported by the 1280x3 it would run at.
    """
    if min(size) >= MIN_SIDE:
        return
    ran, need = f"{size[1]}x{size[0]}", f"at least {MIN_SIDE}x{MIN_SIDE} is needed"
    if source is not None and tuple(source) != tuple(size):
        raise InputError(
            f"the frames are {source[1]}x{source[0]} and would run at {ran} after the resolution cap "
            f"(longer side at most {max(size)}): {need}"
        )
    raise InputError(f"{what} is {ran}: {need}")


def to_image_tensor(frame: np.ndarray, device: torch.device) -> Tensor:
    """HxWx3 uint8 -> 1x3xHxW float32 RGB 0..255 on `device` (the model's input convention)."""
    return torch.from_numpy(frame).to(device).permute(2, 0, 1).unsqueeze(0).float()


def labels_of(scores: Tensor) -> np.ndarray:
    """1xKxHxW semantic scores -> HxW uint8 labels (argmax; K <= 255 classes)."""
    from mpvss_core.modeling import semantic

    return semantic.scores_to_labels(scores)[0].cpu().numpy()


def winner_flow(
    class_logits: Tensor, mask_logits: Tensor, flow: Tensor, labels: Tensor, size: tuple[int, int]
) -> np.ndarray:
    """Frame-level flow estimate of a per-query flow: at each pixel, the flow of the winning query.

    Semantic inference scores class c at pixel p as `sum_q P_q(c) sigmoid(m_q(p))`; the winning query
    at p is the one contributing most to the winning class c*(p): argmax_q P_q(c*) sigmoid(m_q(p)),
    with m_q the query's *warped* mask logits. Its flow (1/8 grid) is upsampled to the padded frame,
    scaled to frame pixels and cropped. When every query shares one flow (pixel-wise flow only) this
    is exactly that flow.

    Args:
        class_logits: 1xQx(K+1).
        mask_logits: 1xQxhxw warped mask logits (1/4 of the padded frame).
        flow: 1xQx2xh8xw8 per-query flow in pixels of its grid.
        labels: HxW long, the predicted labels.
        size: (H, W) of the frame.
    Returns:
        HxWx2 float32 flow current -> key in frame pixels.
    """
    height, width = size
    padded = (4 * mask_logits.shape[-2], 4 * mask_logits.shape[-1])
    probs = class_logits[0].softmax(-1)[:, :-1]  # QxK
    masks = F.interpolate(mask_logits, size=padded, mode="bilinear", align_corners=False)[0]
    masks = masks[:, :height, :width].sigmoid()  # QxHxW
    winner = (probs[:, labels] * masks).argmax(0)  # HxW
    full = resize_flow(flow[0], padded)[..., :height, :width]  # Qx2xHxW in frame pixels
    est = full.gather(0, winner[None, None].expand(1, 2, height, width))[0]
    return est.permute(1, 2, 0).float().cpu().numpy()


def query_flows_to_frame(flows: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flows on the 1/8 grid of the padded frame (Qx2xh8xw8 or 2xh8xw8, pixels of that grid), e.g. the
    `fused_flow` / `query_flow` / `pixel_flow` diagnostics -> QxHxWx2 (or HxWx2) float32 in frame pixels.

    The same resize + crop as `winner_flow`, for inspecting one query's flow at a time.
    """
    single = flows.ndim == 3
    f = torch.from_numpy(np.asarray(flows, np.float32))[None] if single else torch.from_numpy(flows).float()
    padded = (8 * f.shape[-2], 8 * f.shape[-1])
    full = resize_flow(f, padded)[..., : size[0], : size[1]].permute(0, 2, 3, 1).contiguous().numpy()
    return full[0] if single else full


def mask_logits_to_frame(mask_logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Qxhxw mask logits (1/4 of the padded frame, the `mask_logits` diagnostic) -> QxHxW float32,
    upsampled bilinearly and cropped as semantic inference does."""
    m = torch.from_numpy(np.asarray(mask_logits, np.float32))[None]
    padded = (4 * m.shape[-2], 4 * m.shape[-1])
    m = F.interpolate(m, size=padded, mode="bilinear", align_corners=False)
    return m[0, :, : size[0], : size[1]].contiguous().numpy()


def attention_to_numpy(attention: list | None) -> list[dict[str, Any]] | None:
    """FlowAttention list (batch 1) -> list of dicts with numpy `maps` Qxhxw and `motion_mass` Q."""
    if attention is None:
        return None
    return [
        {
            "layer": a.layer,
            "stage": a.stage,
            "scale": a.scale,
            "maps": a.maps[0].float().cpu().numpy(),
            "motion_mass": a.motion_mass[0].float().cpu().numpy(),
        }
        for a in attention
    ]
