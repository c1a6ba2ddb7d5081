"""The methods that run a trained flow module: MPVSS (`query_flow`) and its variants, and the learned
pixel-wise flow (`pixel_flow`, also bi-directionally as `bi_pixel_flow`).

Each propagates the key frame's per-query mask logits with `MPVSS.propagate` (the model's flow module
and warping) and reuses the key's class logits; diagnostics are read from its outputs.
"""

from __future__ import annotations

import time

import torch

from mpvss_core.frame_result import FrameResult, attention_to_numpy, to_image_tensor, winner_flow
from mpvss_core.methods.propagator import Propagator, sync

__all__ = ["LearnedFlow"]


class LearnedFlow(Propagator):
    """Masks warped by the model's learned flow (`model.propagate`); bi-directional methods also warp
    the next key frame's masks and fuse the two score maps."""

    def _non_key_results(self, group, key, nxt, diag, batched):
        """A segment's frames as one batch (offline mode, labels only), else one at a time."""
        if not batched or diag or len(group) < 2:
            yield from super()._non_key_results(group, key, nxt, diag, batched)
            return
        t0 = time.perf_counter()
        images = torch.cat([to_image_tensor(p.frame, self.device) for p in group])
        size = group[0].frame.shape[:2]
        with self.autocast():
            props = [self.model.propagate(key.state, images, queries=self.kept_queries(key, diag))]
            if nxt is not None:
                props.append(self.model.propagate(nxt.state, images, queries=self.kept_queries(nxt, diag)))
        weights = [self._weights(p.index, key, nxt) for p in group]
        parts = [(pr.class_logits, pr.mask_logits) for pr in props]
        labels = self.batch_labels(parts, [list(w) for w in weights], size)
        sync(self.device)
        share = (time.perf_counter() - t0) / len(group)  # each frame's share of the batch
        for j, p in enumerate(group):
            r = FrameResult(
                p.index, False, key.index, labels[j], next_key_index=None if nxt is None else nxt.index
            )
            r.timings = {"propagate_s": share}
            yield self._charge(r, p, key, share, 0.0)

    def _predict(self, frame, index, key, nxt, diag):
        t0 = time.perf_counter()
        image = to_image_tensor(frame, self.device)
        want_flows = bool({"flows", "flow"} & diag)
        prop = self.model.propagate(
            key.state,
            image,
            return_flows=want_flows,
            return_attention="attention" in diag,
            queries=self.kept_queries(key, diag),
        )
        w_key, w_next = self._weights(index, key, nxt)
        parts = [(prop.class_logits, prop.mask_logits, w_key)]
        if nxt is not None:
            prop_next = self.model.propagate(nxt.state, image, queries=self.kept_queries(nxt, diag))
            parts.append((prop_next.class_logits, prop_next.mask_logits, w_next))
        labels = self.labels(parts, frame.shape[:2])
        sync(self.device)
        t_model = time.perf_counter() - t0
        r = FrameResult(index, False, key.index, labels, next_key_index=None if nxt is None else nxt.index)
        r.timings = {"propagate_s": t_model}
        if "masks" in diag:
            self._fill_masks(r, prop.class_logits, prop.mask_logits)  # from the previous key
        if "flows" in diag:
            r.fused_flow = prop.flow[0].float().cpu().numpy()
            if prop.query_flow is not None:
                r.query_flow = prop.query_flow[0].float().cpu().numpy()
            if prop.pixel_flow is not None:
                r.pixel_flow = prop.pixel_flow[0, 0].float().cpu().numpy()  # shared by every query
        if "flow" in diag:
            # the flow to the previous key; with fused scores its winning query is still a good guess
            r.flow = winner_flow(
                prop.class_logits,
                prop.mask_logits,
                prop.flow,
                torch.from_numpy(labels).long(),
                frame.shape[:2],
            )
        if "attention" in diag:
            r.attention = attention_to_numpy(prop.attention)
        return r, t_model
