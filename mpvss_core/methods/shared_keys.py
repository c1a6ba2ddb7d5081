"""Key frames segmented once per model: a process-wide cache of the segmenter's key-frame outputs,
shared by every propagator whose key frames come from the same weights.

    key = SharedKey(identity, path, device, index, frame_digest(frame))
    hit = SHARED_KEYS.get(key)             # a SegmentedKey, or None
    SHARED_KEYS.put(key, segmented)        # least recently used out first, bounded in bytes
    with shared_keys_off():                # speed measurements that run the same frames twice
        ...

What is shared. A key frame's segmenter output (`KeyState`: class and mask logits, query features,
the key frame's own prediction when stage-0 heads segment it) and its labels depend only on the
weights that segment it, the inference path (fast / reference), the device and the frame. The key
is therefore (`identity`: the content identity of the model the method runs, `ModelSpec.method_identity`,
which covers the segmenter weights AND the heads that segment key frames (stage-1 retrained heads of a
learned variant, or `--key-heads stage0`), the path, the device, the frame index, a hash of the
frame's pixels and shape). Every segmenter-only method of a model (`per_frame`, `copy`,
`optical_flow`, `bi_optical_flow`) and the per-frame reference of label-free scoring run the same
identity, so on one page (or in one `mpvss eval --method all`) a frame is segmented once; a learned
method runs its variant's retrained heads, another identity, so it never receives their key frames
(nor they its). Nothing is shared without an identity (models built in code, `share_keys=False`).

What is not shared: the per-run bookkeeping of a `KeyFrame` (whether its time was charged, the pruned
query set, the grey image of classical flow) and the flow module's key half (`KeyState.flow_input`,
it depends on the flow module, not the segmenter): each run wraps the shared output in its own
`KeyFrame`. The key image tensor is not kept either (it is the frame, rebuilt on use) so an entry
costs its logits and labels only (about 2.8 MB for the shipped model at 640x480).

Timings: a key frame served from the cache reports the segmenter time MEASURED WHEN IT WAS COMPUTED
(`segment_s`, hence its `model_s` and `e2e_s`), by whichever method or reference pass ran it first,
never the ~0 s of the lookup: a method's key-frame latency and FPS do not depend on which method ran
before it. What sharing saves shows in the wall time of the page or command, not in per-frame
timings. A speed measurement that runs the same frames more than once (warm-up then timed rounds)
must turn sharing off (`shared_keys_off()` or `VideoPredictor(share_keys=False)`), else its later
rounds would report the first round's (or the warm-up's) key-frame times.

Memory bound: `MPVSS_KEY_CACHE_MB` (default 1024 MiB; 0 turns sharing off) over the bytes of the
kept tensors and labels, on whatever device they live (GPU memory on CUDA); least recently used out
first. A 60-frame 640x480 clip with the shipped model needs about 170 MiB.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor

from mpvss_core.modeling.mpvss import KeyState

__all__ = [
    "DEFAULT_MB",
    "SHARED_KEYS",
    "SegmentedKey",
    "SharedKey",
    "SharedKeys",
    "frame_digest",
    "shared_keys_off",
]

DEFAULT_MB = 1024


@dataclass(frozen=True)
class SharedKey:
    """What a key frame's segmenter output depends on (see the module docstring)."""

    identity: str  # ModelSpec.method_identity: segmenter weights + the heads that segment key frames
    path: str  # inference path ("fast" | "reference"): labels may differ by float rounding
    device: str
    index: int
    digest: str  # frame_digest of the frame's pixels and shape


@dataclass(frozen=True)
class SegmentedKey:
    """A key frame's segmenter output as kept in the cache (no image tensor, no flow-module half).

    Attributes:
        state: the KeyState with `image` and `flow_input` None (`state_for` puts the image back).
        labels: HxW uint8 key-frame labels (read-only).
        seconds: the segmenter time measured when it was computed (charged to every run it serves).
        nbytes: what it costs the cache.
    """

    state: KeyState
    labels: np.ndarray
    seconds: float
    nbytes: int

    @classmethod
    def of(cls, state: KeyState, labels: np.ndarray, seconds: float) -> SegmentedKey:
        kept = replace(state, image=None, flow_input=None)  # rebuilt on use / the flow module's own
        labels = labels.copy()
        labels.setflags(write=False)
        return cls(kept, labels, seconds, _state_bytes(kept) + labels.nbytes)

    def state_for(self, image: Tensor) -> KeyState:
        """A KeyState of this output for one run: its own `image` (the key frame) and `flow_input`."""
        return replace(self.state, image=image, flow_input=None)


def _state_bytes(state: KeyState) -> int:
    total = 0
    for f in fields(KeyState):
        value = getattr(state, f.name)
        for t in value if isinstance(value, tuple) else (value,):
            if isinstance(t, Tensor):
                total += t.element_size() * t.numel()
    return total


def frame_digest(frame: np.ndarray) -> str:
    """Hash of a frame's pixels and shape (about 1 ms for 640x480, against the segmenter's 100s of ms)."""
    h = hashlib.blake2b(repr((frame.shape, frame.dtype.str)).encode(), digest_size=16)
    h.update(np.ascontiguousarray(frame).data)
    return h.hexdigest()


class SharedKeys:
    """A thread-safe LRU of SegmentedKeys bounded in bytes (the app's sessions run in threads).

    Attributes:
        max_bytes: the bound (0: nothing is kept, every lookup misses).
        computed, served: segmenter runs recorded with `put`, lookups answered by `get` (process-wide).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[SharedKey, SegmentedKey] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.computed = 0
        self.served = 0
        self._off = 0  # shared_keys_off() depth

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0 and self._off == 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: SharedKey) -> SegmentedKey | None:
        if not self.enabled:
            return None
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.served += 1
            return hit

    def put(self, key: SharedKey, value: SegmentedKey) -> None:
        """Keep `value` (an entry larger than the whole bound is not kept)."""
        with self._lock:
            self.computed += 1
            if not self.enabled or value.nbytes > self.max_bytes:
                return
            old = self._items.pop(key, None)
            self.nbytes -= 0 if old is None else old.nbytes
            self._items[key] = value
            self.nbytes += value.nbytes
            while self.nbytes > self.max_bytes:
                _, out = self._items.popitem(last=False)
                self.nbytes -= out.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0


def _bound_from_env() -> int:
    text = os.environ.get("MPVSS_KEY_CACHE_MB", "")
    try:
        mb = float(text) if text.strip() else DEFAULT_MB
    except ValueError:
        mb = DEFAULT_MB
    return int(max(mb, 0.0) * 2**20)


SHARED_KEYS = SharedKeys(_bound_from_env())


@contextlib.contextmanager
def shared_keys_off() -> Iterator[None]:
    """Within the block no key frame is read from or kept in the shared cache (speed measurements)."""
    with SHARED_KEYS._lock:
        SHARED_KEYS._off += 1
    try:
        yield
    finally:
        with SHARED_KEYS._lock:
            SHARED_KEYS._off -= 1


def device_key(device: torch.device) -> str:
    """The device as a cache-key part ("cpu", "cuda:0")."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)
