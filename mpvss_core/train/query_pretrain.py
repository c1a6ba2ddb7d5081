"""Pre-training of a query-based flow module on exact flow (our addition; `--pretrain-flow` for query_flow,
query_learned, query_flow_noinit and stages_S).

pixel_flow's pre-training (`pretrain.FlowPretrainStep`) needs no segmenter: its one dense flow is
compared with the exact flow everywhere. A query-based flow module also needs the key frame's queries
(Q_O^k initialises the flow queries) and masks (each query's flow only matters where its segment
lands), so the frozen segmenter runs on every key frame; the loss is the stage-1 exact-flow term
(`modeling/flow_loss.py`) alone, with no segmentation loss:

- the fused per-query flow and, where a fusion conv combines two branches, the query branch's flow,
  each weighted by where its key-frame mask lands in the target frame (`flow_supervision_loss`);
- the pixel branch as pixel_flow's pre-training sees it: dense end-point error (`dense_flow_loss`).

Nothing back-propagates through the segmenter (its heads keep their stage-0 weights). Because it is
frozen, a key frame's outputs depend only on the key image, so they are cached (`KeyOutputCache`): with
a pool of augmentation draws per key frame (`augment.pooled_rng`, `--aug-pool`) the same augmented key image
comes back, and a step runs Mask2Former only on the key frames it has not seen yet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mpvss_core.modeling.flow_loss import dense_flow_loss, flow_supervision_loss
from mpvss_core.modeling.mpvss import MPVSS, KeyState

__all__ = ["KeyOutputCache", "QueryFlowPretrainStep"]

KeyId = tuple[int, int, int]  # (clip, key frame, augmentation draw)


class KeyOutputCache:
    """Frozen-segmenter outputs of augmented key frames, least recently used out first, bounded in bytes.

    Holds (class_logits Qx(K+1), mask_logits Qx(Hp/4)x(Wp/4), query_features QxC) per key id, detached,
    on the device they were computed on.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[KeyId, tuple[Tensor, Tensor, Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: KeyId) -> tuple[Tensor, Tensor, Tensor] | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: KeyId, item: tuple[Tensor, Tensor, Tensor]) -> None:
        size = sum(t.numel() * t.element_size() for t in item)
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= sum(t.numel() * t.element_size() for t in old)
        self._items[key] = item
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= sum(t.numel() * t.element_size() for t in dropped)


class QueryFlowPretrainStep(nn.Module):
    """Pre-training forward + loss of a query-based flow module (see the module docstring)."""

    def __init__(self, model: MPVSS, cache: KeyOutputCache | None = None) -> None:
        super().__init__()
        if model.flow.decoder.transformer is None:
            raise ValueError(
                "QueryFlowPretrainStep trains a query-based flow module; pixel_flow uses FlowPretrainStep"
            )
        self.model = model
        self.cache = cache

    @torch.no_grad()
    def key_outputs(self, keys: Tensor, key_ids: Sequence[KeyId] | None) -> tuple[Tensor, Tensor, Tensor]:
        """(class_logits BxQx(K+1), mask_logits BxQx(Hp/4)x(Wp/4), query_features BxQxC) of the key
        frames Bx3xHxW: cached ones read back, the segmenter run on the rest as one batch."""
        if self.cache is None or key_ids is None:
            state = self.model.segment_key(keys)
            return state.class_logits, state.mask_logits, state.query_features
        found = [self.cache.get(k) for k in key_ids]
        todo = [i for i, item in enumerate(found) if item is None]
        self.cache.hits += len(found) - len(todo)
        self.cache.misses += len(todo)
        if todo:
            state = self.model.segment_key(keys[todo])
            for j, i in enumerate(todo):
                item = (state.class_logits[j], state.mask_logits[j], state.query_features[j])
                found[i] = item
                self.cache.put(key_ids[i], item)
        return tuple(torch.stack([item[n] for item in found]) for n in range(3))  # type: ignore[return-value]

    def forward(
        self,
        keys: Tensor,
        targets: Tensor,
        flow: Tensor,
        flow_valid: Tensor,
        key_ids: Sequence[KeyId] | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """keys, targets Bx3xHxW RGB 0..255; exact flow target -> key Bx2xHxW and its validity BxHxW;
        `key_ids` name the augmented key frames for the cache -> (loss, parts)."""
        class_logits, mask_logits, query_features = self.key_outputs(keys, key_ids)
        key = KeyState(class_logits, mask_logits, query_features, keys)
        prop = self.model.propagate(key, targets, return_flows=True)
        assert prop.flow is not None
        context = (flow, flow_valid, class_logits, mask_logits, self.model.cfg.warp_mode)
        parts: dict[str, float] = {}
        loss = flow_supervision_loss(prop.flow, *context)
        parts["loss_fused"] = float(loss.detach())
        fused = self.model.flow.decoder.fusion is not None
        if fused and prop.query_flow is not None:
            query = flow_supervision_loss(prop.query_flow, *context)
            parts["loss_query"] = float(query.detach())
            loss = loss + query
        if fused and prop.pixel_flow is not None:
            pixel = dense_flow_loss(prop.pixel_flow[:, 0], flow, flow_valid)  # one map, repeated per query
            parts["loss_pixel"] = float(pixel.detach())
            loss = loss + pixel
        parts["loss_flow"] = float(loss.detach())
        if self.cache is not None and self.cache.hits + self.cache.misses:
            parts["key_cache_hit"] = self.cache.hits / (self.cache.hits + self.cache.misses)
        return loss, parts
