"""Hungarian matching + the Mask2Former set loss (docs/method-notes.md §1.12), reusing `transformers`' code.

    criterion = SetCriterion(num_classes=18)
    masks, classes = semantic_targets(labels, num_classes=18)   # labels BxHxW, 255 = ignore
    loss, parts = criterion(class_logits, mask_logits, masks, classes,
                            aux_class_logits=aux_c, aux_mask_logits=aux_m)

The matching and the losses are Hugging Face's `Mask2FormerLoss` (a port of the official
`SetCriterion` + `HungarianMatcher`): per image and per decoder stage, Hungarian matching with costs
class 2 / mask BCE 5 / dice 5 on `num_points` uniformly sampled points, then cross-entropy over all
queries (no-object weight 0.1) and point-sampled (importance sampling of uncertain points) BCE + dice of
the matched masks, each weighted as in the cost; deep supervision repeats it for every earlier stage.
This module adds what the HF class leaves to its caller: semantic label maps -> per-class target masks,
the weighting, the sum, float32 under AMP, and the number-of-masks normaliser averaged over
DistributedDataParallel workers (HF only does that through `accelerate`).

Ignored pixels (255) belong to no target mask, so they count as background for every query, exactly as
in detectron2's semantic Mask2Former mapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch import Tensor, nn
from transformers.models.mask2former.modeling_mask2former import Mask2FormerLoss

from mpvss_core.labels import IGNORE_INDEX

__all__ = ["CriterionConfig", "SetCriterion", "semantic_targets"]


@dataclass(frozen=True)
class CriterionConfig:
    """Loss weights and point sampling (official values: docs/method-notes.md §1.12)."""

    class_weight: float = 2.0  # CE weight and matching cost
    mask_weight: float = 5.0  # point-sampled BCE weight and matching cost
    dice_weight: float = 5.0  # dice weight and matching cost
    no_object_weight: float = 0.1  # CE weight of the no-object class
    num_points: int = 12544  # points per mask (112 x 112), for matching and for the loss
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    deep_supervision: bool = True  # also supervise every earlier decoder stage


class _HFLoss(Mask2FormerLoss):
    """HF's loss with the num_masks normaliser averaged over torch.distributed workers."""

    def get_num_masks(self, class_labels: list[Tensor], device: torch.device) -> Tensor:
        num_masks = torch.as_tensor(float(sum(len(c) for c in class_labels)), device=device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(num_masks)
            num_masks = num_masks / dist.get_world_size()
        return torch.clamp(num_masks, min=1.0)


def semantic_targets(
    labels: Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> tuple[list[Tensor], list[Tensor]]:
    """Per-image binary masks of the classes present.

    Args:
        labels: BxHxW integer class ids in [0, num_classes) or `ignore_index`.
        num_classes: K.
    Returns:
        (mask_labels, class_labels): per image a NxHxW float mask stack and the N class ids (int64) of
        the classes present, ascending (N may be 0 for an all-ignore image).
    """
    masks, classes = [], []
    for lab in labels:
        present = torch.unique(lab)
        present = present[(present != ignore_index) & (present >= 0) & (present < num_classes)]
        masks.append((lab[None] == present[:, None, None]).float())
        classes.append(present.long())
    return masks, classes


class SetCriterion(nn.Module):
    """Weighted Mask2Former set loss over the final and (optionally) every earlier decoder stage."""

    def __init__(self, num_classes: int, cfg: CriterionConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or CriterionConfig()
        self.num_classes = num_classes
        # HF reads only these attributes of its config; a namespace avoids building a whole
        # Mask2FormerConfig (and its backbone config) just to carry loss settings.
        hf_cfg = SimpleNamespace(
            num_labels=num_classes,
            no_object_weight=cfg.no_object_weight,
            train_num_points=cfg.num_points,
            oversample_ratio=cfg.oversample_ratio,
            importance_sample_ratio=cfg.importance_sample_ratio,
            class_weight=cfg.class_weight,
            mask_weight=cfg.mask_weight,
            dice_weight=cfg.dice_weight,
        )
        self.weights = {
            "loss_cross_entropy": cfg.class_weight,
            "loss_mask": cfg.mask_weight,
            "loss_dice": cfg.dice_weight,
        }
        self.hf_loss = _HFLoss(hf_cfg, self.weights)

    def forward(
        self,
        class_logits: Tensor,
        mask_logits: Tensor,
        mask_labels: list[Tensor],
        class_labels: list[Tensor],
        aux_class_logits: tuple[Tensor, ...] | None = None,
        aux_mask_logits: tuple[Tensor, ...] | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Total weighted loss and its unweighted parts.

        Args:
            class_logits: BxQx(K+1) final-stage class logits.
            mask_logits: BxQxhxw final-stage mask logits (any resolution: points are sampled in
                normalised coordinates, so the 1/4-resolution logits meet full-resolution targets).
            mask_labels / class_labels: from `semantic_targets` (targets HxW may differ from hxw, but
                must cover the same field of view).
            aux_class_logits / aux_mask_logits: earlier stages, same shapes (deep supervision).
        Returns:
            (loss, parts): the scalar loss to back-propagate, and {"loss_cross_entropy": ..., ...,
            "loss_mask_0": ...} as floats (unweighted, for logging).
        """
        aux = None
        if self.cfg.deep_supervision and aux_mask_logits is not None:
            if aux_class_logits is None or len(aux_class_logits) != len(aux_mask_logits):
                raise ValueError("aux_class_logits and aux_mask_logits must be given together, same length")
            aux = [
                {"masks_queries_logits": m.float(), "class_queries_logits": c.float()}
                for c, m in zip(aux_class_logits, aux_mask_logits, strict=True)
            ]
        # Always float32: under CUDA autocast the logits may be half, and the sampled BCE / dice sums
        # and the matcher's cost matrix are precision-sensitive.
        with torch.autocast(device_type=mask_logits.device.type, enabled=False):
            parts = self.hf_loss(
                masks_queries_logits=mask_logits.float(),
                class_queries_logits=class_logits.float(),
                mask_labels=[m.to(mask_logits.device) for m in mask_labels],
                class_labels=[c.to(mask_logits.device) for c in class_labels],
                auxiliary_predictions=aux,
            )
        total = sum(
            value * self.weights[name.rstrip("0123456789").rstrip("_")] for name, value in parts.items()
        )
        return total, {name: float(value.detach()) for name, value in parts.items()}
