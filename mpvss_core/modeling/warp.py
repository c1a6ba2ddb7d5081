"""Backward warping by a per-sample flow field (the pixel-coordinate <-> grid_sample convention).

Convention (the same as the synthetic benchmark's `clip.flow(src, dst)` with src = the frame being
predicted and dst = the key frame): output pixel p samples `x` at `p + flow(p)`, with pixel centres at
integer coordinates (0 .. W-1). Channel 0 of the flow is dx (horizontal), channel 1 is dy.

A flow on a coarser grid (the flow module predicts at 1/8 of the padded frame, masks live at 1/4) is
bilinearly resized to x's grid (align_corners=False) and its values are scaled by W/w and H/h, so the
flow is always in pixels of the grid it lives on (mmtracking `flow_warp_feats`, docs/method-notes.md §1.9).

Modes:
- "exact": the normalised coordinate is `2 * x / (W - 1) - 1` with `align_corners=True`, so sampling at
  an integer coordinate returns exactly that pixel.
- "compat": the official code's `2 * x / W - 1` with `align_corners=True`. A requested coordinate x is
  sampled at `x * (W - 1) / W`, i.e. shifted by `x / W` px toward the left (and `y / H` toward the top):
  0 at the left/top edge, growing linearly to (W-1)/W ~ 1 px at the right/bottom edge.

Out-of-frame samples copy the border value (`padding_mode="border"`, as the official code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["backward_warp", "resize_flow"]


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinearly resize an Nx2xhxw pixel flow to Nx2xHxW and rescale its values to the new grid.

    The memory format is kept (a channels-last flow stays channels-last)."""
    h, w = flow.shape[-2:]
    height, width = size
    if (h, w) == (height, width):
        return flow
    flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    # dx is measured in pixels of the old grid: a displacement of 1 coarse pixel spans W/w fine pixels
    scale = torch.tensor([width / w, height / h], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
    return flow * scale


def backward_warp(x: Tensor, flow: Tensor, mode: str = "exact") -> Tensor:
    """Sample `x` at `p + flow(p)` for every output pixel p (bilinear, border padding).

    Args:
        x: NxCxHxW tensor to warp (e.g. per-query mask logits, C=1).
        flow: Nx2xhxw flow in pixels of its own grid (channel 0 = dx, 1 = dy); resized to HxW if needed.
        mode: "exact" (correct /(W-1) normaliser) or "compat" (the official /W normaliser).
    Returns:
        NxCxHxW warped tensor.
    """
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"expected x NxCxHxW and flow Nx2xhxw, got {tuple(x.shape)} and {tuple(flow.shape)}")
    if x.shape[0] != flow.shape[0]:
        raise ValueError(f"batch sizes differ: x {x.shape[0]}, flow {flow.shape[0]}")
    if mode not in ("exact", "compat"):
        raise ValueError(f"mode must be 'exact' or 'compat', got {mode!r}")
    height, width = x.shape[-2:]
    out_dtype = x.dtype
    if x.dtype in (torch.float16, torch.bfloat16):
        # half-precision coordinates are off by up to a pixel at a few hundred pixels: warp in float32
        x = x.float()
    if mode == "exact":
        # max(.., 1): a single row/column has only one valid coordinate, 0, which maps to -1
        norm_x, norm_y = max(width - 1, 1), max(height - 1, 1)
    else:
        norm_x, norm_y = width, height
    # channels-first: resizing a 2-channel flow is slower channels-last (e.g. from channels-last convs)
    flow = flow.to(x.dtype).contiguous()
    h, w = flow.shape[-2:]
    if (h, w) != (height, width):
        flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
    # grid = (p + s * f) * 2 / norm - 1 = base + f * (2 s / norm): `resize_flow`'s coarse-to-fine scale
    # s folded into one factor, base = p * 2 / norm - 1 cached per size; one pass over the grid, not four
    factor = torch.tensor(
        [2.0 * width / (w * norm_x), 2.0 * height / (h * norm_y)], dtype=x.dtype, device=x.device
    )
    grid = torch.addcmul(_base_grid(height, width, norm_x, norm_y, x), flow.permute(0, 2, 3, 1), factor)
    # autocast would run grid_sample in half precision: keep it float32
    with torch.autocast(x.device.type, enabled=False):
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.to(out_dtype)


_BASE_GRIDS: dict[tuple, Tensor] = {}


def _base_grid(height: int, width: int, norm_x: float, norm_y: float, like: Tensor) -> Tensor:
    """1xHxWx2 normalised coordinates of the pixel centres, `p * 2 / norm - 1` (x first), cached."""
    key = (height, width, norm_x, norm_y, like.dtype, like.device)
    grid = _BASE_GRIDS.get(key)
    if grid is None:
        with torch.no_grad(), torch.inference_mode(False):
            grid = _pixel_grid(height, width, like) * _norm(norm_x, norm_y, like) - 1.0
        # only plain tensors are kept: one made under FLOP counting's FakeTensorMode has no data
        if type(grid) is torch.Tensor and type(like) is torch.Tensor:
            if len(_BASE_GRIDS) > 32:  # frame sizes changed: drop the old grids
                _BASE_GRIDS.clear()
            _BASE_GRIDS[key] = grid
    return grid


def _pixel_grid(height: int, width: int, like: Tensor) -> Tensor:
    """1xHxWx2 pixel coordinates (x, y)."""
    ys = torch.arange(height, dtype=like.dtype, device=like.device).view(height, 1).expand(height, width)
    xs = torch.arange(width, dtype=like.dtype, device=like.device).view(1, width).expand(height, width)
    return torch.stack((xs, ys), dim=-1).unsqueeze(0)


def _norm(norm_x: float, norm_y: float, like: Tensor) -> Tensor:
    return torch.tensor([2.0 / norm_x, 2.0 / norm_y], dtype=like.dtype, device=like.device)
