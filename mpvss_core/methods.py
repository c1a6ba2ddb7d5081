"""Propagation methods (DESIGN section 3): one protocol, every method of the paper.

    method = load_method("query_flow", "tiny")                  # model from mpvss_core.zoo
    for r in method.run(frames, FixedInterval(5), diagnostics=False):
        r.index, r.is_key, r.key_index, r.labels                 # HxW uint8

| name | non-key frame |
|---|---|
| `per_frame` | the segmenter runs on every frame (every frame is a key frame) |
| `copy` | the key frame's labels |
| `optical_flow` | OpenCV DIS flow current -> key, the key's per-query mask logits warped by it |
| `bi_optical_flow` | the same from the previous and the next key frame, score maps fused |
| `pixel_flow`, `query_learned`, `query_flow`, `query_flow_noinit`, `stages_S` | the model's learned flow |

Key frames are identical in every method: `segment_key` -> `semantic_inference` -> argmax. Non-key
frames of the optical-flow baselines warp the key frame's per-query MASK LOGITS (not its label map)
with `backward_warp`, as MPVSS warps masks with its learned flow, then run the same semantic
inference with the key's class logits.

`bi_optical_flow`: frame i between key k and the next key n = k + K is predicted from both, with
semantic scores fused by temporal distance, `S = (n - i)/K * S_k->i + (i - k)/K * S_n->i`, then argmax.
It needs frame n before it can answer frame i, so it buffers the (at most K-1) frames of a segment:
memory stays bounded, results come out in frame order, one segment late. Where no next key exists
(the last segment of a clip, a clip shorter than K+1 frames, a sparse schedule without interval) it
is uni-directional, i.e. equal to `optical_flow`, and `next_key_index` is None.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .config import SEGMENTER_ONLY_METHODS
from .errors import InputError
from .frame_result import (
    FrameResult,
    attention_to_numpy,
    check_frame,
    diagnostic_set,
    labels_of,
    to_image_tensor,
    winner_flow,
)
from .modeling.mpvss import MPVSS, KeyState
from .modeling.warp import backward_warp
from .optical_flow import ClassicalFlow, flow_to_mask_grid, to_gray
from .schedules import FixedInterval, Schedule

__all__ = ["FrameResult", "Method", "METHODS", "check_method_name", "load_method", "make_method"]

LEARNED_METHODS: tuple[str, ...] = ("pixel_flow", "query_learned", "query_flow", "query_flow_noinit")
METHODS: tuple[str, ...] = (*SEGMENTER_ONLY_METHODS, *LEARNED_METHODS)  # + stages_S for any S >= 1


def check_method_name(name: str) -> str:
    """`name` if it is a method (METHODS or stages_S), else InputError listing the choices."""
    if name in METHODS or (name.startswith("stages_") and name[7:].isdigit() and int(name[7:]) >= 1):
        return name
    raise InputError(f"unknown method {name!r}; choose one of {', '.join(METHODS)} or stages_S (S >= 1)")


@dataclass
class _Key:
    """A key frame's state kept for its non-key frames."""

    index: int
    frame: np.ndarray
    state: KeyState
    labels: np.ndarray
    seconds: float
    gray: np.ndarray | None = None
    charged: bool = False


@dataclass
class _Pending:
    index: int
    frame: np.ndarray
    read_s: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Method:
    """Base class: the streaming loop (schedule, key states, buffering); subclasses predict non-key frames.

    Attributes:
        name: the method's name (METHODS).
        needs: what it uses: "segmenter", "flow_module" (learned flow), "classical_flow" (OpenCV),
            "next_key" (bi-directional: buffers a segment).
        model: the MPVSS model whose segmenter (and flow module) run.
    """

    name = "base"
    needs: frozenset[str] = frozenset({"segmenter"})
    every_frame_key = False  # per_frame
    bidirectional = False

    def __init__(self, model: MPVSS) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @torch.inference_mode()
    def run(
        self,
        frames: Iterable[np.ndarray],
        schedule: Schedule | int,
        *,
        diagnostics: bool | Collection[str] = False,
    ) -> Iterator[FrameResult]:
        """Predict a stream of HxWx3 uint8 RGB frames; yields a FrameResult per predicted frame, in order.

        Args:
            frames: any iterable of frames (a TxHxWx3 array, a list, a decoding generator); read once,
                one frame at a time (at most one key-frame segment is buffered).
            schedule: a Schedule, or an int K for FixedInterval(K).
            diagnostics: True, False or names from `frame_result.DIAGNOSTICS`.
        """
        if not isinstance(schedule, Schedule):
            schedule = FixedInterval(schedule)
        diag = diagnostic_set(diagnostics)
        keys: dict[int, _Key] = {}
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
                    yield self._key_result(self._segment(frame, i), diag, read_s)
                t_request = time.perf_counter()
                continue
            if target == i or schedule.needs_key(i, self.bidirectional):
                keys[i] = self._segment(frame, i)  # may be a key (or next key) of other frames only
            # frames waiting for this next key are answered first, so results stay in frame order
            while pending and schedule.next_key_of(pending[0].index) <= i:
                p = pending.popleft()
                nxt = keys.get(schedule.next_key_of(p.index))
                yield self._non_key_result(p, keys[schedule.key_of(p.index)], nxt, diag)
            if target == i:
                yield self._key_result(keys[i], diag, read_s)
            elif target is not None:
                p = _Pending(i, frame, read_s)
                nxt_index = schedule.next_key_of(i)
                if self.bidirectional and nxt_index is not None and nxt_index > i:
                    pending.append(p)
                else:
                    yield self._non_key_result(p, keys[target], None, diag)
            oldest = min([schedule.oldest_key_needed(i + 1), *(schedule.key_of(q.index) for q in pending)])
            for k in [k for k in keys if k < oldest]:
                del keys[k]
            t_request = time.perf_counter()
        while pending:  # no next key inside the clip: uni-directional
            p = pending.popleft()
            yield self._non_key_result(p, keys[schedule.key_of(p.index)], None, diag)

    # --- key frames (identical in every method) ------------------------------------------------------
    def _segment(self, frame: np.ndarray, index: int) -> _Key:
        t0 = time.perf_counter()
        image = to_image_tensor(frame, self.device)
        state = self.model.segment_key(image)
        scores = self.model.semantic_inference(state.class_logits, state.mask_logits, frame.shape[:2])
        labels = labels_of(scores)
        _sync(self.device)
        return _Key(index, frame, state, labels, time.perf_counter() - t0)

    def _key_result(self, key: _Key, diag: frozenset[str], read_s: float) -> FrameResult:
        t0 = time.perf_counter()
        key.charged = True
        r = FrameResult(key.index, True, key.index, key.labels.copy())
        if "masks" in diag:
            r.mask_logits = key.state.mask_logits[0].float().cpu().numpy()
            r.class_probs = key.state.class_logits[0].softmax(-1).float().cpu().numpy()
        r.timings = {"segment_s": key.seconds, "model_s": key.seconds, "e2e_s": read_s + key.seconds}
        r.timings["diagnostics_s"] = time.perf_counter() - t0
        return r

    # --- non-key frames --------------------------------------------------------------------------------
    def _non_key_result(self, p: _Pending, key: _Key, nxt: _Key | None, diag: frozenset[str]) -> FrameResult:
        t0 = time.perf_counter()
        r, t_model = self._predict(p.frame, p.index, key, nxt, diag)
        r.timings["diagnostics_s"] = time.perf_counter() - t0 - t_model  # extraction after the model
        r.timings["model_s"] = t_model
        if not key.charged and key.index != p.index:  # a key segmented for others only (sparse labels)
            key.charged = True
            r.timings["hidden_key_s"] = key.seconds
            r.timings["model_s"] += key.seconds
        r.timings["e2e_s"] = p.read_s + r.timings["model_s"]
        return r

    def _predict(
        self, frame: np.ndarray, index: int, key: _Key, nxt: _Key | None, diag: frozenset[str]
    ) -> tuple[FrameResult, float]:
        """(result with labels and diagnostics, model seconds) of a non-key frame."""
        raise NotImplementedError

    def _semantic(self, class_logits: Tensor, mask_logits: Tensor, size: tuple[int, int]) -> Tensor:
        return self.model.semantic_inference(class_logits, mask_logits, size)

    def _fill_masks(self, r: FrameResult, class_logits: Tensor, mask_logits: Tensor) -> None:
        r.mask_logits = mask_logits[0].float().cpu().numpy()
        r.class_probs = class_logits[0].softmax(-1).float().cpu().numpy()


class PerFrame(Method):
    """The segmenter on every predicted frame (Table II "Per-frame")."""

    name = "per_frame"
    every_frame_key = True


class Copy(Method):
    """Non-key frames repeat the key frame's labels (Figure A "Copy"); its implied flow is zero."""

    name = "copy"

    def _predict(self, frame, index, key, nxt, diag):
        r = FrameResult(index, False, key.index, key.labels.copy())
        if "masks" in diag:
            self._fill_masks(r, key.state.class_logits, key.state.mask_logits)
        if "flow" in diag or "flows" in diag:
            r.flow = np.zeros((*frame.shape[:2], 2), np.float32)
        return r, 0.0


class OpticalFlow(Method):
    """Key-frame mask logits warped by classical optical flow current -> key (OpenCV DIS by default)."""

    name = "optical_flow"
    needs = frozenset({"segmenter", "classical_flow"})

    def __init__(self, model: MPVSS, flow_algorithm: str = "dis_medium") -> None:
        super().__init__(model)
        self.flow = ClassicalFlow(flow_algorithm)

    def _warp_from(
        self, key: _Key, gray: np.ndarray, size: tuple[int, int]
    ) -> tuple[Tensor, Tensor, np.ndarray, float]:
        """(semantic scores, warped mask logits, HxWx2 flow, flow seconds) of the frame from one key."""
        if key.gray is None:
            key.gray = to_gray(key.frame)
        t0 = time.perf_counter()
        flow = self.flow(gray, key.gray)
        flow_s = time.perf_counter() - t0
        mask_logits = key.state.mask_logits
        grid = flow_to_mask_grid(flow, mask_logits.shape[-2:], self.device)
        warped = backward_warp(mask_logits, grid.to(mask_logits.dtype), self.model.cfg.warp_mode)
        return self._semantic(key.state.class_logits, warped, size), warped, flow, flow_s

    def _predict(self, frame, index, key, nxt, diag):
        t0 = time.perf_counter()
        size = frame.shape[:2]
        gray = to_gray(frame)
        scores, warped, flow, flow_s = self._warp_from(key, gray, size)
        if nxt is not None:
            scores_next, _, _, flow_next_s = self._warp_from(nxt, gray, size)
            span = nxt.index - key.index
            scores = scores * ((nxt.index - index) / span) + scores_next * ((index - key.index) / span)
            flow_s += flow_next_s
        labels = labels_of(scores)
        _sync(self.device)
        t_model = time.perf_counter() - t0
        r = FrameResult(index, False, key.index, labels, next_key_index=None if nxt is None else nxt.index)
        if "masks" in diag:
            self._fill_masks(r, key.state.class_logits, warped)  # warped from the previous key
        if "flow" in diag or "flows" in diag:
            r.flow = flow  # current -> previous key
        r.timings = {"flow_s": flow_s}
        return r, t_model


class BiOpticalFlow(OpticalFlow):
    """Optical-flow warping from the previous and the next key frame, fused (Table V)."""

    name = "bi_optical_flow"
    needs = frozenset({"segmenter", "classical_flow", "next_key"})
    bidirectional = True


class LearnedFlow(Method):
    """Masks warped by the model's learned flow (MPVSS and its variants; `model.propagate`)."""

    needs = frozenset({"segmenter", "flow_module"})

    def __init__(self, model: MPVSS, name: str = "query_flow") -> None:
        super().__init__(model)
        self.name = name

    def _predict(self, frame, index, key, nxt, diag):
        t0 = time.perf_counter()
        image = to_image_tensor(frame, self.device)
        want_flows = bool({"flows", "flow"} & diag)
        prop = self.model.propagate(
            key.state, image, return_flows=want_flows, return_attention="attention" in diag
        )
        scores = self._semantic(prop.class_logits, prop.mask_logits, frame.shape[:2])
        label_t = scores.argmax(1)[0]
        labels = label_t.to(torch.uint8).cpu().numpy()
        _sync(self.device)
        t_model = time.perf_counter() - t0
        r = FrameResult(index, False, key.index, labels)
        r.timings = {"propagate_s": t_model}
        if "masks" in diag:
            self._fill_masks(r, prop.class_logits, prop.mask_logits)
        if "flows" in diag:
            r.fused_flow = prop.flow[0].float().cpu().numpy()
            if prop.query_flow is not None:
                r.query_flow = prop.query_flow[0].float().cpu().numpy()
            if prop.pixel_flow is not None:
                r.pixel_flow = prop.pixel_flow[0, 0].float().cpu().numpy()  # shared by every query
        if "flow" in diag:
            r.flow = winner_flow(
                prop.class_logits, prop.mask_logits, prop.flow, label_t.long(), frame.shape[:2]
            )
        if "attention" in diag:
            r.attention = attention_to_numpy(prop.attention)
        return r, t_model


_CLASSES: dict[str, type[Method]] = {
    "per_frame": PerFrame,
    "copy": Copy,
    "optical_flow": OpticalFlow,
    "bi_optical_flow": BiOpticalFlow,
}


def make_method(name: str, model: MPVSS, **kwargs) -> Method:
    """The method `name` running on `model` (which must be that method's model for learned methods)."""
    check_method_name(name)
    if name in _CLASSES:
        return _CLASSES[name](model, **kwargs)
    from .zoo import method_of

    def canonical(m: str) -> str:
        return "query_flow" if m == "stages_3" else m

    if canonical(method_of(model.cfg)) != canonical(name):
        raise ValueError(f"method {name!r} needs its own model; this one implements {method_of(model.cfg)!r}")
    return LearnedFlow(model, name=name)


def load_method(
    name: str,
    model: str = "default",
    device: str | torch.device | None = None,
    seed: int = 0,
    **kwargs,
) -> Method:
    """The method `name` with its model from `mpvss_core.zoo.load_for_method(model, name)`.

    A random-weight preset (`model="tiny"`) is built after `torch.manual_seed(seed)`, so every method
    gets the same segmenter and results are reproducible (the flow modules differ by variant).

    Raises:
        MethodUnavailableError: a learned method the model has no trained weights for.
        InputError: unknown method or model.
    """
    from .zoo import load_for_method, resolve_spec

    check_method_name(name)
    if resolve_spec(model).kind == "random":
        torch.manual_seed(seed)
    return make_method(name, load_for_method(model, name, device=device), **kwargs)
