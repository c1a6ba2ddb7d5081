"""Mask2Former semantic inference: per-query masks and classes -> per-class scores -> labels.

    scores = semantic_inference(class_logits, mask_logits, (H, W))   # BxKxHxW (the reference path)
    labels = scores_to_labels(scores)                                  # BxHxW uint8
    labels = semantic_labels([(class_logits, mask_logits, 1.0)], (H, W))   # the same, fast path

Upsample the mask logits to the padded size, crop, `einsum(softmax(cls)[..., :-1], sigmoid(mask))`,
no thresholding (docs/method-notes.md §1.1). `semantic_labels` gives the label map without building the
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
    parts: Sequence[tuple[Tensor, Tensor, float]],
    image_size: tuple[int, int],
    tile_elements: int = 1 << 22,
    cells: bool = True,
) -> Tensor:
    """Labels of `sum_i w_i * semantic_inference(c_i, m_i, size)`: `_cell_labels` (decides whole 4x4
    cells from bounds, the default) or `_semantic_labels` (every pixel); always in float32 (also inside
    a bfloat16 autocast region), no autograd (labels have no gradient)."""
    with torch.no_grad(), torch.autocast(parts[0][1].device.type, enabled=False):
        if cells and all(wt >= 0 for _, _, wt in parts):  # the bounds need non-negative weights
            return _cell_labels(parts, image_size, tile_elements)
        return _semantic_labels(parts, image_size, tile_elements)


# Above this share of undecided cells (untrained or very fragmented masks) the pixel-by-pixel path is
# faster than gathering the cells' corners (measured on random weights: 10 % decided, 5 % slower).
UNDECIDED_DENSE = 0.5
# A cell is decided only when its best class's lower bound beats every other class's upper bound by
# this much: far above float32 rounding of scores <= 1 (about 1e-6), so no rounding can flip it.
CELL_MARGIN = 1e-4


def _cell_weights() -> Tensor:
    """16x4 bilinear weights of a cell's 4x4 output pixels (row dy*4+dx) on its corners 00, 01, 10, 11:
    upsampling by 4 with align_corners=False puts output pixel dy of a cell at (2 dy + 1) / 8 of the
    way between the cell's two mask rows (the same across)."""
    f = (2 * torch.arange(4, dtype=torch.float32) + 1) / 8
    fy, fx = f.view(4, 1).expand(4, 4).reshape(-1), f.view(1, 4).expand(4, 4).reshape(-1)
    return torch.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], 1)


def _corner_extremes(x: Tensor) -> tuple[Tensor, Tensor]:
    """BxQx(r+1)x(c+1) -> (max, min) over every 2x2 window, each BxQx(r*c) (two passes each, row then
    column: `F.max_pool2d` is 20x slower on CPU for this shape)."""
    across_hi = torch.maximum(x[..., :-1], x[..., 1:])
    across_lo = torch.minimum(x[..., :-1], x[..., 1:])
    hi = torch.maximum(across_hi[..., :-1, :], across_hi[..., 1:, :])
    lo = torch.minimum(across_lo[..., :-1, :], across_lo[..., 1:, :])
    return hi.flatten(2), lo.flatten(2)


def _cell_inputs(
    parts: Sequence[tuple[Tensor, Tensor, float]], image_size: tuple[int, int]
) -> tuple[list[Tensor], list[Tensor]]:
    """(class weights BxQxK per part, mask logits padded by one replicated pixel and cut to the cells
    that meet the crop, Bx Q x (rows+1) x (cols+1) per part), float32."""
    height, width = image_size
    h, w = parts[0][1].shape[-2:]
    rows, cols = min(h + 1, (height + 5) // 4), min(w + 1, (width + 5) // 4)  # cell y: output rows 4y-2..4y+1
    weights = [(c.float().softmax(-1)[..., :-1] * float(wt)) for c, _, wt in parts]
    padded = [  # the replicated border is what the clamping of F.interpolate does at the edges
        F.pad(m.float(), (1, 1, 1, 1), mode="replicate")[..., : rows + 1, : cols + 1] for _, m, _ in parts
    ]
    return weights, padded


def _cell_decisions(weights: list[Tensor], padded: list[Tensor]) -> tuple[Tensor, Tensor]:
    """(best class by lower bound, decided) per cell, each B x rows x cols (see `_cell_labels`)."""
    batch, _, r1, c1 = padded[0].shape
    lower = upper = None
    for p, m in zip(weights, padded, strict=True):
        hi, lo = _corner_extremes(m.sigmoid())  # BxQx(cells): max and min over each cell's 4 corners
        pt = p.transpose(1, 2)  # BxKxQ
        up, low = torch.bmm(pt, hi), torch.bmm(pt, lo)  # BxKx(cells)
        upper, lower = (up, low) if upper is None else (upper + up, lower + low)
    best_low, best = lower.max(1)  # B x cells
    rival = upper.scatter(1, best.unsqueeze(1), float("-inf")).amax(1)
    decided = best_low > rival + CELL_MARGIN
    return best.view(batch, r1 - 1, c1 - 1), decided.view(batch, r1 - 1, c1 - 1)


def decided_fraction(parts: Sequence[tuple[Tensor, Tensor, float]], image_size: tuple[int, int]) -> float:
    """The share of 4x4 cells `semantic_labels` decides from bounds alone (benchmarks, tests)."""
    with torch.no_grad():
        return float(_cell_decisions(*_cell_inputs(parts, image_size))[1].float().mean())


def _cell_labels(
    parts: Sequence[tuple[Tensor, Tensor, float]], image_size: tuple[int, int], tile_elements: int
) -> Tensor:
    """`_semantic_labels`' result, deciding most pixels 16 at a time from bounds (exact, not an
    approximation).

    Upsampling by 4 interpolates every output pixel from the 4 mask pixels around it, so with the
    masks padded by one replicated pixel (what the border clamping of `F.interpolate` does) the
    output splits into 4x4 cells that share their 4 corners. The sigmoid is monotonic and the
    interpolation a convex combination, so in a cell sigmoid(mask_q) lies between the min and the max
    of its corners' sigmoids, and with non-negative class weights each class score lies between
    `sum_q w_qc min_q` and `sum_q w_qc max_q`. Where the best class's lower bound beats every other
    class's upper bound (by CELL_MARGIN), all 16 pixels take that class, and it is the argmax of the
    exact scores. Only the other cells — near mask boundaries — are interpolated, passed through the
    sigmoid and scored pixel by pixel, from the same corners.

    Args / Returns: as `_semantic_labels`.
    """
    height, width = image_size
    batch, queries = parts[0][1].shape[:2]
    device = parts[0][1].device
    weights, padded = _cell_inputs(parts, image_size)
    best, decided = _cell_decisions(weights, padded)
    rows, cols = best.shape[1:]
    open_cells = ~decided
    if open_cells.float().mean() > UNDECIDED_DENSE:
        return _semantic_labels(parts, image_size, tile_elements)
    undecided = open_cells.nonzero()  # N x (b, y, x)
    canvas = best.to(torch.uint8).view(batch, rows, cols, 1, 1).expand(batch, rows, cols, 4, 4).clone()
    if len(undecided):
        corner_w = _cell_weights().to(device)
        chunk = max(1, tile_elements // (16 * queries))
        corners_of = [m.permute(0, 2, 3, 1) for m in padded]  # Bx(rows+1)x(cols+1)xQ views
        for b in undecided[:, 0].unique().tolist():
            cells = undecided[undecided[:, 0] == b]
            for a in range(0, len(cells), chunk):
                y, x = cells[a : a + chunk, 1], cells[a : a + chunk, 2]
                total = None
                for p, c in zip(weights, corners_of, strict=True):
                    corners = torch.stack([c[b, y, x], c[b, y, x + 1], c[b, y + 1, x], c[b, y + 1, x + 1]], 1)
                    sig = torch.matmul(corner_w, corners).sigmoid_().view(-1, queries)  # (n*16)xQ
                    scores = torch.mm(p[b].t(), sig.t())  # K x (n*16)
                    total = scores if total is None else total.add_(scores)
                canvas[b, y, x] = first_argmax(total).view(-1, 4, 4)
    full = canvas.permute(0, 1, 3, 2, 4).reshape(batch, 4 * rows, 4 * cols)
    return full[:, 2 : 2 + height, 2 : 2 + width].contiguous()


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
    other class: measured on the val clips, no pixel does (docs/performance.md).

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
