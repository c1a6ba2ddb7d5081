"""Stage 0: the per-frame Mask2Former segmenter on single frames (docs/method-notes.md §1.12).

    cfg = SegmenterTrainConfig(data=DataConfig(root="data/synth"), loop=LoopConfig(out_dir="runs/seg"))
    summary = train_segmenter(cfg)        # runs/seg/last (resumable), runs/seg/log.csv

The model trained is a whole MPVSS of the chosen preset, so the checkpoint loads everywhere a model
does (`resolve_model("runs/seg/last")`, `mpvss eval --model runs/seg/last`); only the segmenter part is
optimised, its flow module stays at its random initialisation until stage 1.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.config import get_preset
from mpvss_core.distributed import cleanup_distributed, setup_distributed, wrap_ddp
from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion, semantic_targets
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.segmenter import KeyFrameSegmenter
from mpvss_core.train.common import (
    DataConfig,
    load_segmenter,
    open_datasets,
    pad_labels,
    set_threads,
)
from mpvss_core.train.data import BalanceConfig
from mpvss_core.train.loop import LoopConfig, OptimConfig, build_optimizer, fit_stage
from mpvss_core.train.prefetch import Prefetcher
from mpvss_core.train.validate import load_val_clips, per_frame_miou

__all__ = ["BACKBONE_PREFIX", "SegmenterStep", "SegmenterTrainConfig", "train_segmenter"]

# HF Mask2Former's Swin backbone (for the backbone learning-rate multiplier)
BACKBONE_PREFIX = "mask2former.model.pixel_level_module.encoder."


@dataclass(frozen=True)
class SegmenterTrainConfig:
    """Stage-0 settings (defaults: the synthetic benchmark, tiny preset, CPU-friendly crops)."""

    preset: str = "tiny"
    init: str | None = None  # start from this model spec's segmenter (checkpoint, bundle) instead of random
    device: str = "auto"
    threads: int | None = None  # torch CPU threads (None: torch's default)
    val_stride: int = 3  # validate on every n-th frame of the validation clips
    balance: BalanceConfig = field(default_factory=BalanceConfig)  # class-balanced frames (off: official)
    data: DataConfig = field(default_factory=DataConfig)
    criterion: CriterionConfig = field(default_factory=CriterionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)


class SegmenterStep(nn.Module):
    """The per-frame forward + set loss of stage 0, one module so that DDP wraps a single forward."""

    def __init__(self, segmenter: KeyFrameSegmenter, criterion: SetCriterion) -> None:
        super().__init__()
        self.segmenter = segmenter
        self.criterion = criterion

    def forward(self, images: Tensor, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        """images Bx3xHxW RGB 0..255, labels BxHxW (255 ignore) -> (loss, parts)."""
        out = self.segmenter(images, return_aux=True)
        masks, classes = semantic_targets(pad_labels(labels), self.criterion.num_classes)
        return self.criterion(
            out.class_logits, out.mask_logits, masks, classes, out.aux_class_logits, out.aux_mask_logits
        )


def build_stage0_model(cfg: SegmenterTrainConfig) -> MPVSS:
    if cfg.init:
        return load_segmenter(cfg.init)[0].train()
    return build_model(get_preset(cfg.preset))


def train_segmenter(cfg: SegmenterTrainConfig) -> dict[str, Any]:
    """Train the segmenter; returns the loop summary plus provenance (command, device, time)."""
    set_threads(cfg.threads)
    dist_info = setup_distributed(cfg.device)
    batches = None
    try:
        t_start = time.perf_counter()
        torch.manual_seed(cfg.loop.seed)  # same initial weights on every rank and every run of a seed
        model = build_stage0_model(cfg).to(dist_info.device)
        num_classes = model.segmenter.num_classes
        train_ds, val_ds = open_datasets(cfg.data, num_classes)
        step_module = SegmenterStep(model.segmenter, SetCriterion(num_classes, cfg.criterion))
        step_module = step_module.to(dist_info.device)
        wrapped = wrap_ddp(step_module, dist_info)
        optimizer = build_optimizer(
            list(model.segmenter.named_parameters()), cfg.optim, backbone_prefix=BACKBONE_PREFIX
        )

        batches = Prefetcher(
            lambda rng: train_ds.frame_batch(rng, cfg.data.batch_size, cfg.data.aug, cfg.balance),
            cfg.loop.seed, dist_info.rank, cfg.data.threads,
        )  # fmt: skip

        def step_fn(step: int, rng: np.random.Generator) -> tuple[Tensor, dict[str, float]]:
            images, labels = batches.get(step)  # = frame_batch(rng, ...): the same generator
            return wrapped(images.to(dist_info.device), labels.to(dist_info.device))

        validate_fn = None
        if val_ds is not None and dist_info.is_main:
            val_clips = load_val_clips(val_ds, cfg.data.val_clips, cfg.data.val_frames)

            def validate_fn() -> dict[str, float]:
                return {"val_miou": per_frame_miou(model, val_clips, dist_info.device, cfg.val_stride)}

        return fit_stage(
            "segmenter", cfg, model, optimizer, step_fn, validate_fn, dist_info, t_start,
            trains=("segmenter", "heads"),
        )  # fmt: skip
    finally:
        if batches is not None:
            batches.close()
        cleanup_distributed(dist_info)
