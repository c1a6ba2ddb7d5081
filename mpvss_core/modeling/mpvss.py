"""MPVSS: Mask2Former on key frames, per-query mask propagation by learned flow on the others.

    model = MPVSS(cfg)                                  # or checkpoints.checkpoint.build_model("tiny")
    key = model.segment_key(frames[0:1])                # KeyState
    prop = model.propagate(key, frames[3:4])            # Propagation (warped mask logits)
    scores = model.semantic_inference(prop.class_logits, prop.mask_logits, frames.shape[-2:])
    labels = scores.argmax(1)                           # BxHxW

Images are Bx3xHxW float RGB in 0..255 everywhere. Non-key frames never run the segmenter: the flow
module predicts one flow per Mask2Former query from (current, key) and the key queries, each key mask
logit map is warped by its own flow, and the key frame's class logits are reused unchanged
(docs/method-notes.md §1.1). Semantic inference is Mask2Former's: upsample the mask logits to the padded size,
crop, `einsum(softmax(cls)[..., :-1], sigmoid(mask))`, no thresholding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import MPVSSConfig
from .motion_decoder import FlowAttention, MotionDecoder
from .motion_encoder import KeyHalf, MotionEncoder
from .segmenter import KeyDecoder, KeyFrameSegmenter
from .semantic import (  # noqa: F401  (re-exported: the model's semantic inference)
    class_scores,
    first_argmax,
    scores_to_labels,
    semantic_inference,
    semantic_labels,
    upsample_masks,
)
from .warp import backward_warp

__all__ = ["MPVSS", "FlowModule", "KeyState", "Propagation", "semantic_inference"]


@dataclass
class KeyState:
    """What a key frame leaves for its non-key frames (Q queries, K classes, Hp x Wp padded size).

    Attributes:
        class_logits: BxQx(K+1).
        mask_logits: BxQx(Hp/4)x(Wp/4).
        query_features: BxQxC Q_O^k (after the decoder LayerNorm).
        image: Bx3xHxW the raw key image, RGB 0..255 (the flow module's second input).
        aux_class_logits / aux_mask_logits: earlier decoder stages (deep supervision), or None.
        flow_input: the key image's half of the flow module's input, prepared on first use and kept
            for the key's other frames (`MotionEncoder.prepare`, a `KeyHalf`).
        own_logits: (class BxQx(K+1), mask BxQx(Hp/4)x(Wp/4)) of the key frame's OWN prediction when it
            comes from other weights than the propagated masks (`MPVSS.key_decoder`), else None.
    """

    class_logits: Tensor
    mask_logits: Tensor
    query_features: Tensor
    image: Tensor
    aux_class_logits: tuple[Tensor, ...] | None = None
    aux_mask_logits: tuple[Tensor, ...] | None = None
    flow_input: KeyHalf | None = None
    own_logits: tuple[Tensor, Tensor] | None = None

    @property
    def key_prediction(self) -> tuple[Tensor, Tensor]:
        """(class, mask) logits that segment the key frame itself."""
        return self.own_logits if self.own_logits is not None else (self.class_logits, self.mask_logits)

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.image.shape[-2]), int(self.image.shape[-1])


@dataclass
class Propagation:
    """A non-key frame's prediction (flows on the 1/8 grid h8 x w8, in pixels of that grid).

    Attributes:
        class_logits: BxQx(K+1), the key frame's.
        mask_logits: BxQx(Hp/4)x(Wp/4) warped key mask logits.
        aux_class_logits / aux_mask_logits: earlier stages (key classes, warped masks) when all_stages.
        flow: BxQx2xh8xw8 final (fused) flow, on request.
        query_flow: BxQx2xh8xw8 query-based flow, on request (None when that branch is off).
        pixel_flow: BxQx2xh8xw8 pixel-wise flow, identical for every query (an expanded view of one
            Bx2xh8xw8 map), on request (None when that branch is off).
        attention: list of FlowAttention per decoder layer, on request.
    """

    class_logits: Tensor
    mask_logits: Tensor
    aux_class_logits: tuple[Tensor, ...] | None = None
    aux_mask_logits: tuple[Tensor, ...] | None = None
    flow: Tensor | None = None
    query_flow: Tensor | None = None
    pixel_flow: Tensor | None = None
    attention: list[FlowAttention] | None = None


class FlowModule(nn.Module):
    """FlowNetS encoder + motion decoder: (current, key, Q_O^k) -> per-query flows."""

    def __init__(self, encoder: MotionEncoder, decoder: MotionDecoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(
        self,
        current: Tensor,
        key: Tensor,
        query_features: Tensor | None,
        return_attention: bool = False,
        key_prepared: KeyHalf | None = None,
        queries: Tensor | None = None,
    ):
        """current, key: Bx3xHxW RGB 0..255; query_features: BxQxC -> MotionDecoderOutput.

        `key_prepared`: the key's prepared half of the encoder input, when already computed;
        `queries`: the queries whose flows are wanted (`MotionDecoder.forward`)."""
        feats = self.encoder(current, key, key_prepared)
        return self.decoder(feats, query_features, return_attention, queries)


class MPVSS(nn.Module):
    """Key-frame Mask2Former + query-based flow module (see the module docstring)."""

    def __init__(
        self, cfg: MPVSSConfig, *, segmenter: KeyFrameSegmenter | None = None, flow: FlowModule | None = None
    ) -> None:
        """Build from `cfg`; `segmenter` / `flow` may be injected (e.g. a segmenter from an HF folder)."""
        super().__init__()
        self.cfg = cfg
        self.segmenter = segmenter if segmenter is not None else KeyFrameSegmenter.from_config(cfg.segmenter)
        if flow is None:
            encoder = MotionEncoder(cfg.flow)
            decoder = MotionDecoder(
                cfg.flow, self.segmenter.num_queries, self.segmenter.hidden_dim, encoder.out_channels
            )
            flow = FlowModule(encoder, decoder)
        self.flow = flow
        self.key_decoder: KeyDecoder | None = None  # set by `use_key_decoder`
        self._segmenter_frozen = False

    def use_key_decoder(self, decoder: KeyDecoder | None) -> MPVSS:
        """Segment key frames with `decoder` (e.g. the stage-0 decoder and heads), while non-key frames
        keep propagating the masks of the model's own (stage-1 retrained) heads. Not the paper's recipe:
        an option, since retraining the heads with the flow module costs key frames accuracy."""
        self.key_decoder = decoder
        return self

    def use_fast_path(self, fast: bool = True) -> MPVSS:
        """Choose how inference computes (the same function either way, to float rounding): fast runs
        the flow module's convolutions channels-last (~20 % faster on CPU), computes conv1's key half
        once per key frame (`MotionEncoder.forward`), shares the fusion conv's pixel half among the
        queries (`FlowFusion.forward`) and folds the query-flow head's last per-pixel layer into the
        queries (`QueryFlowHead.forward`); otherwise the code runs as the paper's implementation writes
        it. The choice holds for everyone who runs this model."""
        self.flow.to(memory_format=torch.channels_last if fast else torch.contiguous_format)
        self.flow.encoder.split = fast
        if self.flow.decoder.fusion is not None:
            self.flow.decoder.fusion.split = fast
        if self.flow.decoder.query_flow_head is not None:
            self.flow.decoder.query_flow_head.fold = fast
        return self

    # --- key frames -------------------------------------------------------------------------------
    def segment_key(self, images: Tensor, return_aux: bool = False) -> KeyState:
        """Run Mask2Former on key frames Bx3xHxW (RGB 0..255) and keep what propagation needs."""
        extra = {} if self.key_decoder is None else {"key_decoder": self.key_decoder}
        out = self.segmenter(images, return_aux=return_aux, **extra)
        return KeyState(
            class_logits=out.class_logits,
            mask_logits=out.mask_logits,
            query_features=out.query_features,
            image=images,
            aux_class_logits=out.aux_class_logits,
            aux_mask_logits=out.aux_mask_logits,
            own_logits=getattr(out, "own_logits", None),
        )

    # --- non-key frames ---------------------------------------------------------------------------
    def propagate(
        self,
        key_state: KeyState,
        images: Tensor,
        return_flows: bool = False,
        return_attention: bool = False,
        all_stages: bool = False,
        queries: Tensor | None = None,
    ) -> Propagation:
        """Propagate the key frame's masks to frames `images` (Bx3xHxW RGB 0..255, same size as the key).

        A key state of batch 1 may be propagated to B frames at once (a whole segment, offline).

        Args:
            key_state: from `segment_key` (for `all_stages`, called with `return_aux=True`).
            images: the frames being predicted.
            return_flows: include the final/query/pixel flows (BxQx2xh8xw8).
            return_attention: include the flow queries' attention maps per decoder layer.
            all_stages: also warp the earlier decoder stages' masks with the same flow (training).
            queries: propagate only these queries (indices; query pruning): their masks, flows and
                classes are those they have without pruning (all queries still attend jointly).
        Returns:
            Propagation with warped mask logits BxQx(Hp/4)x(Wp/4) and the key frame's class logits.
        """
        key_batch = key_state.image.shape[0]
        if images.shape[1:] != key_state.image.shape[1:] or key_batch not in (1, images.shape[0]):
            raise ValueError(
                f"frame {tuple(images.shape)} and key frame {tuple(key_state.image.shape)} differ in shape"
            )
        batch = images.shape[0]
        if all_stages and queries is not None:
            raise ValueError("all_stages (training) propagates every query: queries must be None")
        if all_stages and key_state.aux_mask_logits is None:
            raise ValueError("all_stages=True needs a key state from segment_key(..., return_aux=True)")
        if key_state.flow_input is None and not torch.is_grad_enabled():
            key_state.flow_input = self.flow.encoder.prepare(key_state.image)  # once per key frame
        query_features = key_state.query_features.expand(batch, -1, -1)
        flows = self.flow(
            images, key_state.image, query_features, return_attention, key_state.flow_input, queries
        )
        key_masks, key_classes = key_state.mask_logits, key_state.class_logits
        if queries is not None:
            key_masks, key_classes = key_masks[:, queries], key_classes[:, queries]
        key_masks = key_masks.expand(batch, -1, -1, -1)
        key_classes = key_classes.expand(batch, -1, -1)
        mask_logits = self._warp(key_masks, flows.flow, flows.pixel_flow)
        aux_class = aux_mask = None
        if all_stages and key_state.aux_mask_logits is not None:
            aux_mask = tuple(self._warp(m, flows.flow, flows.pixel_flow) for m in key_state.aux_mask_logits)
            aux_class = key_state.aux_class_logits
        result = Propagation(key_classes, mask_logits, aux_class, aux_mask, attention=flows.attention)
        if return_flows:
            result.flow = flows.flow
            result.query_flow = flows.query_flow
            if flows.pixel_flow is not None:
                result.pixel_flow = flows.pixel_flow.unsqueeze(1).expand_as(flows.flow)
        return result

    def _warp(self, mask_logits: Tensor, flow: Tensor, pixel_flow: Tensor | None) -> Tensor:
        """Warp BxQxHxW mask logits by per-query flows BxQx2xhxw."""
        batch, queries, height, width = mask_logits.shape
        if self.flow.decoder.transformer is None and pixel_flow is not None:
            # one flow shared by every query: warp the Q maps as channels of one image (same result, cheaper)
            return backward_warp(mask_logits, pixel_flow, self.cfg.warp_mode)
        warped = backward_warp(
            mask_logits.reshape(batch * queries, 1, height, width),
            flow.reshape(batch * queries, 2, *flow.shape[-2:]),
            self.cfg.warp_mode,
        )
        return warped.view(batch, queries, height, width)

    # --- both ---------------------------------------------------------------------------------------
    @staticmethod
    def semantic_inference(class_logits: Tensor, mask_logits: Tensor, image_size: tuple[int, int]) -> Tensor:
        """BxQx(K+1) class logits + BxQxhxw mask logits -> BxKxHxW scores (see `semantic_inference`)."""
        return semantic_inference(class_logits, mask_logits, image_size)

    def forward(self, images: Tensor, key_state: KeyState | None = None, **kwargs) -> KeyState | Propagation:
        """`segment_key(images)` without a key state, else `propagate(key_state, images, **kwargs)`.

        Present so that wrappers that call `forward` (e.g. DistributedDataParallel) work.
        """
        if key_state is None:
            return self.segment_key(images, **kwargs)
        return self.propagate(key_state, images, **kwargs)

    # --- training helpers ---------------------------------------------------------------------------
    def _segmenter_heads(self) -> list[nn.Module]:
        return [self.segmenter.class_predictor, self.segmenter.mask_embedder]

    def freeze_segmenter(self) -> MPVSS:
        """Stage-1 training setup (docs/method-notes.md §1.12, §4.2.7): the whole segmenter is frozen
        (requires_grad False) and kept in eval() (no drop-path, exact key-frame outputs) except its class
        and mask heads, which train with the flow module."""
        for p in self.segmenter.parameters():
            p.requires_grad_(False)
        for head in self._segmenter_heads():
            for p in head.parameters():
                p.requires_grad_(True)
        self._segmenter_frozen = True
        return self.train(self.training)

    @property
    def segmenter_frozen(self) -> bool:
        return self._segmenter_frozen

    def train(self, mode: bool = True) -> MPVSS:
        """As nn.Module.train, but the frozen segmenter parts stay in eval()."""
        super().train(mode)
        if self._segmenter_frozen:
            self.segmenter.eval()
            for head in self._segmenter_heads():
                head.train(mode)
        return self

    def trainable_parameter_names(self) -> list[str]:
        """Names of the parameters with requires_grad, in registration order."""
        return [name for name, p in self.named_parameters() if p.requires_grad]
