"""Key-frame segmenter: Hugging Face Mask2Former (Swin backbone) behind a tensors-only interface.

The HF model is the maintained implementation of the exact Mask2Former architecture and loads the
official checkpoints users have from a local folder. This wrapper adds the input preparation of the
detectron2 Mask2Former (ImageNet mean/std on 0..255 RGB, zero padding bottom/right to a multiple of 32)
and returns what MPVSS needs: class logits, mask logits and the per-query features Q_O^k *after* the
decoder's final LayerNorm (the vectors the class and mask heads actually consume; HF's
`transformer_decoder_last_hidden_state` is the state before that norm).

Nothing here touches the network or the disk: configs are built in memory; loading a local HF
checkpoint folder is `mpvss_core.checkpoints.checkpoint`'s job (it wraps the loaded model in
`KeyFrameSegmenter`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

from ..config import SegmenterConfig

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SIZE_DIVISIBILITY",
    "KeyFrameSegmenter",
    "SegmenterOutput",
    "hf_config_from_segmenter_config",
    "pad_to_multiple",
    "segmenter_config_from_hf",
]

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255 scale (detectron2 PIXEL_MEAN)
IMAGENET_STD = (58.395, 57.12, 57.375)
SIZE_DIVISIBILITY = 32  # Swin + 3 pyramid levels; detectron2 pads bottom/right to this


def padded_size(height: int, width: int, multiple: int = SIZE_DIVISIBILITY) -> tuple[int, int]:
    """(H, W) rounded up to multiples of `multiple` (the size `pad_to_multiple` pads to)."""
    return height + (-height) % multiple, width + (-width) % multiple


def pad_to_multiple(x: Tensor, multiple: int = SIZE_DIVISIBILITY) -> Tensor:
    """Zero-pad the last two dims of BxCxHxW bottom/right up to a multiple of `multiple`."""
    height, width = x.shape[-2:]
    padded_h, padded_w = padded_size(height, width, multiple)
    if (padded_h, padded_w) == (height, width):
        return x
    return F.pad(x, (0, padded_w - width, 0, padded_h - height))


@dataclass
class SegmenterOutput:
    """Per-image Mask2Former outputs (Q queries, K classes, masks at 1/4 of the padded input).

    Attributes:
        class_logits: BxQx(K+1), last column = no-object.
        mask_logits: BxQx(Hp/4)x(Wp/4) for the padded input size Hp x Wp.
        query_features: BxQxC final-layer queries after the decoder LayerNorm (Q_O^k).
        aux_class_logits: earlier stages' class logits, each BxQx(K+1) (deep supervision), or None.
        aux_mask_logits: earlier stages' mask logits, each BxQx(Hp/4)x(Wp/4), or None.
        own_logits: (class, mask) logits of a second decoder (`KeyDecoder`), when one was given.
    """

    class_logits: Tensor
    mask_logits: Tensor
    query_features: Tensor
    aux_class_logits: tuple[Tensor, ...] | None = None
    aux_mask_logits: tuple[Tensor, ...] | None = None
    own_logits: tuple[Tensor, Tensor] | None = None


def hf_config_from_segmenter_config(cfg: SegmenterConfig) -> Mask2FormerConfig:
    """The HF `Mask2FormerConfig` (Swin backbone) that `cfg` describes; built offline."""
    if cfg.hf_config is not None:
        return Mask2FormerConfig.from_dict(json.loads(cfg.hf_config))
    swin = SwinConfig(
        embed_dim=cfg.embed_dim,
        depths=list(cfg.depths),
        num_heads=list(cfg.num_heads),
        window_size=cfg.window_size,
        drop_path_rate=cfg.drop_path_rate,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    return Mask2FormerConfig(
        backbone_config=swin,
        num_labels=cfg.num_classes,
        hidden_dim=cfg.hidden_dim,
        feature_size=cfg.hidden_dim,
        mask_feature_size=cfg.hidden_dim,
        num_queries=cfg.num_queries,
        decoder_layers=cfg.decoder_layers,
        encoder_layers=cfg.encoder_layers,
        num_attention_heads=cfg.num_attention_heads,
        dim_feedforward=cfg.dim_feedforward,
        encoder_feedforward_dim=cfg.encoder_feedforward_dim,
    )


def segmenter_config_from_hf(hf_config: Mask2FormerConfig) -> SegmenterConfig:
    """A SegmenterConfig carrying `hf_config` verbatim (authoritative) plus informative copies."""
    backbone = hf_config.backbone_config
    swin = {}
    if getattr(backbone, "model_type", None) == "swin":
        swin = dict(
            embed_dim=backbone.embed_dim,
            depths=tuple(backbone.depths),
            num_heads=tuple(backbone.num_heads),
            window_size=backbone.window_size,
            drop_path_rate=backbone.drop_path_rate,
        )
    return SegmenterConfig(
        num_classes=hf_config.num_labels,
        hidden_dim=hf_config.hidden_dim,
        num_queries=hf_config.num_queries,
        decoder_layers=hf_config.decoder_layers,
        encoder_layers=hf_config.encoder_layers,
        num_attention_heads=hf_config.num_attention_heads,
        dim_feedforward=hf_config.dim_feedforward,
        encoder_feedforward_dim=hf_config.encoder_feedforward_dim,
        hf_config=hf_config.to_json_string(use_diff=False),
        **swin,
    )


class KeyFrameSegmenter(nn.Module):
    """Mask2Former on a key frame: Bx3xHxW RGB 0..255 -> class/mask logits and query features."""

    def __init__(self, mask2former: Mask2FormerForUniversalSegmentation) -> None:
        super().__init__()
        self.mask2former = mask2former
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, cfg: SegmenterConfig) -> KeyFrameSegmenter:
        """Random-init Mask2Former described by `cfg` (no network access)."""
        return cls(Mask2FormerForUniversalSegmentation(hf_config_from_segmenter_config(cfg)))

    # Heads that MPVSS fine-tunes with the flow module (docs/method-notes.md §1.12); exposed as properties so
    # that they are not registered twice (state_dict keys stay unique).
    @property
    def class_predictor(self) -> nn.Linear:
        """Linear C -> K+1 class head."""
        return self.mask2former.class_predictor

    @property
    def mask_embedder(self) -> nn.Module:
        """3-layer MLP C -> C -> C -> mask_dim producing the per-query mask embedding."""
        return self.mask2former.model.transformer_module.decoder.mask_predictor.mask_embedder

    @property
    def decoder_layernorm(self) -> nn.LayerNorm:
        """The decoder's final LayerNorm; its output is Q_O^k."""
        return self.mask2former.model.transformer_module.decoder.layernorm

    @property
    def hf_config(self) -> Mask2FormerConfig:
        return self.mask2former.config

    @property
    def num_queries(self) -> int:
        return self.hf_config.num_queries

    @property
    def hidden_dim(self) -> int:
        return self.hf_config.hidden_dim

    @property
    def num_classes(self) -> int:
        return self.hf_config.num_labels

    def preprocess(self, images: Tensor) -> Tensor:
        """Bx3xHxW RGB 0..255 -> ImageNet-normalised, zero-padded Bx3xHpxWp (Hp, Wp multiples of 32)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images Bx3xHxW (RGB, 0..255), got {tuple(images.shape)}")
        x = (images.to(self.pixel_mean.dtype) - self.pixel_mean) / self.pixel_std
        # padding after normalisation: padded pixels are 0 = the mean colour, as in detectron2's ImageList
        return pad_to_multiple(x)

    def forward(
        self, images: Tensor, return_aux: bool = False, key_decoder: KeyDecoder | None = None
    ) -> SegmenterOutput:
        """Run Mask2Former.

        Args:
            images: Bx3xHxW float RGB in 0..255.
            return_aux: also return the earlier stages' class/mask logits (deep supervision).
            key_decoder: also decode the same pixel features with these decoder weights (`own_logits`).
        Returns:
            SegmenterOutput (class logits BxQx(K+1), mask logits BxQx(Hp/4)x(Wp/4), query features BxQxC).
        """
        pixel_values = self.preprocess(images)
        # HF's Mask2FormerModel.forward, in its two halves, so that a second decoder can share the first
        pixel = self.mask2former.model.pixel_level_module(pixel_values=pixel_values)
        decoded = self.mask2former.model.transformer_module(
            multi_scale_features=pixel.decoder_hidden_states,
            mask_features=pixel.decoder_last_hidden_state,
            output_hidden_states=True,  # keeps the per-stage LayerNorm-ed queries
        )
        stages = decoded.intermediate_hidden_states  # each QxBxC, already LayerNorm-ed
        query_features = stages[-1].transpose(0, 1)
        class_logits = self.class_predictor(query_features)
        mask_logits = decoded.masks_queries_logits[-1]
        aux_class = aux_mask = None
        if return_aux:
            aux_class = tuple(self.class_predictor(s.transpose(0, 1)) for s in stages[:-1])
            aux_mask = tuple(decoded.masks_queries_logits[:-1])
        own = None
        if key_decoder is not None:
            own = key_decoder(pixel.decoder_hidden_states, pixel.decoder_last_hidden_state)
        return SegmenterOutput(class_logits, mask_logits, query_features, aux_class, aux_mask, own)


class KeyDecoder(nn.Module):
    """Mask2Former's transformer decoder and class head with other weights (e.g. the stage-0 ones),
    run on the pixel features of the segmenter it is attached to.

    Why a whole decoder and not only the heads: the mask head also makes the masked-attention masks of
    every decoder layer, so heads retrained in stage 1 change the decoder's queries; reproducing the
    stage-0 key-frame prediction needs the decoder run with the stage-0 heads (bit-identical to it).
    """

    def __init__(self, transformer_module: nn.Module, class_predictor: nn.Linear) -> None:
        super().__init__()
        self.transformer_module, self.class_predictor = transformer_module, class_predictor

    def forward(self, multi_scale_features: list[Tensor], mask_features: Tensor) -> tuple[Tensor, Tensor]:
        """-> (class logits BxQx(K+1), mask logits BxQx(Hp/4)x(Wp/4)) of the final decoder stage."""
        decoded = self.transformer_module(
            multi_scale_features=multi_scale_features, mask_features=mask_features, output_hidden_states=True
        )
        queries = decoded.intermediate_hidden_states[-1].transpose(0, 1)
        return self.class_predictor(queries), decoded.masks_queries_logits[-1]
