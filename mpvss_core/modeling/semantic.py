"""Mask2Former semantic inference: per-query masks and classes -> per-class scores -> labels.

    scores = semantic_inference(class_logits, mask_logits, (H, W))   # BxKxHxW (the reference path)
    labels = scores_to_labels(scores)                                  # BxHxW uint8
    labels = semantic_labels([(class_logits, mask_logits, 1.0)], (H, W))   # the same, fast path

Upsample the mask logits to the padded size, crop, `einsum(softmax(cls)[..., :-1], sigmoid(mask))`,
no thresholding (method-notes 1.1). `semantic_labels` gives the label map without building the
full-resolution score maps, and fuses weighted predictions (the bi-directional methods).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "class_scores",
    "first_argmax",
    "scores_to_labels",
    "semantic_inference",
    "semantic_labels",
    "upsample_masks",
]


def upsample_masks(mask_logits: Tensor, image_size: tuple[int, int]) -> Tensor:
    """BxQxhxw mask logits at 1/4 of the padded input -> BxQxHxW logits of the unpadded input (bilinear
    to the padded size, then cropped: Mask2Former's convention)."""
    height, width = image_size
    return F.interpolate(
        mask_logits,
        size=(4 * mask_logits.shape[-2], 4 * mask_logits.shape[-1]),
        mode="bilinear",
        align_corners=False,
    )[..., :height, :width]


def class_scores(class_logits: Tensor, masks: Tensor) -> Tensor:
    """BxQx(K+1) class logits (last = no-object, dropped) + BxQxHxW mask logits -> BxKxHxW scores
    `sum_q softmax(class)_q,c * sigmoid(mask_q)`."""
    return torch.einsum("bqc,bqhw->bchw", class_logits.softmax(-1)[..., :-1], masks.sigmoid())


def scores_to_labels(scores: Tensor) -> Tensor:
    """BxKxHxW scores -> BxHxW uint8 label map (argmax over classes; K <= 255)."""
    return scores.argmax(1).to(torch.uint8)


def semantic_labels(
    parts: Sequence[tuple[Tensor, Tensor, float]], image_size: tuple[int, int], tile_elements: int = 1 << 22
) -> Tensor:
    """See `_semantic_labels`; always in float32 (also inside a bfloat16 autocast region), no autograd
    (labels have no gradient)."""
    with torch.no_grad(), torch.autocast(parts[0][1].device.type, enabled=False):
        return _semantic_labels(parts, image_size, tile_elements)


def _semantic_labels(
    parts: Sequence[tuple[Tensor, Tensor, float]], image_size: tuple[int, int], tile_elements: int
) -> Tensor:
    """Label map of a weighted sum of semantic score maps, without full-resolution score maps (the
    fast path of `scores_to_labels(sum_i w_i * semantic_inference(c_i, m_i, size))`).

    The masks are upsampled in channels-last layout (4x faster than channels-first on CPU), passed
    through the sigmoid in place, weighted by the class probabilities in one matrix product per part,
    and reduced to labels with `first_argmax` (argmax's tie rule). Large frames go in bands of rows of
    at most `tile_elements` upsampled values: bilinear upsampling by 4 (align_corners=False) reads only
    the neighbouring mask rows, so a band upsampled with one mask row of context on each side equals
    the same rows of the full upsampling. The values differ from the reference path in the last bits
    (another summation order), so a pixel whose two best classes tie to the last bit could get the
    other class: measured on the val clips, no pixel does (README, performance section).

    Args:
        parts: (class_logits BxQx(K+1), mask_logits BxQxhxw at 1/4 of the padded input, weight); one
            part for a plain prediction, two for the bi-directional fusion.
        image_size: (H, W) of the unpadded input.
    Returns:
        BxHxW uint8 labels.
    """
    height, width = image_size
    batch, queries, h, w = parts[0][1].shape
    parts = [(c.float(), m.float(), wt) for c, m, wt in parts]  # float32 also under bfloat16 autocast
    out = torch.empty(batch, height, width, dtype=torch.uint8, device=parts[0][1].device)
    weights = [
        (c.softmax(-1)[..., :-1].transpose(1, 2) * float(wt)).contiguous() for c, _, wt in parts
    ]  # BxKxQ
    masks = [m.contiguous(memory_format=torch.channels_last) for _, m, _ in parts]
    rows_out = -(-height // 4)  # mask rows that cover the unpadded frame
    tile_rows = max(1, tile_elements // (queries * 16 * w))
    for b in range(batch):
        for a in range(0, rows_out, tile_rows):
            lo, hi = max(a - 1, 0), min(a + tile_rows + 1, h)
            n = min(4 * tile_rows, height - 4 * a)
            r0 = 4 * (a - lo)
            total = None
            for m, p in zip(masks, weights, strict=True):
                band = F.interpolate(m[b : b + 1, :, lo:hi], size=(4 * (hi - lo), 4 * w), mode="bilinear",
                                     align_corners=False)  # fmt: skip
                sig = band.permute(0, 2, 3, 1)[0, r0 : r0 + n, :width].reshape(-1, queries).sigmoid_()  # NxQ
                if total is None:
                    total = torch.mm(p[b], sig.t(), out=_workspace("scores", (p.shape[1], sig.shape[0]), sig))
                else:
                    total.addmm_(p[b], sig.t())  # K x N
            out[b, 4 * a : 4 * a + n] = first_argmax(total).view(n, width)
    return out


_WORKSPACE = threading.local()


def _workspace(name: str, shape: tuple[int, ...], like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A scratch tensor reused between frames (per thread): fresh multi-megabyte allocations cost page
    faults on every frame on CPU, a fifth of the semantic step."""
    cache = _WORKSPACE.__dict__.setdefault("buffers", {})
    dtype = dtype or like.dtype
    # tensors made in inference mode cannot be written outside it (and the other way round)
    key = (name, tuple(shape), dtype, like.device, torch.is_inference_mode_enabled())
    if key not in cache:
        if len(cache) > 16:  # frame sizes changed: drop the old buffers
            cache.clear()
        cache[key] = torch.empty(shape, dtype=dtype, device=like.device)
    return cache[key]


def first_argmax(scores: Tensor) -> Tensor:
    """KxN scores -> N uint8: the first class with the highest score (argmax's tie rule, K <= 255).

    Four element-wise passes (max, equality, weighting, max) instead of `argmax(0)`, which is 8x
    slower on CPU for a reduction over the leading dimension.
    """
    k, n = scores.shape
    rank = torch.arange(k, 0, -1, dtype=torch.uint8, device=scores.device).view(k, 1)  # K .. 1
    best = torch.amax(scores, 0, out=_workspace("best", (n,), scores))
    hit = torch.eq(scores, best, out=_workspace("hit", (k, n), scores, torch.bool))
    return k - hit.view(torch.uint8).mul_(rank).amax(0)


def semantic_inference(class_logits: Tensor, mask_logits: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Mask2Former semantic scores.

    Args:
        class_logits: BxQx(K+1) (last = no-object, dropped).
        mask_logits: BxQxhxw at 1/4 of the padded input (padded size = 4h x 4w).
        image_size: (H, W) of the unpadded input.
    Returns:
        BxKxHxW scores; the label map is `scores_to_labels(scores)`.
    """
    return class_scores(class_logits, upsample_masks(mask_logits, image_size))
