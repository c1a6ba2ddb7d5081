"""Exact-flow supervision of the per-query flows: an optional addition to the paper's stage-1 loss.

The paper trains the flow module through the segmentation loss alone (docs/method-notes.md §1.12): the only
gradient a flow receives comes from `grid_sample`'s dependence on the sampling grid. That needs the
official 90k iterations at batch 16; on a CPU budget of a few hundred steps the learned flows stay at
their initial value (our shipped runs at 300-1,400 steps moved masks barely more than copying). When
the training data carries exact flow (the synthetic benchmark does), this loss supervises the final
per-query flow with it directly, FlowNet-style (end-point error), but only where it matters for the
query: each query's error is weighted by where its key-frame mask lands in the target frame, times its
object probability. So a query must move its own segment correctly and is free elsewhere, which keeps
the flows per-query rather than forcing one dense flow on every query.

    loss = flow_supervision_loss(flow, gt_flow, gt_valid, class_logits, mask_logits)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .warp import backward_warp

__all__ = ["dense_flow_loss", "flow_supervision_loss", "pool_flow"]


def pool_flow(flow: Tensor, valid: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """Average an image-pixel flow over factor x factor cells, in pixels of the coarse grid.

    Args:
        flow: Bx2xHxW flow in pixels (H, W divisible by `factor`); valid: BxHxW bool.
    Returns:
        (Bx2x(H/f)x(W/f) mean flow of the valid pixels of each cell, divided by f;
         Bx(H/f)x(W/f) bool: at least half the cell is valid).
    """
    v = valid.unsqueeze(1).to(flow.dtype)
    den = F.avg_pool2d(v, factor)
    num = F.avg_pool2d(flow * v, factor)
    return num / den.clamp_min(1e-6) / factor, den[:, 0] >= 0.5


def flow_supervision_loss(
    flow: Tensor,
    gt_flow: Tensor,
    gt_valid: Tensor,
    class_logits: Tensor,
    mask_logits: Tensor,
    warp_mode: str = "exact",
) -> Tensor:
    """Mask-weighted end-point error of the per-query flows (target -> key) against the exact flow.

    Args:
        flow: BxQx2xhxw predicted flows on the flow grid (1/8 of the padded frame), in its pixels.
        gt_flow: Bx2xHxW exact flow from the target frame to the key frame, image pixels (HxW unpadded).
        gt_valid: BxHxW bool, False where the point is hidden in the key frame or outside it.
        class_logits: BxQx(C+1) key-frame class logits (last = no object); no gradient flows into them.
        mask_logits: BxQx(2h)x(2w) key-frame mask logits (1/4 of the padded frame); no gradient either.
        warp_mode: the model's warp mode, used to move the key masks by the exact flow.
    Returns:
        Scalar: sum over queries and pixels of weight * |flow - gt| / sum of weights, where the weight of
        query q at pixel p is P(q is an object) * sigmoid(key mask q) at p + gt(p), on valid pixels.
    """
    batch, queries, _, h, w = flow.shape
    mh, mw = mask_logits.shape[-2:]
    if (mh, mw) != (2 * h, 2 * w):
        raise ValueError(f"mask grid {mh}x{mw} is not twice the flow grid {h}x{w}")
    gt, valid = _padded(gt_flow, gt_valid, (8 * h, 8 * w))
    with torch.no_grad():
        gt4, _ = pool_flow(gt, valid, 4)
        # where each key-frame segment lands in the target frame: its mask sampled at p + gt(p)
        landed = backward_warp(mask_logits.detach().float().sigmoid(), gt4, warp_mode)
        objectness = 1.0 - class_logits.detach().float().softmax(-1)[..., -1]
        gt8, valid8 = pool_flow(gt, valid, 8)
        weight = F.avg_pool2d(landed, 2) * objectness[..., None, None] * valid8.unsqueeze(1)
    epe = (flow.float() - gt8.unsqueeze(1)).square().sum(2).add(1e-9).sqrt()  # BxQxhxw
    return (epe * weight).sum() / weight.sum().clamp_min(1e-6)


def _padded(gt_flow: Tensor, gt_valid: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Exact flow Bx2xHxW and validity BxHxW padded bottom/right (invalid) to the padded frame `size`."""
    height, width = gt_flow.shape[-2:]
    pad_h, pad_w = size[0] - height, size[1] - width
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"exact flow {height}x{width} is larger than the padded frame {size[0]}x{size[1]}")
    gt = F.pad(gt_flow.float(), (0, pad_w, 0, pad_h))
    return gt, F.pad(gt_valid, (0, pad_w, 0, pad_h), value=False)


def dense_flow_loss(flow: Tensor, gt_flow: Tensor, gt_valid: Tensor) -> Tensor:
    """FlowNet-style end-point error of one dense flow: the flow pre-training loss (`--pretrain-flow`).

    Unlike `flow_supervision_loss` there are no queries and no masks: every valid cell counts the same,
    as when a FlowNet is pre-trained on synthetic flow.

    Args:
        flow: Bx2xhxw predicted flow (target -> key) on the flow grid (1/8 of the padded frame), in its
            pixels.
        gt_flow: Bx2xHxW exact flow, image pixels (HxW unpadded, at most 8h x 8w); gt_valid: BxHxW bool.
    Returns:
        Scalar: mean over the cells with at least half their pixels valid of |flow - gt/8|.
    """
    h, w = flow.shape[-2:]
    gt, valid = _padded(gt_flow, gt_valid, (8 * h, 8 * w))
    with torch.no_grad():
        gt8, valid8 = pool_flow(gt, valid, 8)
    epe = (flow.float() - gt8).square().sum(1).add(1e-9).sqrt()  # Bxhxw
    weight = valid8.to(epe.dtype)
    return (epe * weight).sum() / weight.sum().clamp_min(1.0)
