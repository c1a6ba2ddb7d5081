"""Training augmentation: one random scale / crop / flip / colour draw shared by every image of a
sample (a frame, or the key and target of a pair), applied to its label and its exact flow too.

    (img,), label, _ = augment([image], label, AugConfig(), rng)
    (key, target), label, (flow, valid) = augment([key_img, tgt_img], label, aug, rng, (flow, valid))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mpvss_core.labels import IGNORE_INDEX

__all__ = ["AugConfig", "augment", "pooled_rng"]


@dataclass(frozen=True)
class AugConfig:
    """Training augmentation (same parameters for both frames of a pair)."""

    crop: tuple[int, int] = (224, 224)  # HxW random crop; 224 = 7*32: Swin windows tile it exactly
    scale: tuple[float, float] = (0.875, 1.25)  # resize factor range (>= crop/H avoids padding)
    flip: bool = True  # horizontal flip with probability 0.5
    colour: bool = True  # SSD-style photometric distortion (brightness, contrast, saturation)


def augment(
    images: list[np.ndarray],
    label: np.ndarray | None,
    aug: AugConfig,
    rng: np.random.Generator,
    flow: tuple[Tensor, Tensor] | None = None,
    focus: tuple[int, int] | None = None,
) -> tuple[list[Tensor], Tensor | None, tuple[Tensor, Tensor] | None]:
    """Apply one random scale / crop / flip / colour draw to every image (and the label and flow).

    Args:
        images: HxWx3 uint8 frames of one sample (one frame, or the key and target of a pair).
        label: HxW uint8 class ids (255 ignore) of the last image, or None.
        flow: (2xHxW float pixel flow, HxW bool validity) of the last image, or None.
        focus: a pixel (y, x) of the input the crop must contain (class-balanced crops), or None.
    Returns:
        ([3xhxw float32 0..255 per image], hxw int64 label or None, (2xhxw flow, hxw validity) or None),
        h x w = aug.crop. Regions padded when the scaled frame is smaller than the crop are black with
        label 255 and invalid flow. The flow is rescaled with the frame and its dx negated by a flip.
    """
    height, width = images[0].shape[:2]
    crop_h, crop_w = aug.crop
    s = float(rng.uniform(*aug.scale))
    new_h, new_w = max(1, round(height * s)), max(1, round(width * s))
    if focus is None:
        top = int(rng.integers(max(new_h - crop_h, 0) + 1))
        left = int(rng.integers(max(new_w - crop_w, 0) + 1))
    else:
        top = _offset_containing(rng, focus[0] * new_h / height, new_h, crop_h)
        left = _offset_containing(rng, focus[1] * new_w / width, new_w, crop_w)
    flip = aug.flip and rng.random() < 0.5
    colour = _colour_params(rng) if aug.colour else None

    def geom(x: Tensor, mode: str, fill: float) -> Tensor:  # x: CxHxW
        if (new_h, new_w) != (height, width):
            kw = {"align_corners": False} if mode == "bilinear" else {}
            x = F.interpolate(x[None], size=(new_h, new_w), mode=mode, **kw)[0]
        x = x[:, top : top + crop_h, left : left + crop_w]
        pad_h, pad_w = crop_h - x.shape[1], crop_w - x.shape[2]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), value=fill)
        return x.flip(-1) if flip else x

    out = []
    for image in images:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
        x = geom(x, "bilinear", 0.0)
        out.append(_photometric(x, colour) if colour is not None else x)
    lab = None
    if label is not None:
        lab = geom(torch.from_numpy(label.astype(np.float32))[None], "nearest", IGNORE_INDEX)[0].long()
    aug_flow = None
    if flow is not None:
        f = geom(flow[0].float(), "bilinear", 0.0)
        f = torch.stack((f[0] * (new_w / width) * (-1.0 if flip else 1.0), f[1] * (new_h / height)))
        aug_flow = (f, geom(flow[1][None].float(), "nearest", 0.0)[0] > 0.5)
    return out, lab, aug_flow


def _offset_containing(rng: np.random.Generator, pos: float, length: int, crop: int) -> int:
    """A uniform crop offset in [0, length - crop] whose window [offset, offset + crop) contains pos."""
    hi_all = max(length - crop, 0)
    p = min(max(int(pos), 0), length - 1)
    lo, hi = max(0, p - crop + 1), min(hi_all, p)
    return int(rng.integers(lo, hi + 1)) if hi >= lo else int(rng.integers(hi_all + 1))


def _colour_params(rng: np.random.Generator) -> dict[str, float | bool]:
    """SSD PhotometricDistort draws: each of brightness / contrast / saturation with p = 0.5."""
    return {
        "brightness": float(rng.uniform(-32, 32)) if rng.random() < 0.5 else 0.0,
        "contrast": float(rng.uniform(0.5, 1.5)) if rng.random() < 0.5 else 1.0,
        "saturation": float(rng.uniform(0.5, 1.5)) if rng.random() < 0.5 else 1.0,
        "contrast_first": bool(rng.random() < 0.5),
    }


def _photometric(x: Tensor, p: dict[str, float | bool]) -> Tensor:
    """3xHxW float 0..255 -> distorted, clamped to 0..255."""
    x = x + p["brightness"]
    if p["contrast_first"]:
        x = x * p["contrast"]
    grey = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2])[None]
    x = grey + (x - grey) * p["saturation"]
    if not p["contrast_first"]:
        x = x * p["contrast"]
    return x.clamp(0, 255)


def pooled_rng(
    seed: int, clip: int, key: int, rng: np.random.Generator, pool: int
) -> tuple[np.random.Generator, int]:
    """(the generator of a pair's augmentation, its draw number): one of `pool` fixed draws of its key
    frame.

    The draw number comes from `rng` (the training stream), the generator from (seed, clip, key, draw),
    so the same key frame with the same draw is augmented identically every time it is drawn.
    """
    draw = int(rng.integers(pool))
    return np.random.default_rng([int(seed), int(clip), int(key), draw]), draw
