"""VideoPredictor: the one way to run a method on a clip (SAM2's `init_state` / `propagate_in_video`).

    spec = resolve_model("default")
    predictor = VideoPredictor(spec, "query_flow")              # loads the method's model once
    state = predictor.init_video("clip.mp4", schedule=5)        # frames, schedule, cached key frames
    for r in predictor.propagate(state):                        # a generator, in frame order
        r.index, r.is_key, r.key_index, r.labels                # HxW uint8
    r = predictor.predict_frame(state, 7, diagnostics=True)     # random access, exact for every method

Sources: a `Clip`, a TxHxWx3 uint8 array, any iterable of HxWx3 uint8 frames, or a path/string that
`data.readers.detect_source` tells apart (`synthetic:<seed>`, a VSPW clip folder, a frames folder or zip).
Video files are *streamed* (decoded one frame at a time, never held whole), so memory stays bounded on
long videos: the method keeps only its current key frame(s) and at most one key-frame segment of
frames (bi-directional). A streamed state can be propagated once and has no random access; a clip or
an array has both. Frames larger than `max_side` are downscaled as the clip readers do (a note says so).

A frame's key frame is read from its result (`r.key_index`, `r.next_key_index`), never recomputed.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers import Source, detect_source, load_clip
from mpvss_core.data.readers.common import DEFAULT_LIMITS, capped_size
from mpvss_core.errors import InputError
from mpvss_core.frame_result import FrameResult, check_frame_size
from mpvss_core.methods.propagator import KeyCache, Propagator
from mpvss_core.methods.runners import build_propagator
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.schedules import FixedInterval, Schedule
from mpvss_core.spec import ModelSpec

__all__ = ["FrameSource", "VideoPredictor", "VideoState", "open_frames"]


@dataclass
class FrameSource:
    """Frames to predict, with what is known about them up front.

    Attributes:
        frames: a TxHxWx3 array or list (random access), or an iterable read once (a streamed video).
        name: clip name.
        num_frames: number of frames if known (a video's declared count may be 0 = unknown).
        fps: frames per second.
        clip: the Clip when the source was loaded whole (labels, exact flow), else None.
        notes: what was changed to make the input usable (caps, downscaling).
    """

    frames: Iterable[np.ndarray]
    name: str
    num_frames: int | None = None
    fps: float = 15.0
    clip: Clip | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def indexable(self) -> bool:
        return isinstance(self.frames, (np.ndarray, list, tuple))


def _downscaled(frames: Iterable[np.ndarray], max_side: int, notes: list[str]) -> Iterator[np.ndarray]:
    for frame in frames:
        h, w = frame.shape[:2]
        size = capped_size(h, w, max_side)
        if size != (h, w):
            check_frame_size(size, source=(h, w))
            if not notes or "downscaled" not in notes[-1]:
                notes.append(f"frames of {w}x{h} downscaled to {size[1]}x{size[0]} (max side {max_side})")
            frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        yield frame


def open_frames(
    source, max_frames: int | None = None, max_side: int = DEFAULT_LIMITS.max_side
) -> FrameSource:
    """Turn any supported source into a FrameSource (videos are streamed, see the module docstring).

    Raises:
        InputError: missing or unusable source (VideoDecodeError for corrupt videos).
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"max_frames must be >= 1, got {max_frames}")
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, Clip):
        if source.source_size is not None:  # a reader's cap: say what the frames were
            check_frame_size(source.size, source=source.source_size)
        frames = source.frames if max_frames is None else source.frames[:max_frames]
        return FrameSource(frames, source.name, len(frames), source.fps, source, list(source.notes))
    if isinstance(source, np.ndarray):
        if source.ndim != 4:
            raise InputError(f"a frame array must be TxHxWx3, got shape {source.shape}")
        frames = source if max_frames is None else source[:max_frames]
        return FrameSource(frames, "frames", len(frames))
    if isinstance(source, (str, os.PathLike, Source)):
        src = detect_source(source)  # the one detector (`data.readers.detect`)
        if src.kind == "video":
            from mpvss_core.io import iter_video_frames

            path = src.path
            stream = iter_video_frames(path, max_frames=max_frames)
            declared = stream.info.num_frames or None
            total = declared if max_frames is None or declared is None else min(declared, max_frames)
            notes: list[str] = []
            return FrameSource(
                _streamed(stream, max_side, notes), path.stem, total, stream.info.fps or 15.0, None, notes
            )
        return open_frames(load_clip(src), max_frames)
    if isinstance(source, (list, tuple)):
        frames = list(source) if max_frames is None else list(source)[:max_frames]
        return FrameSource(frames, "frames", len(frames))
    if isinstance(source, Iterable):
        return FrameSource(_first(source, max_frames), "frames")
    raise InputError(f"cannot read frames from a {type(source).__name__}")


def _first(frames: Iterable[np.ndarray], n: int | None) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        if n is not None and i >= n:
            return
        yield frame


def _streamed(stream, max_side: int, notes: list[str]) -> Iterator[np.ndarray]:
    with stream:
        yield from _downscaled(stream, max_side, notes)
    notes.extend(stream.notes)


@dataclass
class VideoState:
    """One clip being predicted: its frames, its schedule and the key frames segmented so far.

    Attributes:
        source: the frames and what is known about them.
        schedule: which frames are key frames, and each frame's key frame.
        keys: key frames kept for random access (`predict_frame`).
        consumed: a streamed source has been read (it cannot be read again).
    """

    source: FrameSource
    schedule: Schedule
    keys: KeyCache = field(default_factory=KeyCache)
    consumed: bool = False

    @property
    def frames(self) -> Sequence[np.ndarray]:
        """The frames, when the source allows random access (InputError for a streamed video)."""
        if not self.source.indexable:
            raise InputError(
                f"{self.source.name}: a streamed video has no random access; load it as a clip "
                "(`data.readers.load_clip`) to predict single frames"
            )
        return self.source.frames  # type: ignore[return-value]

    @property
    def num_frames(self) -> int | None:
        return len(self.source.frames) if self.source.indexable else self.source.num_frames  # type: ignore[arg-type]

    @property
    def clip(self) -> Clip | None:
        return self.source.clip


class VideoPredictor:
    """A propagation method and the model that runs it, on any frame source (see the module docstring).

    Args:
        spec: the resolved model (`spec.resolve_model`).
        method: a method name of the table (aliases such as `stages_3` resolve).
        device: torch device of the model (default: CUDA if available, else CPU).
        path: "fast" (the default) or "reference" (the code as the paper's implementation writes it;
            `methods.propagator.PATHS`): the same labels, the fast one sooner.
        prune: query pruning threshold (beyond the paper; 0 = off): non-key frames propagate only the
            queries whose key-frame mass reaches it (`Propagator.kept_queries`).
        model: the loaded model of `spec.load(method)` when the caller holds it already (the app keeps
            one copy per `spec.method_identity`, shared by the methods that run the same model); the
            predictor then sets it to its inference path (`MPVSS.use_fast_path`), so predictors that
            share a model share one path.
        share_keys: share key frames with every predictor of the same model identity for the method
            (`spec.method_identity`: segmenter + key heads), path and device in this process
            (`methods.shared_keys`): per_frame, copy and the optical-flow baselines of one model then
            segment each frame once between them. A shared key frame reports the segmenter time
            measured when it was computed. False for speed measurements that run the same frames twice.
    Attributes:
        model_spec (the ModelSpec), method (the table name), model (the nn.Module), propagator, device.
    Raises:
        InputError / MethodUnavailableError: unknown method, or one the model cannot run.
    """

    def __init__(
        self,
        spec: ModelSpec,
        method: str,
        device: str | torch.device | None = None,
        *,
        path: str = "fast",
        prune: float = 0.0,
        model: MPVSS | None = None,
        share_keys: bool = True,
    ) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        entry = spec.entry(method)  # an unknown or unavailable method is refused before any loading
        if model is None:
            model = spec.load(method, device=device)
        self.model_spec: ModelSpec | None = spec
        identity = entry.identity if share_keys else None
        self.propagator: Propagator = build_propagator(
            method, model, path=path, prune=prune, share_keys=identity
        )
        self.method: str = self.propagator.method
        # a flow module that was never trained, run because the user asked (resolve_model(allow_untrained))
        self.untrained: bool = entry.untrained

    @classmethod
    def from_propagator(cls, propagator: Propagator, spec: ModelSpec | None = None) -> VideoPredictor:
        """A predictor around a ready propagator (tests, models built in code)."""
        self = cls.__new__(cls)
        self.model_spec, self.propagator, self.method = spec, propagator, propagator.method
        self.untrained = False
        return self

    @property
    def model(self):
        return self.propagator.model

    @property
    def device(self) -> torch.device:
        return self.propagator.device

    @property
    def num_classes(self) -> int:
        return int(self.model.segmenter.num_classes)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's label space (the spec's names; generic names for a model built in code)."""
        if self.model_spec is not None:
            return self.model_spec.class_names
        from mpvss_core.labels import SYNTH_CLASSES, generic_class_names

        return (
            SYNTH_CLASSES if self.num_classes == len(SYNTH_CLASSES) else generic_class_names(self.num_classes)
        )

    @property
    def random_init(self) -> bool:
        """True when the model has random weights (numbers are meaningless, only shapes and costs)."""
        return bool(getattr(self.model, "random_init", False))

    def init_video(
        self,
        source,
        schedule: Schedule | int = 5,
        *,
        max_frames: int | None = None,
        max_side: int = DEFAULT_LIMITS.max_side,
    ) -> VideoState:
        """The state of one clip (see `open_frames` for the sources); nothing is predicted yet.

        Args:
            schedule: a Schedule, or K for FixedInterval(K).
            max_frames: only the first N frames.
        """
        if not isinstance(schedule, Schedule):
            schedule = FixedInterval(schedule)
        return VideoState(open_frames(source, max_frames, max_side), schedule)

    def propagate(
        self,
        state: VideoState,
        *,
        diagnostics: bool | Collection[str] = False,
        return_frames: bool = False,
        batch_segment: bool = False,
    ) -> Iterator[FrameResult]:
        """Predict every frame the schedule predicts; yields FrameResults in frame order.

        Args:
            diagnostics: True, False or names from `frame_result.DIAGNOSTICS`.
            return_frames: attach each result's input frame (`r.frame`, for overlays).
            batch_segment: offline mode: each segment's non-key frames are predicted as one batch
                (`Propagator.run`); the default latency mode answers every frame as it arrives.
        """
        if state.consumed and not state.source.indexable:
            raise InputError(
                f"{state.source.name}: a streamed video can be propagated once; init_video again"
            )
        state.consumed = True
        frames = state.source.frames
        if not return_frames:
            return self.propagator.run(
                frames, state.schedule, diagnostics=diagnostics, batch_segment=batch_segment
            )
        return self._with_frames(frames, state.schedule, diagnostics, batch_segment)

    def predict_frame(
        self, state: VideoState, index: int, *, diagnostics: bool | Collection[str] = True
    ) -> FrameResult:
        """Frame `index` alone, equal to its streamed result for every method (bi-directional ones too).

        Raises:
            InputError: a streamed source, a frame outside the clip, or one the schedule skips.
        """
        return self.propagator.predict(
            state.frames, index, state.schedule, state.keys, diagnostics=diagnostics
        )

    def _with_frames(self, frames, schedule, diagnostics, batch_segment) -> Iterator[FrameResult]:
        held: dict[int, np.ndarray] = {}

        def remember() -> Iterator[np.ndarray]:
            for i, frame in enumerate(frames):
                held[i] = frame
                yield frame

        for result in self.propagator.run(
            remember(), schedule, diagnostics=diagnostics, batch_segment=batch_segment
        ):
            for i in [i for i in held if i < result.index]:  # skipped frames (sparse schedules)
                del held[i]
            result.frame = held.pop(result.index)
            yield result
