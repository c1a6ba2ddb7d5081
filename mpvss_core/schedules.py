"""Key-frame schedules: which frames run the segmenter and which key frame each frame is predicted from.

    FixedInterval(5)                         frames 0, 5, 10, ... are key frames (docs/method-notes.md §1.1)
    BeforeLabelled(2, labelled)              each labelled frame l is predicted from key frame l - 2

Every method propagates *directly* from a key frame (never chained frame to frame, docs/method-notes.md
§1.1), so a schedule only has to say, per frame index i:

- `key_of(i)`: the key frame that frame i is predicted from, or None when frame i is not predicted at
  all (skipped; see `BeforeLabelled`). Frame i is a key frame iff `key_of(i) == i`.
- `next_key_of(i)`: the key frame after `key_of(i)` (bi-directional propagation), or None. It may lie
  beyond the end of the clip: the method then falls back to uni-directional propagation.
- `needs_key(i, bidirectional)`: whether the segmenter must run on frame i because some predicted
  frame uses it as its key (or, for bi-directional methods, as its next key). A frame can need the
  segmenter without being predicted itself (the key of a sparse-label window).
- `oldest_key_needed(i)`: the smallest key index any frame >= i can still use; key states older than
  that are dropped, so memory stays bounded on long clips.
- `end`: frames at or after it are never needed (None: unbounded stream); the stream stops there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InputError

__all__ = ["BeforeLabelled", "FixedInterval", "Schedule", "ScheduleSpec"]


class Schedule(ABC):
    """Protocol of a key-frame schedule (see the module docstring)."""

    #: length of one key-frame cycle: the FLOPs K-average and the bi-directional next-key distance
    interval: int | None = None

    @abstractmethod
    def key_of(self, i: int) -> int | None:
        """Key frame of frame i, or None if frame i is not predicted."""

    def is_key(self, i: int) -> bool:
        return self.key_of(i) == i

    def next_key_of(self, i: int) -> int | None:
        """The key frame after frame i's key (may be past the end of the clip), or None."""
        key = self.key_of(i)
        if key is None or self.interval is None:
            return None
        return key + self.interval

    @abstractmethod
    def needs_key(self, i: int, bidirectional: bool = False) -> bool:
        """Whether the segmenter must run on frame i."""

    @abstractmethod
    def oldest_key_needed(self, i: int) -> int:
        """Smallest key index that frames >= i may use (older key states can be dropped)."""

    @property
    def end(self) -> int | None:
        """Frames at or after this index are never needed (None: unbounded)."""
        return None

    @property
    @abstractmethod
    def tag(self) -> str:
        """Short identity for result keys and tables, e.g. "K5" or "before2"."""


class FixedInterval(Schedule):
    """Frame i is a key frame iff `i % K == 0` (frame 0 always is); every frame is predicted.

    The next key of frame i is `key_of(i) + K`; in the last segment of a clip (and in clips shorter
    than K+1 frames) it lies past the end, and bi-directional methods fall back to uni-directional.
    """

    def __init__(self, interval: int) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or interval < 1:
            raise InputError(f"the key-frame interval must be a positive integer, got {interval!r}")
        self.interval = int(interval)

    def key_of(self, i: int) -> int:
        return i - i % self.interval

    def needs_key(self, i: int, bidirectional: bool = False) -> bool:
        return i % self.interval == 0

    def oldest_key_needed(self, i: int) -> int:
        return self.key_of(i)

    @property
    def tag(self) -> str:
        return f"K{self.interval}"

    def __repr__(self) -> str:
        return f"FixedInterval({self.interval})"


class BeforeLabelled(Schedule):
    """Cityscapes-style protocol: labelled frame l is predicted from key frame l - d.

    (docs/method-notes.md §2.4, §4.2.17.)

    The key is clipped at frame 0 (a labelled frame l < d uses key 0, at distance l). Only labelled
    frames are predicted: frames between a key and its labelled frame cannot change the labelled
    frame's prediction (propagation is direct, never chained), and every other frame is outside all
    windows, so both are skipped (`key_of` is None) and never reach the segmenter. Windows of nearby
    labelled frames may overlap; each labelled frame still uses its own key (at most d+1 key states
    are alive at once).

    With `interval` K given, bi-directional methods use `key + K` as the next key (computed when it
    is inside the clip), so the labelled frame sits d frames after one key and K-d before the next,
    as in a fixed-interval schedule; without it they are uni-directional.
    """

    def __init__(self, distance: int, labelled: Sequence[bool] | np.ndarray, interval: int | None = None):
        if isinstance(distance, bool) or not isinstance(distance, (int, np.integer)) or distance < 0:
            raise InputError(f"the key-frame distance d must be an integer >= 0, got {distance!r}")
        if interval is not None and (not isinstance(interval, (int, np.integer)) or interval <= distance):
            raise InputError(f"the interval K must be an integer > d = {distance}, got {interval!r}")
        mask = np.asarray(labelled, bool)
        if mask.ndim != 1:
            raise InputError(f"labelled must be a 1-D sequence of booleans, got shape {mask.shape}")
        self.distance = int(distance)
        self.interval = None if interval is None else int(interval)
        self.labelled = mask
        self._targets = np.flatnonzero(mask)
        keys = np.maximum(self._targets - self.distance, 0)
        self._keys = set(keys.tolist())
        self._next_keys = {k + self.interval for k in self._keys} if self.interval else set()
        # oldest[i] = smallest key of the labelled frames >= i (suffix minimum)
        n = len(mask)
        oldest = np.full(n + 1, n, np.int64)
        for i in range(n - 1, -1, -1):
            oldest[i] = min(oldest[i + 1], max(i - self.distance, 0)) if mask[i] else oldest[i + 1]
        self._oldest = oldest

    def key_of(self, i: int) -> int | None:
        if 0 <= i < len(self.labelled) and self.labelled[i]:
            return max(i - self.distance, 0)
        return None

    def needs_key(self, i: int, bidirectional: bool = False) -> bool:
        return i in self._keys or (bidirectional and i in self._next_keys)

    def oldest_key_needed(self, i: int) -> int:
        return int(self._oldest[min(max(i, 0), len(self._oldest) - 1)])

    @property
    def end(self) -> int:
        if not len(self._targets):
            return 0
        last = int(self._targets[-1])
        nxt = max(self._next_keys) if self._next_keys else last
        return min(max(last, nxt) + 1, len(self.labelled))

    @property
    def tag(self) -> str:
        return f"before{self.distance}" + (f"K{self.interval}" if self.interval else "")

    def __repr__(self) -> str:
        return (
            f"BeforeLabelled({self.distance}, {int(self.labelled.sum())} labelled, interval={self.interval})"
        )


@dataclass(frozen=True)
class ScheduleSpec:
    """A clip-independent description of a schedule (what the CLI options say), made concrete per clip.

    `interval` K alone: FixedInterval(K). With `before_labelled` d: BeforeLabelled(d, clip's labelled
    frames, K if K > d else None).
    """

    interval: int = 5
    before_labelled: int | None = None

    def __post_init__(self) -> None:
        FixedInterval(self.interval)  # validates K
        if self.before_labelled is not None:
            BeforeLabelled(self.before_labelled, [])  # validates d

    def for_clip(self, labelled: Sequence[bool] | np.ndarray | None) -> Schedule:
        if self.before_labelled is None:
            return FixedInterval(self.interval)
        if labelled is None or not np.asarray(labelled, bool).any():
            raise InputError("the key-before-labelled schedule needs clips with labelled frames")
        d = self.before_labelled
        return BeforeLabelled(d, labelled, self.interval if self.interval > d else None)

    @property
    def tag(self) -> str:
        if self.before_labelled is None:
            return f"K{self.interval}"
        return f"before{self.before_labelled}K{self.interval}"

    def describe(self) -> str:
        if self.before_labelled is None:
            return f"key frame every {self.interval} frames from frame 0"
        return f"key frame {self.before_labelled} frames before each labelled frame (K = {self.interval})"
