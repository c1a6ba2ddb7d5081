"""FLOPs of key and non-key frames, and parameter counts.

Conventions (label the unit wherever a number is shown):

- ``fvcore`` (default; what the paper's "GFLOPs" are: detectron2 `FlopCountAnalysis` on fvcore):
  1 FLOP per fused multiply-add for matmul / linear / einsum / conv / conv-transpose / attention
  (QK^T and AV, counted from PyTorch's fused attention kernels too, as fvcore counted the bmm of the
  2021 `nn.MultiheadAttention`), plus fvcore's element-wise handles: `grid_sampler` 4 per output
  element (MPVSS warping and the pure-PyTorch deformable attention of HF Mask2Former),
  `upsample_bilinear2d` 4 per output element, `upsample_nearest2d` 1 per output element, `layer_norm`
  and `group_norm` 5 per input element (4 without affine). detectron2 ignores batch norm; so do we.
- ``torch``: `torch.utils.flop_counter` counts: 2 per multiply-add for matmul / conv / attention and 0
  for everything else. PyTorch's own registry counts SDPA only for its CUDA kernels; we add the same
  formula for the CPU kernels (`_scaled_dot_product_flash_attention_for_cpu`, the fused
  `_native_multi_head_attention` path of `nn.MultiheadAttention`), so counts do not depend on the device.

Never counted (in either convention, as in fvcore): element-wise arithmetic and activations (add, mul,
ReLU, GELU, sigmoid), softmax, reductions, padding, concatenation, indexing and the weighted sum of
the deformable-attention samples (element-wise mul + sum). The official Mask2Former ran MSDeformAttn as
a custom CUDA op that fvcore did not count at all; HF's pure-PyTorch version is counted (its grid_sample
calls, its linear layers): about +0.6 % of a Swin-T key frame.

What a frame costs:

- key frame = Mask2Former (input normalisation, backbone, pixel decoder, transformer decoder, class
  head, final-stage mask logits) + semantic inference (upsample the Q mask logits to the padded size,
  crop, einsum with the class probabilities);
- non-key frame = flow module (input preparation, encoder, motion decoder, query/pixel flow, fusion) +
  warping of the final-stage masks (flow upsampling + grid_sample) + semantic inference.

Counting never computes anything: the model runs under `FakeTensorMode` (tensors carry shapes only),
so the paper-scale presets at 1024x2048 cost seconds and no memory. A model built on the meta device
(`build_model("swin_l", device="meta")`) is copied and materialised as fake CPU tensors first. A plain
meta-device forward does not work with HF Mask2Former: its pixel decoder builds the sine position
embedding as a CPU tensor and adds it to meta tensors. Under `FakeTensorMode` every op of both frames
runs; the only ops left uncounted are the never-counted kinds listed above.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from mpvss_core.config import MPVSSConfig

__all__ = [
    "CONVENTIONS",
    "FRAMES",
    "FrameCost",
    "count_flops",
    "count_parameters",
    "flop_breakdown",
    "flop_count",
    "frame_cost",
]

CONVENTIONS = ("fvcore", "torch")
FRAMES = ("key", "non_key")
aten = torch.ops.aten


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


# --- formulas (called with tensors replaced by their shapes, `out_shape` = output shape(s)) ------------


def _sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """2 * (QK^T + AV) multiply-adds, as torch's formula for its CUDA SDPA kernels."""
    return sdpa_flop_count(query, key, value)


def _native_mha_flops(
    query,
    key,
    value,
    embed_dim,
    num_head,
    qkv_weight,
    qkv_bias,
    proj_weight,
    proj_bias,
    *args,
    out_shape=None,
    **kw,
) -> int:
    """nn.MultiheadAttention's fused path: in-projections, attention and out-projection (2 per MAC)."""
    batch, q_len, e = query[0], query[1], query[2]
    k_len = key[1]
    proj = batch * (q_len + 2 * k_len) * e * e + batch * q_len * e * e  # q, k, v in; out
    attention = 2 * batch * q_len * k_len * e  # QK^T and AV summed over heads
    return 2 * (proj + attention)


def _per_output(factor: int) -> Callable[..., int]:
    def formula(*args, out_shape=None, **kwargs) -> int:
        return factor * _prod(out_shape)

    return formula


def _norm_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """fvcore `norm_flop_counter`: 5 per input element with affine, else 4."""
    return _prod(input_shape) * (5 if weight_shape is not None else 4)


# ops torch.utils.flop_counter lacks that cost multiply-adds: counted in both conventions (2 per MAC)
_MAC_FORMULAS: dict[Any, Callable[..., int]] = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops,
    aten._scaled_dot_product_fused_attention_overrideable: _sdpa_flops,
    aten._native_multi_head_attention: _native_mha_flops,
}
# fvcore's element-wise handles: counted (as is) in the fvcore convention only
_ELEMENTWISE_FORMULAS: dict[Any, Callable[..., int]] = {
    aten.grid_sampler_2d: _per_output(4),
    aten.upsample_bilinear2d: _per_output(4),
    aten.upsample_nearest2d: _per_output(1),
    aten.native_layer_norm: _norm_flops,
    aten.native_group_norm: _norm_flops,
}


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")


def _convert(counts: dict[Any, int], convention: str) -> float:
    """Per-op raw counts (torch units for MAC ops, element-wise units for the others) -> FLOPs."""
    total = 0.0
    for op, count in counts.items():
        if op in _ELEMENTWISE_FORMULAS:
            total += count if convention == "fvcore" else 0
        else:
            total += count / 2 if convention == "fvcore" else count
    return total


def _counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping={**_MAC_FORMULAS, **_ELEMENTWISE_FORMULAS})


def flop_count(fn: Callable[..., Any], *args: Any, convention: str = "fvcore", **kwargs: Any) -> float:
    """FLOPs (not G) of one call `fn(*args, **kwargs)` on real tensors, in `convention`.

    A generic helper for small cases (tests, hand checks); the computation really runs.
    """
    _check_convention(convention)
    counter = _counter()
    with torch.no_grad(), counter:
        fn(*args, **kwargs)
    return _convert(counter.get_flop_counts().get("Global", {}), convention)


# --- MPVSS frames -------------------------------------------------------------------------------


def _fake_model(model: torch.nn.Module, mode: Any) -> torch.nn.Module:
    """Model usable under the fake mode: meta parameters are materialised as fake CPU tensors on a copy."""
    on_meta = any(t.is_meta for t in (*model.parameters(), *model.buffers()))
    if not on_meta:
        return model  # real tensors are converted to fake ones on the fly (allow_non_fake_inputs)
    clone = copy.deepcopy(model)
    with mode:
        clone.to_empty(device="cpu")
    return clone


def _as_module(model: Any) -> torch.nn.Module:
    """The module to count: a preset name or config is built on the meta device (no memory)."""
    if isinstance(model, (str, MPVSSConfig)):
        from mpvss_core.checkpoints.checkpoint import build_model

        return build_model(model, device="meta")
    return model


def _run_frame(model: Any, size: tuple[int, int], frame: str, batch: int) -> dict[str, dict[Any, int]]:
    from torch._subclasses.fake_tensor import FakeTensorMode

    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {FRAMES}, got {frame!r}")
    height, width = size
    model = _as_module(model)
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake = _fake_model(model, mode)
    was_training = fake.training
    fake.eval()
    # count the network as specified (the paper's convention): the fast path's shared-half fusion conv
    # (`FlowFusion.split`) executes slightly fewer multiply-adds, and counts must not depend on the path
    fusion = getattr(getattr(getattr(fake, "flow", None), "decoder", None), "fusion", None)
    was_split = getattr(fusion, "split", False)
    if fusion is not None:
        fusion.split = False
    try:
        seg = fake.segmenter
        queries, hidden, classes = seg.num_queries, seg.hidden_dim, seg.num_classes
        pad_h, pad_w = -(-height // 32) * 32, -(-width // 32) * 32
        device = next(fake.parameters()).device  # cpu, or cuda for a model that lives there
        with torch.no_grad(), mode:
            images = torch.zeros(batch, 3, height, width, device=device)
            if frame == "non_key":
                from mpvss_core.modeling.mpvss import KeyState

                key = KeyState(
                    class_logits=torch.zeros(batch, queries, classes + 1, device=device),
                    mask_logits=torch.zeros(batch, queries, pad_h // 4, pad_w // 4, device=device),
                    query_features=torch.zeros(batch, queries, hidden, device=device),
                    image=torch.zeros(batch, 3, height, width, device=device),
                )
            counter = _counter()
            with counter:
                out = fake(images) if frame == "key" else fake(images, key_state=key)
                fake.semantic_inference(out.class_logits, out.mask_logits, (height, width))
    finally:
        fake.train(was_training)
        if fusion is not None:
            fusion.split = was_split
    return counter.get_flop_counts()


@dataclass
class FrameCost:
    """Raw per-module, per-op counts of one frame; convert with `gflops` / `breakdown`.

    Counting once and converting twice is how to get both conventions at the cost of one pass.
    """

    frame: str
    size: tuple[int, int]
    batch: int
    counts: dict[str, dict[Any, int]]

    def gflops(self, convention: str = "fvcore") -> float:
        """Total GFLOPs in `convention`."""
        _check_convention(convention)
        return _convert(self.counts.get("Global", {}), convention) / 1e9

    def breakdown(self, convention: str = "fvcore") -> dict[str, float]:
        """GFLOPs per part: "segmenter", "flow", "warp + semantic inference" (the rest), "total"."""
        _check_convention(convention)

        def part(name: str) -> float:
            # module names are "<root class>.<attribute>"; the MPVSS children are segmenter and flow
            keys = [k for k in self.counts if k.count(".") == 1 and k.endswith("." + name)]
            return sum(_convert(self.counts[k], convention) for k in keys) / 1e9

        total = self.gflops(convention)
        seg, flow = part("segmenter"), part("flow")
        return {
            "segmenter": seg,
            "flow": flow,
            "warp + semantic inference": total - seg - flow,
            "total": total,
        }

    def by_op(self, convention: str = "fvcore") -> dict[str, float]:
        """GFLOPs per aten op (only the counted ones)."""
        _check_convention(convention)
        return {
            str(op): _convert({op: c}, convention) / 1e9 for op, c in self.counts.get("Global", {}).items()
        }


def frame_cost(
    model: Any, size: tuple[int, int] = (256, 512), frame: str = "key", batch: int = 1
) -> FrameCost:
    """Count one key or non-key frame of `size` (H, W) without computing it (see the module docstring).

    Args:
        model: an MPVSS (real or on the meta device), an MPVSSConfig or a preset name.
        size: unpadded frame size (H, W); the model pads to a multiple of 32 itself.
        frame: "key" (segmenter + semantic inference) or "non_key" (flow module + warping + semantic
            inference).
        batch: frames per call.
    """
    return FrameCost(frame, (int(size[0]), int(size[1])), batch, _run_frame(model, size, frame, batch))


def count_flops(
    model: Any,
    size: tuple[int, int] = (256, 512),
    frame: str = "key",
    convention: str = "fvcore",
    batch: int = 1,
) -> float:
    """GFLOPs of one key or non-key frame of `size` (H, W).

    Args:
        model: an MPVSS (real or on the meta device), an MPVSSConfig or a preset name.
        size: unpadded frame size (H, W); the model pads to a multiple of 32 itself.
        frame: "key" (segmenter + semantic inference) or "non_key" (flow module + warping + semantic
            inference).
        convention: "fvcore" (1 per multiply-add, the paper's unit) or "torch" (2 per multiply-add).
        batch: frames per call (the count covers the whole batch).
    Returns:
        GFLOPs (1e9) in the requested convention.
    """
    _check_convention(convention)
    return frame_cost(model, size, frame, batch).gflops(convention)


def flop_breakdown(
    model: Any, size: tuple[int, int] = (256, 512), frame: str = "key", convention: str = "fvcore"
) -> dict[str, float]:
    """GFLOPs per part: "segmenter", "flow", "warp + semantic inference" (outside both), "total"."""
    _check_convention(convention)
    return frame_cost(model, size, frame).breakdown(convention)


def count_parameters(model: Any) -> dict[str, int]:
    """Parameter counts: {"segmenter", "flow", "total"} (unique tensors, frozen ones included)."""
    model = _as_module(model)
    seg = sum(p.numel() for p in model.segmenter.parameters())
    flow = sum(p.numel() for p in model.flow.parameters())
    return {"segmenter": seg, "flow": flow, "total": sum(p.numel() for p in model.parameters())}
