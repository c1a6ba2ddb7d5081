"""Motion decoder: flow queries, joint attention over motion tokens, query/pixel flow and their fusion.

Faithful to the official `MotionDec` (docs/method-notes.md §1.5-1.8), with N flow queries (one per Mask2Former
query) and d = `d_model`:

1. Flow queries. `query_feat` starts as the key frame's LayerNorm-ed queries Q_O^k (projected by a
   Linear when the segmenter width differs from d; the official widths are equal, so no projection).
   With `query_init=False` it starts at zero, so the tokens fed to the first layer are the learnable
   embedding alone. The learnable `query_embed` is added to `query_feat` at *every* layer, on top of an
   output that already contains it (as the official code does).
2. Motion tokens. conv6, conv5, conv4 (coarse -> fine) are projected by 1x1 convs to d, get a learnable
   level embedding once, and a sine positional encoding at every visit.
3. S stages x 3 scales of JOINT self-attention: layer l takes `[query tokens (N) ; motion tokens of
   scale l mod 3 (hw)]` through multi-head self-attention and an FFN, both post-norm, no masks. The
   query part becomes the new `query_feat`, the motion part overwrites that scale's tokens.
4. Query flow (segment-aware): `e = MLP_out(LN(query_feat))` per query, `E = MLP_scale(conv2)` per pixel
   (conv2 NOT refined), `f_n(p) = (<e_n, E_x(p)>, <e_n, E_y(p)>)` with `E_y = E[:d_e]`, `E_x = E[d_e:]`.
5. Pixel flow: FlowNetS coarse-to-fine refinement over [conv2, conv3, conv4', conv5', conv6'] (primes:
   the refined tokens reshaped to maps), output at the conv2 grid, times `flow_scale_factor`.
6. Fusion: `conv3x3([pixel flow, f_n]) -> 2` per query, initialised to weight 0 and bias
   `fuse_bias_init`, so every query starts with the constant flow (+1, +1) px of the 1/8 grid.

Switches: `use_pixel_flow=False` (query-learned) returns the query flow directly with no pixel decoder
and no fusion; `use_query_flow=False` (learned FlowNet baseline) builds no transformer, no queries, no
MLP heads and no fusion: the pixel decoder runs on the raw encoder features and its flow is shared by
every query.

Attention maps (on request): for layer l, the head-averaged softmax weights of the N query rows over the
hw motion-token columns, *renormalised to sum to 1 over those hw tokens* (`maps`, BxNxhxw), plus the raw
mass each query puts on motion tokens at all (`motion_mass`, BxN, in [0, 1]; the rest of its attention
goes to the N flow queries). Requesting them takes PyTorch's explicit-weights attention path, which can
differ from the fused path in the last bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import FlowConfig

__all__ = [
    "MLP",
    "FlowAttention",
    "FlowFusion",
    "FlowQueryTransformer",
    "JointAttentionLayer",
    "MotionDecoder",
    "MotionDecoderOutput",
    "PixelFlowDecoder",
    "QueryFlowHead",
    "sine_position_embedding",
]

SCALE_NAMES: tuple[str, str, str] = ("conv6", "conv5", "conv4")  # attention order: coarse -> fine
LEAKY_SLOPE = 0.1


@dataclass
class FlowAttention:
    """Attention of the flow queries over one scale's motion tokens, at one decoder layer.

    Attributes:
        layer: decoder layer index, 0 .. 3S-1.
        stage: layer // 3 (the round over the three scales).
        scale: "conv6", "conv5" or "conv4".
        maps: BxNxhxw head-averaged attention over the motion tokens, renormalised: sums to 1 over hxw.
        motion_mass: BxN raw fraction of each query's attention that lands on motion tokens (0..1).
    """

    layer: int
    stage: int
    scale: str
    maps: Tensor
    motion_mass: Tensor


@dataclass
class MotionDecoderOutput:
    """Flows on the conv2 grid (h x w = 1/8 of the padded frame), in pixels of that grid.

    Attributes:
        flow: BxNx2xhxw final per-query flow (fused, or whichever branch is on).
        query_flow: BxNx2xhxw query-based flow, None when the query branch is off.
        pixel_flow: Bx2xhxw pixel-wise flow (shared by all queries), None when that branch is off.
        attention: list of FlowAttention, one per layer, when requested (else None).
    """

    flow: Tensor
    query_flow: Tensor | None = None
    pixel_flow: Tensor | None = None
    attention: list[FlowAttention] | None = None


def sine_position_embedding(height: int, width: int, num_feats: int, like: Tensor) -> Tensor:
    """DETR/Mask2Former `PositionEmbeddingSine(num_feats, normalize=True)` for an unpadded map.

    Returns:
        1x(2*num_feats)xheightxwidth, channels [pos_y ; pos_x], each interleaving sin/cos.
    """
    eps, scale, temperature = 1e-6, 2 * math.pi, 10000.0
    y_embed = torch.arange(1, height + 1, dtype=like.dtype, device=like.device).view(height, 1)
    x_embed = torch.arange(1, width + 1, dtype=like.dtype, device=like.device).view(1, width)
    y_embed = (y_embed / (height + eps) * scale).expand(height, width)
    x_embed = (x_embed / (width + eps) * scale).expand(height, width)
    dim_t = torch.arange(num_feats, dtype=like.dtype, device=like.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    pos_x = x_embed[..., None] / dim_t
    pos_y = y_embed[..., None] / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=-1).flatten(-2)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=-1).flatten(-2)
    return torch.cat((pos_y, pos_x), dim=-1).permute(2, 0, 1).unsqueeze(0)


class MLP(nn.Module):
    """Linear layers with ReLU between them (Mask2Former's MLP); acts on the last dim."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 3) -> None:
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class JointAttentionLayer(nn.Module):
    """Post-norm self-attention + FFN over a Bx(N+T)xd token sequence (no masks, dropout 0)."""

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, num_heads, dropout=0.0, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        for p in self.parameters():  # DETR / Mask2Former transformer init
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """x: Bx(N+T)xd -> (Bx(N+T)xd, head-averaged weights Bx(N+T)x(N+T) or None)."""
        attn, weights = self.self_attn(x, x, x, need_weights=need_weights, average_attn_weights=True)
        x = self.norm1(x + attn)
        x = self.norm2(x + self.linear2(F.relu(self.linear1(x))))
        return x, weights


class FlowQueryTransformer(nn.Module):
    """Flow queries x multi-scale motion tokens, S stages over [conv6, conv5, conv4]."""

    def __init__(
        self, cfg: FlowConfig, num_queries: int, query_dim: int, in_channels: tuple[int, int, int]
    ) -> None:
        """in_channels: channels of (conv6, conv5, conv4); query_dim: width of the key-frame queries."""
        super().__init__()
        d = cfg.d_model
        self.query_init = cfg.query_init
        self.num_queries = num_queries
        # only built when the key queries are used and widths differ (official: 256 == 256, none)
        if cfg.query_init and query_dim != d:
            self.query_input_proj: nn.Module = nn.Linear(query_dim, d)
        else:
            self.query_input_proj = nn.Identity()
        self.query_embed = nn.Embedding(num_queries, d)
        self.level_embed = nn.Embedding(len(SCALE_NAMES), d)
        self.input_proj = nn.ModuleList(nn.Conv2d(c, d, kernel_size=1) for c in in_channels)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)
        self.layers = nn.ModuleList(
            JointAttentionLayer(d, cfg.num_heads, cfg.dim_feedforward) for _ in range(cfg.num_layers)
        )
        # sine position tokens per map size: constants, computed once (not parameters, not saved)
        self._pos_tokens: dict[tuple, Tensor] = {}

    def position_tokens(self, height: int, width: int, like: Tensor) -> Tensor:
        """1x(h*w)xd sine position embedding of an hxw motion map (cached per size, dtype, device)."""
        d = self.query_embed.embedding_dim
        key = (height, width, like.dtype, like.device)
        if key not in self._pos_tokens:
            pos = sine_position_embedding(height, width, d // 2, like).flatten(2).transpose(1, 2)
            self._pos_tokens[key] = pos.contiguous()
        return self._pos_tokens[key]

    def forward(
        self, motion_feats: list[Tensor], query_features: Tensor | None, return_attention: bool = False
    ) -> tuple[Tensor, list[Tensor], list[FlowAttention] | None]:
        """Refine flow queries and motion tokens.

        Args:
            motion_feats: [conv6, conv5, conv4] maps, BxC_ixh_ixw_i.
            query_features: BxNxC key-frame queries Q_O^k (ignored when query_init is off; may be None).
            return_attention: also return one FlowAttention per layer.
        Returns:
            query_feat BxNxd (before the head's LayerNorm), refined maps [conv6', conv5', conv4'] each
            Bxdxh_ixw_i, and the attention list or None.
        """
        batch = motion_feats[0].shape[0]
        d = self.query_embed.embedding_dim
        if self.query_init:
            if query_features is None:
                raise ValueError("query_init is on: the key frame's query features are required")
            if query_features.shape[:2] != (batch, self.num_queries):
                raise ValueError(
                    f"expected key queries {batch}x{self.num_queries}xC, got {tuple(query_features.shape)}"
                )
            query_feat = self.query_input_proj(query_features)
        else:
            # Figure C (g)-(i): no Q_O^k, the first layer sees the learnable embedding alone
            query_feat = motion_feats[0].new_zeros(batch, self.num_queries, d)
        query_embed = self.query_embed.weight.unsqueeze(0)

        shapes, tokens, pos = [], [], []
        for i, (feat, proj) in enumerate(zip(motion_feats, self.input_proj, strict=True)):
            height, width = feat.shape[-2:]
            shapes.append((height, width))
            tokens.append(proj(feat).flatten(2).transpose(1, 2) + self.level_embed.weight[i])
            pos.append(self.position_tokens(height, width, feat))

        attention: list[FlowAttention] | None = [] if return_attention else None
        n = self.num_queries
        for layer_index, layer in enumerate(self.layers):
            s = layer_index % len(SCALE_NAMES)
            # both embeddings are added to the tokens themselves (q = k = v), so the outputs carry them
            x = torch.cat((query_feat + query_embed, tokens[s] + pos[s]), dim=1)
            x, weights = layer(x, need_weights=return_attention)
            query_feat, tokens[s] = x[:, :n], x[:, n:]
            if attention is not None and weights is not None:
                on_motion = weights[:, :n, n:]  # BxNxT, rows of the flow queries
                mass = on_motion.sum(-1)
                maps = (on_motion / mass.clamp_min(torch.finfo(mass.dtype).tiny).unsqueeze(-1)).unflatten(
                    -1, shapes[s]
                )
                attention.append(FlowAttention(layer_index, layer_index // 3, SCALE_NAMES[s], maps, mass))

        refined = [t.transpose(1, 2).unflatten(-1, hw) for t, hw in zip(tokens, shapes, strict=True)]
        return query_feat, refined, attention


class QueryFlowHead(nn.Module):
    """Per-query flow as dot products of query embeddings with per-pixel motion embeddings."""

    def __init__(self, cfg: FlowConfig, motion_channels: int) -> None:
        super().__init__()
        self.embed_dim = cfg.flow_embed_dim
        self.query_norm = nn.LayerNorm(cfg.d_model)  # the decoder's final norm
        self.query_mlp = MLP(cfg.d_model, cfg.mlp_hidden, cfg.flow_embed_dim)  # MLP_out
        self.motion_mlp = MLP(motion_channels, cfg.mlp_hidden, 2 * cfg.flow_embed_dim)  # MLP_scale
        self.fold = False  # fold MLP_scale's last layer into the queries (inference; see forward)

    def forward(self, query_feat: Tensor, conv2: Tensor) -> Tensor:
        """query_feat BxNxd, conv2 BxC2xhxw -> query flow BxNx2xhxw (channel 0 = x, 1 = y).

        flow_x(n, p) = e_n . (W_x h(p) + b_x), with h the last hidden layer of MLP_scale, is linear in
        h(p): with `fold` on (the fast inference path) it is computed as (W_x^T e_n) . h(p) + e_n . b_x,
        which moves the last layer's work from every pixel (hw x H x 2D) to every query (N x D x H),
        about 60 % fewer operations at the tiny preset's 32 queries and 2048 pixels (the same values up to
        rounding). Off (the default, and always in training) it is the official two-step product."""
        e = self.query_mlp(self.query_norm(query_feat))  # BxNxD
        if self.fold and not torch.is_grad_enabled():
            return self._folded(e, conv2)
        motion = self.motion_mlp(conv2.permute(0, 2, 3, 1))  # BxhxwX2D, per pixel
        e_y, e_x = motion[..., : self.embed_dim], motion[..., self.embed_dim :]  # official split order
        # plain dot products: no scaling, activation or softmax (docs/method-notes.md §1.6)
        flow_x = torch.einsum("bnd,bhwd->bnhw", e, e_x)
        flow_y = torch.einsum("bnd,bhwd->bnhw", e, e_y)
        return torch.stack((flow_x, flow_y), dim=2)

    def _folded(self, e: Tensor, conv2: Tensor) -> Tensor:
        batch, n, dim = e.shape
        height, width = conv2.shape[-2:]
        hidden = conv2.permute(0, 2, 3, 1).reshape(batch, height * width, -1)
        for layer in self.motion_mlp.layers[:-1]:
            hidden = F.relu(layer(hidden))  # Bx(hw)xH
        last = self.motion_mlp.layers[-1]
        # rows [x; y] of the last layer (the official split puts y first): 2xDxH and 2xD
        weight = last.weight.view(2, dim, -1).flip(0)
        bias = last.bias.view(2, dim).flip(0)
        folded = torch.einsum("bnd,cdk->bnck", e, weight).reshape(batch, 2 * n, -1)  # Bx(2N)xH
        offset = torch.einsum("bnd,cd->bnc", e, bias).reshape(batch, 2 * n, 1)
        flows = torch.baddbmm(offset, folded, hidden.transpose(1, 2))  # Bx(2N)x(hw)
        return flows.view(batch, n, 2, height, width)


class PixelFlowDecoder(nn.Module):
    """FlowNetS refinement: [conv2, conv3, conv4, conv5, conv6] -> pixel flow Bx2xhxw at conv2's grid."""

    def __init__(self, in_channels: tuple[int, ...], decoder_channels: tuple[int, ...], scale: float) -> None:
        """in_channels: channels of (conv2, conv3, conv4, conv5, conv6) as fed (refined or raw)."""
        super().__init__()
        self.scale = scale
        predicts, flow_ups, deconvs = [], [], []
        x_ch = in_channels[-1]
        for skip_ch, out_ch in zip(reversed(in_channels[:-1]), decoder_channels, strict=True):
            predicts.append(nn.Conv2d(x_ch, 2, 3, padding=1, bias=False))
            flow_ups.append(nn.ConvTranspose2d(2, 2, 4, stride=2, padding=1, bias=False))
            deconvs.append(nn.ConvTranspose2d(x_ch, out_ch, 4, stride=2, padding=1, bias=False))
            x_ch = skip_ch + out_ch + 2
        self.predict = nn.ModuleList(predicts)  # intermediate flows at conv6 .. conv3 (no supervision)
        self.flow_up = nn.ModuleList(flow_ups)
        self.deconv = nn.ModuleList(deconvs)
        self.predict_final = nn.Conv2d(x_ch, 2, 3, padding=1, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")

    def forward(self, feats: list[Tensor]) -> Tensor:
        """feats [conv2, conv3, conv4, conv5, conv6] -> Bx2xh2xw2 flow (pixels of the conv2 grid)."""
        x = feats[-1]
        for i, skip in enumerate(reversed(feats[:-1])):
            height, width = skip.shape[-2:]
            flow = self.predict[i](x)
            up = self.flow_up[i](flow)[..., :height, :width]
            d = F.leaky_relu(self.deconv[i](x), LEAKY_SLOPE)[..., :height, :width]
            x = torch.cat((skip, d, up), dim=1)
        return self.predict_final(x) * self.scale


class FlowFusion(nn.Module):
    """conv3x3([pixel flow ; query flow]) -> per-query flow; init weight 0, bias `bias_init`."""

    def __init__(self, bias_init: float = 1.0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 2, 3, padding=1, bias=True)
        self.split = False  # convolve the shared pixel half once (inference; see forward)
        nn.init.zeros_(self.conv.weight)
        nn.init.constant_(self.conv.bias, bias_init)

    def forward(self, pixel_flow: Tensor, query_flow: Tensor) -> Tensor:
        """pixel_flow Bx2xhxw, query_flow BxNx2xhxw -> BxNx2xhxw.

        The conv is linear in its input, so conv([pixel; query_q]) = conv_pixel(pixel) + conv_query(query_q)
        + bias: with `split` on (the fast inference path) the pixel half, shared by every query, is
        convolved once; off (the default, and always in training) it is the one conv over the
        concatenation, as the official code."""
        batch, n, _, height, width = query_flow.shape
        if not self.split or torch.is_grad_enabled():
            pixel = pixel_flow.unsqueeze(1).expand(batch, n, 2, height, width)
            x = torch.cat((pixel, query_flow), dim=2).reshape(batch * n, 4, height, width)
            return self.conv(x).view(batch, n, 2, height, width)
        w, bias = self.conv.weight, self.conv.bias
        shared = F.conv2d(pixel_flow, w[:, :2], bias, padding=1)  # Bx2xhxw
        own = F.conv2d(query_flow.reshape(batch * n, 2, height, width), w[:, 2:], None, padding=1)
        return own.view(batch, n, 2, height, width) + shared.unsqueeze(1)


class MotionDecoder(nn.Module):
    """Encoder features (+ key queries) -> per-query flow; see the module docstring."""

    def __init__(
        self, cfg: FlowConfig, num_queries: int, query_dim: int, encoder_channels: tuple[int, ...]
    ) -> None:
        """encoder_channels: channels of (conv2, conv3, conv4, conv5, conv6)."""
        super().__init__()
        self.num_queries = num_queries
        self.use_query_flow = cfg.use_query_flow
        self.use_pixel_flow = cfg.use_pixel_flow
        c2, c3, c4, c5, c6 = encoder_channels
        self.transformer: FlowQueryTransformer | None = None
        self.query_flow_head: QueryFlowHead | None = None
        self.pixel_decoder: PixelFlowDecoder | None = None
        self.fusion: FlowFusion | None = None
        if cfg.use_query_flow:
            self.transformer = FlowQueryTransformer(cfg, num_queries, query_dim, (c6, c5, c4))
            self.query_flow_head = QueryFlowHead(cfg, c2)
        if cfg.use_pixel_flow:
            # with the transformer, conv4..6 are replaced by their d-channel refined tokens
            deep = (cfg.d_model,) * 3 if cfg.use_query_flow else (c4, c5, c6)
            self.pixel_decoder = PixelFlowDecoder(
                (c2, c3, *deep), cfg.decoder_channels, cfg.flow_scale_factor
            )
        if cfg.use_query_flow and cfg.use_pixel_flow:
            self.fusion = FlowFusion(cfg.fuse_bias_init)

    def forward(
        self,
        feats: list[Tensor],
        query_features: Tensor | None = None,
        return_attention: bool = False,
        queries: Tensor | None = None,
    ) -> MotionDecoderOutput:
        """Predict flows.

        Args:
            feats: encoder outputs [conv2, conv3, conv4, conv5, conv6].
            query_features: BxNxC key-frame queries Q_O^k (needed when query flow and query_init are on).
            return_attention: return the flow queries' attention maps (query branch only).
            queries: indices of the queries whose flows are wanted (all when None). Every query still
                takes part in the joint attention, so a selected query's flow equals its unselected one.
        Returns:
            MotionDecoderOutput with flows on the conv2 grid (N = the selected queries).
        """
        conv2, conv3, conv4, conv5, conv6 = feats
        query_flow = pixel_flow = attention = None
        deep = [conv4, conv5, conv6]
        if self.transformer is not None and self.query_flow_head is not None:
            query_feat, (r6, r5, r4), attention = self.transformer(
                [conv6, conv5, conv4], query_features, return_attention
            )
            if queries is not None:
                query_feat = query_feat[:, queries]
            query_flow = self.query_flow_head(query_feat, conv2)
            deep = [r4, r5, r6]
        if self.pixel_decoder is not None:
            pixel_flow = self.pixel_decoder([conv2, conv3, *deep])
        if self.fusion is not None and query_flow is not None and pixel_flow is not None:
            flow = self.fusion(pixel_flow, query_flow)
        elif query_flow is not None:
            flow = query_flow
        else:
            assert pixel_flow is not None
            batch, _, height, width = pixel_flow.shape
            # the learned FlowNet baseline: one flow, shared (expanded, not copied) by every query
            n = self.num_queries if queries is None else len(queries)
            flow = pixel_flow.unsqueeze(1).expand(batch, n, 2, height, width)
        return MotionDecoderOutput(flow, query_flow, pixel_flow, attention)
