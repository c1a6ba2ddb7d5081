"""Typed model configuration: frozen dataclasses with commented defaults, plus named presets.

The dataclass defaults ARE the `tiny` preset (the project default, trainable on 2 CPU cores at
256x512); the comment beside each field gives the official MPVSS / Mask2Former value that the
paper-scale presets (`swin_t`, `swin_s`, `swin_b`, `swin_l`) use. Variants of the method (Table I
stages, Table II query-learned / pixel flow, Figure C no-init) are `FlowConfig` switches, never code
forks; which switches each method sets is the method table's (`methods.method_config`).

    cfg = get_preset("swin_t")                       # paper-scale, 124 VSPW classes
    cfg = method_config("tiny", "query_learned")     # mpvss_core.methods: pixel-wise flow branch off
    cfg = dataclasses.replace(cfg, warp_mode="compat")  # official /W warping normaliser
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

WarpMode = Literal["exact", "compat"]
WARP_MODES: tuple[str, ...] = ("exact", "compat")

# The tiny preset's label space is the built-in synthetic benchmark's (mpvss_core.labels.SYNTH_CLASSES,
# 18 classes; tests check the two agree). Written as a number so that importing the config stays light.
NUM_SYNTH_CLASSES = 18
NUM_VSPW_CLASSES = 124
NUM_CITYSCAPES_CLASSES = 19


@dataclass(frozen=True)
class SegmenterConfig:
    """Key-frame segmenter: Hugging Face Mask2Former with a Swin backbone (official value in comments)."""

    num_classes: int = NUM_SYNTH_CLASSES  # K (no-object is the extra K+1-th logit); VSPW 124
    # Swin backbone
    embed_dim: int = 48  # Swin-T/S 96, Swin-B 128, Swin-L 192
    depths: tuple[int, ...] = (2, 2, 2, 2)  # Swin-T (2,2,6,2), Swin-S/B/L (2,2,18,2)
    num_heads: tuple[int, ...] = (2, 4, 8, 16)  # Swin-T/S (3,6,12,24), B (4,8,16,32), L (6,12,24,48)
    window_size: int = 7  # Swin-T/S (IN-1k, 224) 7, Swin-B/L (IN-22k, 384) 12
    drop_path_rate: float = 0.1  # official 0.3 (stochastic depth; inactive in eval())
    # Mask2Former pixel decoder + transformer decoder
    hidden_dim: int = 128  # decoder width = pixel-decoder feature size = mask feature size; official 256
    num_queries: int = 32  # official 100
    decoder_layers: int = (
        4  # HF semantics: N predictions = 1 from the learnable queries + N-1 layers; official 10
    )
    encoder_layers: int = 2  # multi-scale deformable encoder layers in the pixel decoder; official 6
    num_attention_heads: int = 4  # official 8
    dim_feedforward: int = 512  # transformer-decoder FFN; official 2048
    encoder_feedforward_dim: int = 256  # deformable-encoder FFN; official 1024
    # A full HF Mask2FormerConfig as a JSON string. When set (segmenter loaded from a local HF folder),
    # it is authoritative for the architecture and the fields above are informative copies.
    hf_config: str | None = None

    def __post_init__(self) -> None:
        if len(self.depths) != len(self.num_heads):
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} differ in length")
        if self.decoder_layers < 1:
            raise ValueError("decoder_layers must be >= 1 (HF counts the learnable-query prediction)")
        if self.hidden_dim % self.num_attention_heads:
            raise ValueError(
                f"hidden_dim {self.hidden_dim} not divisible by {self.num_attention_heads} heads"
            )


@dataclass(frozen=True)
class FlowConfig:
    """Flow module: FlowNetS encoder + flow-query motion decoder (docs/method-notes.md §1.3-1.8)."""

    # FlowNetS encoder, stages conv1..conv6 (docs/method-notes.md §1.4): output channels, kernel of each
    # stage's first (stride-2) conv, convs per stage (the later convs of a stage are 3x3, stride 1).
    # official (64,128,256,512,512,1024); tiny is a quarter of that except conv6 (192, not 256), which keeps
    # the seven shipped flow modules within the 40 MB bundle budget
    encoder_channels: tuple[int, ...] = (16, 32, 64, 128, 128, 192)
    encoder_kernels: tuple[int, ...] = (7, 5, 5, 3, 3, 3)  # official, as here
    encoder_convs: tuple[int, ...] = (1, 1, 2, 2, 2, 2)  # official, as here
    # motion decoder: joint self-attention over [flow queries ; motion tokens of one scale]
    d_model: int = 64  # official 256
    num_heads: int = 4  # official 8
    dim_feedforward: int = 256  # official 2048
    num_stages: int = 3  # S; layers = 3*S (scales conv6, conv5, conv4 round robin); official 3 (Table I)
    # query-based flow heads (docs/method-notes.md §1.6): MLP_out d_model->mlp_hidden->mlp_hidden->
    # flow_embed_dim on the queries, MLP_scale conv2->mlp_hidden->mlp_hidden->2*flow_embed_dim per pixel
    mlp_hidden: int = 128  # official 512
    flow_embed_dim: int = 64  # official 256
    # pixel-wise FlowNetS refinement decoder (docs/method-notes.md §1.7): deconv output channels at 6->5,
    # 5->4, 4->3, 3->2
    decoder_channels: tuple[int, ...] = (32, 32, 32, 16)  # official (128,128,128,64)
    # switches (docs/architecture.md §5)
    query_init: bool = True  # flow queries start from the key frame's queries Q_O^k (False: embedding only)
    use_query_flow: bool = True  # False: FlowNetS-style pixel flow alone, no transformer, no queries
    use_pixel_flow: bool = True  # False: "query-learned", the query flow is used directly, no fusion
    fuse_bias_init: float = 1.0  # fusion conv init: weight 0, bias this -> constant (+1,+1) px start flow
    flow_scale_factor: float = 1.0  # multiplies the pixel-wise flow (yaml 1.0; class default 2.5 unused)
    input_scale: float = 0.5  # the [current, key] pair is resized by this before the encoder
    pixel_mean: tuple[float, float, float] = (0.411, 0.432, 0.450)  # FlowNet normalisation after /255

    def __post_init__(self) -> None:
        if not (len(self.encoder_channels) == len(self.encoder_kernels) == len(self.encoder_convs) == 6):
            raise ValueError("the FlowNetS encoder has exactly 6 stages (conv1..conv6)")
        if len(self.decoder_channels) != 4:
            raise ValueError("the pixel-flow decoder has exactly 4 upsampling steps (6->5->4->3->2)")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model {self.d_model} not divisible by {self.num_heads} heads")
        if self.d_model % 4:
            # the sine position encoding gives d/2 features per axis, interleaving sin and cos
            raise ValueError(f"d_model {self.d_model} must be a multiple of 4 (sine position encoding)")
        if self.num_stages < 1:
            raise ValueError("num_stages (S) must be >= 1")
        if not (self.use_query_flow or self.use_pixel_flow):
            raise ValueError("at least one of use_query_flow / use_pixel_flow must be on")

    @property
    def num_layers(self) -> int:
        """Transformer layers of the motion decoder: S stages x 3 scales."""
        return 3 * self.num_stages


@dataclass(frozen=True)
class MPVSSConfig:
    """The whole model: key-frame segmenter, flow module, warping convention and a name."""

    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    # "exact": sample at p + flow with the correct /(W-1) normaliser (align_corners=True);
    # "compat": the official mmtracking /W normaliser (shift of up to ~1 px toward the top-left)
    warp_mode: str = "exact"
    name: str = "tiny"

    def __post_init__(self) -> None:
        if self.warp_mode not in WARP_MODES:
            raise ValueError(f"warp_mode must be one of {WARP_MODES}, got {self.warp_mode!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MPVSSConfig:
        """Inverse of `to_dict`; unknown or missing fields raise ValueError naming them."""
        if not isinstance(data, dict):
            raise ValueError(f"model config must be a JSON object, got {type(data).__name__}")
        seg = _dataclass_from_dict(SegmenterConfig, data.get("segmenter", {}), "segmenter")
        flow = _dataclass_from_dict(FlowConfig, data.get("flow", {}), "flow")
        top = {k: v for k, v in data.items() if k not in ("segmenter", "flow")}
        return _dataclass_from_dict(cls, top, "model", segmenter=seg, flow=flow)


def _dataclass_from_dict(klass: type, data: dict[str, Any], where: str, **fixed: Any) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where} config must be a JSON object")
    names = {f.name: f for f in dataclasses.fields(klass)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"unknown {where} config field(s): {unknown}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    kwargs.update(fixed)
    return klass(**kwargs)


# ---------------------------------------------------------------------------------------------------
# Presets

# The official flow module (docs/method-notes.md §4.3): FlowNetS table, d=256, 8 heads, FFN 2048,
# S=3 -> 9 layers; about 40.09 M parameters with 100 queries (tested).
OFFICIAL_FLOW = FlowConfig(
    encoder_channels=(64, 128, 256, 512, 512, 1024),
    d_model=256,
    num_heads=8,
    dim_feedforward=2048,
    num_stages=3,
    mlp_hidden=512,
    flow_embed_dim=256,
    decoder_channels=(128, 128, 128, 64),
)

# Mask2Former as configured for VSPW (docs/method-notes.md §1.2): 100 queries, DEC_LAYERS 10 (9 layers +
# 1 prediction from the learnable queries; HF decoder_layers=10 gives the same 10 predictions), hidden 256,
# 8 heads, FFN 2048, 6 deformable encoder layers with FFN 1024, Swin drop-path 0.3, 124 VSPW classes.
_M2F_OFFICIAL = SegmenterConfig(
    num_classes=NUM_VSPW_CLASSES,
    drop_path_rate=0.3,
    hidden_dim=256,
    num_queries=100,
    decoder_layers=10,
    encoder_layers=6,
    num_attention_heads=8,
    dim_feedforward=2048,
    encoder_feedforward_dim=1024,
)

_SWIN = {
    "swin_t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7),
    "swin_s": dict(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), window_size=7),
    "swin_b": dict(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=12),
    "swin_l": dict(embed_dim=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48), window_size=12),
}

PRESETS: dict[str, MPVSSConfig] = {
    "tiny": MPVSSConfig(name="tiny"),
    **{
        name: MPVSSConfig(segmenter=dataclasses.replace(_M2F_OFFICIAL, **swin), flow=OFFICIAL_FLOW, name=name)
        for name, swin in _SWIN.items()
    },
}

PAPER_PRESETS: tuple[str, ...] = ("swin_t", "swin_s", "swin_b", "swin_l")


def flow_preset_for(cfg: MPVSSConfig) -> str:
    """The preset whose flow module suits `cfg`'s segmenter: the segmenter's own preset when it is one
    (its name, also as `<preset>-<method>`), else the paper-scale flow module for a paper-scale
    segmenter (Mask2Former width >= 256, e.g. a real checkpoint) and the tiny one for a smaller one."""
    base = cfg.name.split("-", 1)[0]
    if base in PRESETS:
        return base
    return "swin_t" if cfg.segmenter.hidden_dim >= _M2F_OFFICIAL.hidden_dim else "tiny"


def get_preset(name: str) -> MPVSSConfig:
    """The named preset; KeyError lists the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
