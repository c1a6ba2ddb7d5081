"""The propagation loop every method shares: key frames, schedules, bi-directional buffering, and exact
random access to any frame.

    propagator = build_propagator("query_flow", model)          # methods.runners
    for r in propagator.run(frames, FixedInterval(5)):           # streaming, in frame order
        r.index, r.is_key, r.key_index, r.labels                 # HxW uint8
    r = propagator.predict(frames, 7, FixedInterval(5), keys)    # frame 7 alone, the same result

Key frames are identical in every method: `segment_key` -> `semantic_inference` -> argmax; a propagator
given the content identity of its key-frame weights (`share_keys`, set by `VideoPredictor`) shares them
with every other propagator of that identity through the process-wide cache of `methods.shared_keys`
(a frame is segmented once per model; a key frame served from it reports the segmenter time measured
when it was computed). A non-key
frame is predicted *directly* from its key frame (and, bi-directionally, from the next key frame),
never chained frame to frame, so `predict` of frame i only needs frame i and its key frame(s):
it equals the streamed result exactly, for every method.

Bi-directional methods (`bidirectional` in the method table): frame i between key k and the next
key n = k + K is predicted from both, semantic scores fused by temporal distance,
`S = (n - i)/K * S_k->i + (i - k)/K * S_n->i`, then argmax. The stream needs frame n before it can
answer frame i, so it buffers the (at most K-1) frames of a segment: memory stays bounded, results
come out in frame order, one segment late. Where no next key exists (the last segment of a clip, a
clip shorter than K+1 frames, a sparse schedule without interval) they are uni-directional and
`next_key_index` is None.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mpvss_core.errors import InputError
from mpvss_core.frame_result import FrameResult, check_frame, diagnostic_set, labels_of, to_image_tensor
from mpvss_core.methods.shared_keys import SHARED_KEYS, SegmentedKey, SharedKey, device_key, frame_digest
from mpvss_core.methods.table import MethodSpec, method_spec
from mpvss_core.modeling import semantic
from mpvss_core.modeling.mpvss import MPVSS, KeyState
from mpvss_core.schedules import FixedInterval, Schedule

__all__ = ["KeyFrame", "KeyCache", "PATHS", "Propagator", "sync"]

# How inference runs: "fast" (labels by `modeling.semantic.semantic_labels`, the flow module's convolutions
# in channels-last layout) or "reference" (full-resolution scores then argmax, channels-first: the
# code as the paper's implementation writes it). Both give the same labels on the val clips (tested).
PATHS = ("fast", "reference")


@dataclass
class KeyFrame:
    """A key frame's state, kept for the frames predicted from it."""

    index: int
    frame: np.ndarray
    state: KeyState
    labels: np.ndarray
    seconds: float  # the segmenter time measured when it was computed (by this run or, shared, another)
    gray: np.ndarray | None = None  # classical flow's grey image, made on first use
    charged: bool = False  # its segmenter time has been charged to a result
    keep: Tensor | None = None  # the queries propagated from it (query pruning), chosen on first use
    shared: bool = False  # served by the shared key-frame cache (`methods.shared_keys`), not segmented here


class KeyCache(OrderedDict):
    """The key frames of one clip kept for random access (`Propagator.predict`), least recent out first."""

    def __init__(self, size: int = 4) -> None:
        super().__init__()
        self.size = size

    def put(self, key: KeyFrame) -> KeyFrame:
        self[key.index] = key
        self.move_to_end(key.index)
        while len(self) > self.size:
            self.popitem(last=False)
        return key


@dataclass
class _Pending:
    index: int
    frame: np.ndarray
    read_s: float


def sync(device: torch.device) -> None:
    """Wait for queued CUDA work (timings measure the work, not its launch)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Propagator:
    """One method running on one model: streaming (`run`) and random access (`predict`).

    Subclasses implement `_predict` (one non-key frame from its key and, bi-directionally, the next key).

    Attributes:
        method: the method's name (the method table).
        method_spec: its table entry.
        model: the MPVSS model whose segmenter (and flow module) run.
        device: where the model is.
        share_keys: the content identity of the weights that segment its key frames
            (`ModelSpec.method_identity`: segmenter + key heads); key frames are shared with every
            propagator of the same identity, path and device (`methods.shared_keys`). None: not shared.
        segmenter_calls, keys_served: key frames this propagator segmented / received from the cache.
    """

    every_frame_key = False  # per_frame

    def __init__(
        self, model: MPVSS, method: str, path: str = "fast", prune: float = 0.0, share_keys: str | None = None
    ) -> None:
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}")
        if not 0.0 <= prune < 1.0:
            raise ValueError(f"prune must be within [0, 1), got {prune}")
        self.prune = float(prune)
        self.method_spec: MethodSpec = method_spec(method)
        self.method = self.method_spec.name
        self.model = model.eval().use_fast_path(path == "fast")
        self.device = next(model.parameters()).device
        self.path = path
        # on CUDA the fast path runs the networks in bfloat16 (autocast); sampling grids, warping and
        # semantic inference stay float32 (`modeling.warp`, `semantic_labels`)
        self.bf16 = path == "fast" and self.device.type == "cuda"
        self.share_keys = share_keys
        self.segmenter_calls = 0
        self.keys_served = 0

    def autocast(self):
        """bfloat16 autocast on CUDA for the fast path, a no-op context elsewhere."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def bidirectional(self) -> bool:
        return self.method_spec.bidirectional

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r})"

    # --- streaming -----------------------------------------------------------------------------------
    @torch.inference_mode()
    def run(
        self,
        frames: Iterable[np.ndarray],
        schedule: Schedule | int,
        *,
        diagnostics: bool | Collection[str] = False,
        batch_segment: bool = False,
    ) -> Iterator[FrameResult]:
        """Predict a stream of HxWx3 uint8 RGB frames; yields a FrameResult per predicted frame, in order.

        Args:
            frames: any iterable of frames (a TxHxWx3 array, a list, a decoding generator); read once,
                one frame at a time (at most one key-frame segment is buffered).
            schedule: a Schedule, or an int K for FixedInterval(K).
            diagnostics: True, False or names from `frame_result.DIAGNOSTICS`.
            batch_segment: offline mode: the non-key frames between two key frames depend only on the
                key frame(s) and themselves, so they are held until the segment is complete and
                predicted as one batch where the method supports it (learned flows; each frame's
                model time is its share of the batch). Latency mode (False) answers every frame at once.
        """
        schedule = schedule if isinstance(schedule, Schedule) else FixedInterval(schedule)
        diag = diagnostic_set(diagnostics)
        hold = self.bidirectional or batch_segment
        keys: dict[int, KeyFrame] = {}
        pending: deque[_Pending] = deque()
        size: tuple[int, int] | None = None
        stream = iter(frames)
        end = schedule.end
        i = -1
        t_request = time.perf_counter()
        while end is None or i + 1 < end:
            try:
                raw = next(stream)
            except StopIteration:
                break
            i += 1
            read_s = time.perf_counter() - t_request
            frame = check_frame(raw, size, i)
            size = frame.shape[:2]
            target = schedule.key_of(i)
            if self.every_frame_key:
                if target is not None:
                    yield self._key_result(self.segment(frame, i), diag, read_s)
                t_request = time.perf_counter()
                continue
            if target == i or schedule.needs_key(i, self.bidirectional):
                keys[i] = self.segment(frame, i)  # may be a key (or next key) of other frames only
            # frames waiting for this next key are answered first, so results stay in frame order
            while pending and schedule.next_key_of(pending[0].index) <= i:
                group = self._segment_group(pending, schedule)
                nxt = keys.get(schedule.next_key_of(group[0].index)) if self.bidirectional else None
                key = keys[schedule.key_of(group[0].index)]
                yield from self._non_key_results(group, key, nxt, diag, batch_segment)
            if target == i:
                yield self._key_result(keys[i], diag, read_s)
            elif target is not None:
                p = _Pending(i, frame, read_s)
                nxt_index = schedule.next_key_of(i)
                if hold and nxt_index is not None and nxt_index > i:
                    pending.append(p)
                else:
                    yield self._non_key_result(p, keys[target], None, diag)
            oldest = min([schedule.oldest_key_needed(i + 1), *(schedule.key_of(q.index) for q in pending)])
            for k in [k for k in keys if k < oldest]:
                del keys[k]
            t_request = time.perf_counter()
        while pending:  # no next key inside the clip: uni-directional
            group = self._segment_group(pending, schedule)
            yield from self._non_key_results(
                group, keys[schedule.key_of(group[0].index)], None, diag, batch_segment
            )

    @staticmethod
    def _segment_group(pending: deque[_Pending], schedule: Schedule) -> list[_Pending]:
        """Pop the held frames that share the first one's key frame (one segment, in frame order)."""
        key = schedule.key_of(pending[0].index)
        group = []
        while pending and schedule.key_of(pending[0].index) == key:
            group.append(pending.popleft())
        return group

    def _non_key_results(
        self, group: list[_Pending], key: KeyFrame, nxt: KeyFrame | None, diag: frozenset[str], batched: bool
    ) -> Iterator[FrameResult]:
        """The results of one segment's held frames (one at a time; learned flows batch them)."""
        for p in group:
            yield self._non_key_result(p, key, nxt, diag)

    # --- random access -------------------------------------------------------------------------------
    @torch.inference_mode()
    def predict(
        self,
        frames: Sequence[np.ndarray],
        index: int,
        schedule: Schedule,
        keys: KeyCache | None = None,
        *,
        diagnostics: bool | Collection[str] = True,
    ) -> FrameResult:
        """Frame `index` of a clip alone, exactly as `run` would yield it (timings aside).

        Args:
            frames: the clip's frames (indexable; only frame `index` and its key frames are read).
            schedule: the clip's schedule.
            keys: key frames already segmented (filled in; reuse it across calls on one clip).
        Raises:
            InputError: `index` outside the clip, or a frame the schedule does not predict.
        """
        n = len(frames)
        if not 0 <= index < n:
            raise InputError(f"frame {index} is outside the clip (0..{n - 1})")
        target = schedule.key_of(index)
        if target is None:
            raise InputError(f"frame {index} is not predicted by the schedule {schedule.tag}")
        diag = diagnostic_set(diagnostics)
        keys = keys if keys is not None else KeyCache()
        size = check_frame(frames[0], None, 0).shape[:2]
        if self.every_frame_key or target == index:
            return self._key_result(self._cached_key(frames, index, size, keys), diag, 0.0)
        key = self._cached_key(frames, target, size, keys)
        nxt = None
        nxt_index = schedule.next_key_of(index)
        end = schedule.end if schedule.end is not None else n
        if self.bidirectional and nxt_index is not None and index < nxt_index < min(n, end):
            nxt = self._cached_key(frames, nxt_index, size, keys)
        frame = check_frame(frames[index], size, index)
        return self._non_key_result(_Pending(index, frame, 0.0), key, nxt, diag)

    def _cached_key(self, frames: Sequence[np.ndarray], i: int, size, keys: KeyCache) -> KeyFrame:
        if i in keys:
            keys.move_to_end(i)
            return keys[i]
        return keys.put(self.segment(check_frame(frames[i], size, i), i))

    # --- key frames (identical in every method) ------------------------------------------------------
    def segment(self, frame: np.ndarray, index: int) -> KeyFrame:
        """Run the segmenter on a key frame (HxWx3 uint8) -> its KeyFrame, or take the output of the
        same weights on the same frame from the shared cache (`methods.shared_keys`): its `seconds`
        are then those measured when it was computed, charged to this run's result as if measured here."""
        key = self._shared_key(frame, index)
        hit = None if key is None else SHARED_KEYS.get(key)
        if hit is not None:
            self.keys_served += 1
            state = hit.state_for(to_image_tensor(frame, self.device))
            return KeyFrame(index, frame, state, hit.labels, hit.seconds, shared=True)
        t0 = time.perf_counter()
        image = to_image_tensor(frame, self.device)
        with self.autocast():
            state = self.model.segment_key(image)
        labels = self.labels([(*state.key_prediction, 1.0)], frame.shape[:2])
        sync(self.device)
        seconds = time.perf_counter() - t0
        self.segmenter_calls += 1
        if key is not None:
            SHARED_KEYS.put(key, SegmentedKey.of(state, labels, seconds))
        return KeyFrame(index, frame, state, labels, seconds)

    def _shared_key(self, frame: np.ndarray, index: int) -> SharedKey | None:
        """The cache key of a key frame, or None when this propagator does not share (or sharing is off)."""
        if self.share_keys is None or not SHARED_KEYS.enabled:
            return None
        return SharedKey(self.share_keys, self.path, device_key(self.device), index, frame_digest(frame))

    def _key_result(self, key: KeyFrame, diag: frozenset[str], read_s: float) -> FrameResult:
        t0 = time.perf_counter()
        key.charged = True
        r = FrameResult(key.index, True, key.index, key.labels.copy())
        if "masks" in diag:
            self._fill_masks(r, *key.state.key_prediction)
        r.timings = {"segment_s": key.seconds, "model_s": key.seconds, "e2e_s": read_s + key.seconds}
        r.timings["diagnostics_s"] = time.perf_counter() - t0
        return r

    # --- non-key frames --------------------------------------------------------------------------------
    def _non_key_result(
        self, p: _Pending, key: KeyFrame, nxt: KeyFrame | None, diag: frozenset[str]
    ) -> FrameResult:
        t0 = time.perf_counter()
        with self.autocast():
            r, t_model = self._predict(p.frame, p.index, key, nxt, diag)
        # diagnostics: the extraction after the model
        return self._charge(r, p, key, t_model, time.perf_counter() - t0 - t_model)

    @staticmethod
    def _charge(
        r: FrameResult, p: _Pending, key: KeyFrame, model_s: float, diagnostics_s: float
    ) -> FrameResult:
        """Fill a non-key result's timings; the first frame of a key segmented for others only (sparse
        labels) also carries that key's time, so totals count every key once."""
        r.timings["diagnostics_s"] = diagnostics_s
        r.timings["model_s"] = model_s
        if not key.charged and key.index != p.index:
            key.charged = True
            r.timings["hidden_key_s"] = key.seconds
            r.timings["model_s"] += key.seconds
        r.timings["e2e_s"] = p.read_s + r.timings["model_s"]
        return r

    def _predict(
        self, frame: np.ndarray, index: int, key: KeyFrame, nxt: KeyFrame | None, diag: frozenset[str]
    ) -> tuple[FrameResult, float]:
        """(result with labels and diagnostics, model seconds) of a non-key frame."""
        raise NotImplementedError

    def batch_labels(
        self, parts: list[tuple[Tensor, Tensor]], weights: list[list[float]], size: tuple[int, int]
    ) -> list[np.ndarray]:
        """Labels of B frames at once: parts (BxQx(K+1) classes, BxQxhxw masks), weights[b][part]."""
        out = []
        for b, w in enumerate(weights):
            frame_parts = [(c[b : b + 1], m[b : b + 1], w[j]) for j, (c, m) in enumerate(parts)]
            out.append(self.labels(frame_parts, size))
        return out

    def labels(self, parts: list[tuple[Tensor, Tensor, float]], size: tuple[int, int]) -> np.ndarray:
        """HxW uint8 labels of sum_i w_i * semantic scores(class_logits_i, mask_logits_i) (batch 1)."""
        if self.path == "fast":
            return semantic.semantic_labels(parts, size)[0].cpu().numpy()
        scores = sum(w * self.model.semantic_inference(c, m, size) for c, m, w in parts)
        return labels_of(scores)

    def kept_queries(self, key: KeyFrame, diag: frozenset[str]) -> Tensor | None:
        """The queries a non-key frame propagates from `key` (None: all of them).

        Query pruning (beyond the paper, `prune` > 0; off when diagnostics are asked for, so that query
        ids stay those of the key frame): a query whose mass at the key frame, (1 - P(no object)) x its
        mean mask probability, is below `prune` is not propagated; it can hardly win a pixel. The most
        massive query is always kept. With prune = 0 nothing is pruned.
        """
        if self.prune <= 0.0 or diag:
            return None
        if key.keep is None:
            probs = key.state.class_logits[0].softmax(-1)
            mass = (1.0 - probs[:, -1]) * key.state.mask_logits[0].sigmoid().mean((-2, -1))
            keep = torch.nonzero(mass >= self.prune).flatten()
            key.keep = keep if len(keep) else mass.argmax().view(1)
        return key.keep

    @staticmethod
    def _weights(index: int, key: KeyFrame, nxt: KeyFrame | None) -> tuple[float, float]:
        """Bi-directional fusion weights of the previous and the next key (see the module docstring)."""
        if nxt is None:
            return 1.0, 0.0
        span = nxt.index - key.index
        return (nxt.index - index) / span, (index - key.index) / span

    @staticmethod
    def _fill_masks(r: FrameResult, class_logits: Tensor, mask_logits: Tensor) -> None:
        r.mask_logits = mask_logits[0].float().cpu().numpy()
        r.class_probs = class_logits[0].softmax(-1).float().cpu().numpy()
