"""Stage 1: the flow module of one method on (key, target) pairs, segmenter frozen.

The recipe: docs/method-notes.md §1.12.

    cfg = FlowTrainConfig(method="query_flow", segmenter="runs/segmenter/last")
    summary = train_flow(cfg)

Per step: Mask2Former runs on the key frames (frozen and in eval() except its class and mask heads,
`MPVSS.freeze_segmenter`); the flow module predicts per-query flows from (target, key, Q_O^k); every
decoder stage's key mask logits are warped with the same flow (`propagate(..., all_stages=True)`) and
paired with the key's class logits; the Mask2Former set loss compares them with the target frame's
labels (deep supervision over all stages). By default there is no flow loss and no key-frame loss
(docs/method-notes.md §4.2.9), as in the paper.

Exact-flow supervision (`flow_loss_weight > 0`, our addition, off by default): when the data stores
exact flow (the synthetic benchmark does), `modeling/flow_loss.py` adds a mask-weighted end-point error
of the per-query flows against it: of the final flow and, when a fusion conv combines two branches, of
the query flow and the pixel flow too (FlowNet-style direct supervision of every flow output). It
exists because the paper's recipe needs ~90k GPU iterations before the flows move; on a CPU budget of
hundreds of steps they stay where they started (see docs/training.md).

Label-free adaptation (`labels="none"`): the target is the *stage-0* segmenter's own semantic
prediction on the target frame (per-pixel argmax of `semantic_inference`, then one binary mask per
predicted class, exactly as a ground-truth label map would be turned into targets). The teacher is a
frozen copy of the segmenter taken before training, so the targets do not drift while the heads train.
This adapts the flow module to unlabelled footage: it learns to move the key frame's masks to where the
segmenter would put them on the target frame.

Flow pre-training (`pretrain_flow`, our addition) trains the flow module on the exact flow alone:
pixel_flow's encoder and pixel-wise decoder without the segmenter (`pretrain.py`), a query-based
method's whole flow module with the frozen segmenter's key-frame outputs cached (`query_pretrain.py`);
`init_flow` starts any method's flow module from such a run (or any trained one): see `pretrain.py`.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mpvss_core.config import MPVSSConfig, flow_preset_for
from mpvss_core.distributed import cleanup_distributed, setup_distributed, wrap_ddp
from mpvss_core.errors import InputError
from mpvss_core.methods.table import TRAINABLE, method_config, method_spec
from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion, semantic_targets
from mpvss_core.modeling.flow_loss import flow_supervision_loss
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.segmenter import KeyFrameSegmenter
from mpvss_core.train.common import (
    DataConfig,
    load_segmenter,
    open_train,
    open_val,
    pad_labels,
    set_threads,
)
from mpvss_core.train.loop import LoopConfig, OptimConfig, build_optimizer, fit_stage
from mpvss_core.train.prefetch import Prefetcher
from mpvss_core.train.pretrain import FlowPretrainStep, init_flow_from
from mpvss_core.train.query_pretrain import KeyOutputCache, QueryFlowPretrainStep
from mpvss_core.train.validate import load_val_clips, propagation_miou

__all__ = ["FlowStep", "FlowTrainConfig", "build_stage1_model", "pseudo_labels", "train_flow"]


@dataclass(frozen=True)
class FlowTrainConfig:
    """Stage-1 settings."""

    method: str = "query_flow"  # query_flow | query_learned | pixel_flow | query_flow_noinit | stages_S
    segmenter: str = "runs/segmenter/last"  # a model spec: stage-0 checkpoint folder, or a model bundle
    preset: str | None = None  # flow-module preset (None: the checkpoint's own name if a preset, else tiny)
    labels: str = "gt"  # "gt": dataset labels; "none": the stage-0 segmenter's prediction (label-free)
    max_gap: int = 10  # key -> target gaps 1..max_gap (official TRAIN_SAMPLING_FRAME_RANGE 10)
    reverse_pairs: float = 0.0  # share of pairs with the key after the target (ours; official: 0)
    flow_loss_weight: float = 0.0  # exact-flow supervision (our addition; 0 = the paper's recipe)
    pretrain_flow: bool = False  # pre-training on exact flow only (pretrain.py, query_pretrain.py; ours)
    # N > 0: one of N fixed augmentation draws per key frame (augment.pooled_rng); None: 4 where a
    # query-based method is pre-trained (its segmenter outputs are cached), else 0 (a fresh draw per pair)
    aug_pool: int | None = None
    key_cache_mb: int = 4096  # cached key-frame outputs of query-branch pre-training (query_pretrain.py)
    init_flow: str | None = None  # start the flow module from this model's (pretrain.py; our addition)
    # keep the segmenter's stage-0 class and mask heads (our deviation, as pixel_flow's stage-0 key heads):
    # the propagated masks are then the segmenter's own, on any footage, and only the flow module trains
    freeze_heads: bool = False
    val_interval: int = 5  # key-frame interval K of the periodic validation
    device: str = "auto"
    threads: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    criterion: CriterionConfig = field(default_factory=CriterionConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)


def _check_method(method: str) -> str:
    """The table name of a method stage 1 can train (InputError otherwise)."""
    try:
        spec = method_spec(method)
    except InputError:
        raise InputError(
            f"--method {method!r}: unknown; train one of {', '.join(TRAINABLE)} or stages_S (S >= 1)"
        ) from None
    if spec.weights != spec.name:
        what = "needs only the segmenter" if spec.weights is None else f"runs the {spec.weights} flow module"
        raise InputError(
            f"--method {method!r} {what}; train one of {', '.join(TRAINABLE)} or stages_S (S >= 1)"
        )
    return spec.name


def build_stage1_model(base: MPVSS, method: str, preset: str | None = None) -> MPVSS:
    """A fresh MPVSS of `method` whose segmenter is a copy of `base`'s (flow module randomly initialised).

    The flow config comes from `variant(preset, method)`; the segmenter config and weights from `base`.
    """
    method = _check_method(method)
    target = method_config(preset or flow_preset_for(base.cfg), method)
    cfg = MPVSSConfig(
        segmenter=base.cfg.segmenter, flow=target.flow, warp_mode=base.cfg.warp_mode, name=target.name
    )
    model = MPVSS(cfg)
    model.segmenter.load_state_dict(base.segmenter.state_dict(), strict=True)
    return model.to(next(base.parameters()).device)


@torch.no_grad()
def pseudo_labels(teacher: KeyFrameSegmenter, images: Tensor) -> Tensor:
    """BxHxW int64: the teacher segmenter's per-pixel argmax on `images` (Bx3xHxW RGB 0..255)."""
    from mpvss_core.modeling.mpvss import semantic_inference

    out = teacher(images)
    return semantic_inference(out.class_logits, out.mask_logits, images.shape[-2:]).argmax(1)


class FlowStep(nn.Module):
    """Stage-1 forward + loss in one module (DDP wraps a single forward per step)."""

    def __init__(
        self,
        model: MPVSS,
        criterion: SetCriterion,
        teacher: KeyFrameSegmenter | None,
        flow_loss_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.teacher = teacher
        self.flow_loss_weight = flow_loss_weight

    def targets(self, target_images: Tensor, labels: Tensor | None) -> Tensor:
        """BxHxW target label map: the dataset's, or the teacher's prediction (label-free)."""
        if labels is not None:
            return labels
        if self.teacher is None:
            raise ValueError("label-free training needs a teacher segmenter")
        return pseudo_labels(self.teacher, target_images)

    def forward(
        self,
        keys: Tensor,
        targets: Tensor,
        labels: Tensor | None,
        flow: Tensor | None = None,
        flow_valid: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """keys, targets: Bx3xHxW RGB 0..255 (key earlier); labels BxHxW or None; exact flow target ->
        key Bx2xHxW and its validity BxHxW (used when flow_loss_weight > 0) -> (loss, parts)."""
        supervise_flow = self.flow_loss_weight > 0
        if supervise_flow and (flow is None or flow_valid is None):
            raise ValueError("flow_loss_weight > 0 needs the exact flow of every pair")
        key_state = self.model.segment_key(keys, return_aux=True)
        prop = self.model.propagate(key_state, targets, all_stages=True, return_flows=supervise_flow)
        target_labels = self.targets(targets, labels)
        masks, classes = semantic_targets(pad_labels(target_labels), self.criterion.num_classes)
        loss, parts = self.criterion(
            prop.class_logits, prop.mask_logits, masks, classes, prop.aux_class_logits, prop.aux_mask_logits
        )
        if supervise_flow:
            assert prop.flow is not None and flow is not None and flow_valid is not None
            # the fused flow, and each branch before the fusion: the fusion conv starts at weight 0, so
            # without direct terms the branches get no gradient until the fusion weights have grown
            flows = [prop.flow]
            if self.model.flow.decoder.fusion is not None:
                flows += [f for f in (prop.query_flow, prop.pixel_flow) if f is not None]
            key_pred = (key_state.class_logits, key_state.mask_logits)
            context = (flow, flow_valid, *key_pred, self.model.cfg.warp_mode)
            flow_loss = sum(flow_supervision_loss(f, *context) for f in flows)
            loss = loss + self.flow_loss_weight * flow_loss
            parts = {**parts, "loss_flow": float(flow_loss.detach())}
        return loss, parts


def train_flow(cfg: FlowTrainConfig) -> dict[str, Any]:
    """Train one method's flow module (+ heads); returns the loop summary plus provenance."""
    method = _check_method(cfg.method)
    if cfg.labels not in ("gt", "none"):
        raise InputError(f"labels must be 'gt' or 'none', got {cfg.labels!r}")
    if cfg.flow_loss_weight < 0:
        raise InputError(f"--flow-loss-weight must be >= 0, got {cfg.flow_loss_weight}")
    if cfg.max_gap < 1:
        raise InputError(f"--max-gap must be >= 1, got {cfg.max_gap}")
    if not 0.0 <= cfg.reverse_pairs <= 1.0:
        raise InputError(f"--reverse-pairs must be between 0 and 1, got {cfg.reverse_pairs}")
    if cfg.aug_pool is None:
        query_pretrain = cfg.pretrain_flow and method_config("tiny", method).flow.use_query_flow
        cfg = dataclasses.replace(cfg, aug_pool=4 if query_pretrain else 0)
    if cfg.aug_pool < 0 or cfg.key_cache_mb < 0:
        raise InputError(
            f"--aug-pool and --key-cache-mb must be >= 0, got {cfg.aug_pool}, {cfg.key_cache_mb}"
        )
    set_threads(cfg.threads)
    dist_info = setup_distributed(cfg.device)
    batches = None
    try:
        t_start = time.perf_counter()
        torch.manual_seed(cfg.loop.seed)  # same initial weights on every rank and every run of a seed
        base, inherited = load_segmenter(cfg.segmenter)
        model = build_stage1_model(base, method, cfg.preset).to(dist_info.device)
        del base
        init = {}
        if cfg.init_flow:
            loaded, kept = init_flow_from(model, method, cfg.init_flow)
            init = {"init_flow": str(cfg.init_flow), "init_flow_loaded": loaded, "init_flow_kept": kept}
        model.freeze_segmenter()
        if cfg.pretrain_flow or cfg.freeze_heads:
            model.segmenter.requires_grad_(False)  # the heads too: they keep their stage-0 weights
        num_classes = model.segmenter.num_classes
        teacher = None
        if cfg.labels == "none":
            teacher = copy.deepcopy(model.segmenter).eval().requires_grad_(False)
        data = cfg.data
        train_ds = open_train(data, num_classes)
        with_flow = cfg.flow_loss_weight > 0 or cfg.pretrain_flow
        if with_flow and not train_ds.has_flow:  # the training clips' own fault first, then validation's
            what = "--pretrain-flow" if cfg.pretrain_flow else "--flow-loss-weight"
            raise InputError(
                f"{what} needs exact flow files in the training clips ({data.root} has none; "
                "the synthetic benchmark written by `mpvss data synth` has them)"
            )
        val_ds = open_val(data, num_classes)
        step_module: nn.Module
        key_cache = None
        if cfg.pretrain_flow and model.flow.decoder.transformer is None:
            step_module = FlowPretrainStep(model)
        elif cfg.pretrain_flow:
            key_cache = KeyOutputCache(cfg.key_cache_mb << 20) if cfg.aug_pool > 0 else None
            step_module = QueryFlowPretrainStep(model, key_cache)
        else:
            criterion = SetCriterion(num_classes, cfg.criterion)
            step_module = FlowStep(model, criterion, teacher, cfg.flow_loss_weight)
        wrapped = wrap_ddp(step_module.to(dist_info.device), dist_info)
        optimizer = build_optimizer(list(model.named_parameters()), cfg.optim)
        labelled = cfg.labels == "gt" and not cfg.pretrain_flow  # pre-training reads no labels

        pool = (cfg.loop.seed + dist_info.rank, cfg.aug_pool) if cfg.aug_pool > 0 else None
        batches = Prefetcher(
            lambda rng: train_ds.pair_batch(
                rng, data.batch_size, data.aug, cfg.max_gap, labelled, with_flow, cfg.reverse_pairs, pool
            ),
            cfg.loop.seed, dist_info.rank, data.threads,
        )  # fmt: skip

        def step_fn(step: int, rng: np.random.Generator) -> tuple[Tensor, dict[str, float]]:
            pairs = batches.get(step)  # = pair_batch(rng, ...): the same generator

            def dev(x: Tensor | None) -> Tensor | None:
                return None if x is None else x.to(dist_info.device)

            batch = (pairs.keys, pairs.targets, pairs.labels, pairs.flow, pairs.flow_valid)
            if cfg.pretrain_flow:
                batch = (pairs.keys, pairs.targets, pairs.flow, pairs.flow_valid)
            if key_cache is not None:
                return wrapped(*(dev(x) for x in batch), key_ids=pairs.key_ids)
            return wrapped(*(dev(x) for x in batch))

        validate_fn = None
        if val_ds is not None and dist_info.is_main:
            val_clips = load_val_clips(val_ds, data.val_clips, data.val_frames)

            def validate_fn() -> dict[str, float]:
                miou = propagation_miou(model, val_clips, dist_info.device, cfg.val_interval)
                return {"val_miou": miou}

        return fit_stage(
            "flow",
            cfg,
            model,
            optimizer,
            step_fn,
            validate_fn,
            dist_info,
            t_start,
            settings_extra={"model_name": model.cfg.name},
            trains=("flow",) if cfg.pretrain_flow or cfg.freeze_heads else ("heads", "flow"),
            inherited=inherited,
            method=method,
            labels="none (exact flow only)" if cfg.pretrain_flow else cfg.labels,
            flow_loss_weight=cfg.flow_loss_weight,
            pretrain_flow=cfg.pretrain_flow,
            aug_pool=cfg.aug_pool,
            freeze_heads=cfg.freeze_heads,
            segmenter=str(cfg.segmenter),
            **init,
        )
    finally:
        if batches is not None:
            batches.close()
        cleanup_distributed(dist_info)
