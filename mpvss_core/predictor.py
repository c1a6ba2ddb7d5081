"""VideoPredictor: the numpy-facing API of propagation (a SAM2-style generator, reference-notes A2/A8).

    predictor = VideoPredictor("query_flow", model="tiny")
    for result in predictor.propagate("clip.mp4", 5):            # FixedInterval(5)
        result.index, result.is_key, result.labels               # HxW uint8
    for frame, result in predictor.propagate(clip, 5, return_frames=True, diagnostics=True):
        ...                                                      # the input frame beside its result

Sources: a `Clip`, a TxHxWx3 uint8 array, any iterable of HxWx3 uint8 frames, or a path/string that
`data.readers.load_clip` reads (`synthetic:<seed>`, a VSPW clip folder, a frames folder or zip).
Video files are *streamed* (decoded one frame at a time, never held whole), so memory stays bounded on
long videos: the method keeps only its current key frame(s) and at most one key-frame segment of
frames (bi-directional), and `return_frames` keeps only the frames whose results are not out yet.
Frames larger than `max_side` are downscaled as the clip readers do (and a note says so).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .data.clip import Clip
from .data.readers import VIDEO_EXTS, load_clip
from .data.readers.common import DEFAULT_LIMITS, capped_size
from .errors import InputError
from .frame_result import FrameResult
from .methods import Method, load_method
from .schedules import FixedInterval, Schedule

__all__ = ["FrameSource", "VideoPredictor", "open_frames"]


@dataclass
class FrameSource:
    """Frames to predict, with what is known about them up front.

    Attributes:
        frames: an iterable of HxWx3 uint8 RGB frames (read once).
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


def _downscaled(frames: Iterable[np.ndarray], max_side: int, notes: list[str]) -> Iterator[np.ndarray]:
    for frame in frames:
        h, w = frame.shape[:2]
        size = capped_size(h, w, max_side)
        if size != (h, w):
            if not notes or "downscaled" not in notes[-1]:
                notes.append(f"frames of {h}x{w} downscaled to {size[0]}x{size[1]} (max side {max_side})")
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
    if isinstance(source, Clip):
        frames = source.frames if max_frames is None else source.frames[:max_frames]
        return FrameSource(frames, source.name, len(frames), source.fps, source, list(source.notes))
    if isinstance(source, np.ndarray):
        if source.ndim != 4:
            raise InputError(f"a frame array must be TxHxWx3, got shape {source.shape}")
        frames = source if max_frames is None else source[:max_frames]
        return FrameSource(frames, "frames", len(frames))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() in VIDEO_EXTS and path.is_file():
            from .io import iter_video_frames

            stream = iter_video_frames(path, max_frames=max_frames)
            declared = stream.info.num_frames or None
            total = declared if max_frames is None or declared is None else min(declared, max_frames)
            notes: list[str] = []
            return FrameSource(
                _streamed(stream, max_side, notes), path.stem, total, stream.info.fps or 15.0, None, notes
            )
        clip = load_clip(source)
        return open_frames(clip, max_frames)
    if isinstance(source, Iterable):
        return FrameSource(source, "frames")
    raise InputError(f"cannot read frames from a {type(source).__name__}")


def _streamed(stream, max_side: int, notes: list[str]) -> Iterator[np.ndarray]:
    with stream:
        yield from _downscaled(stream, max_side, notes)
    notes.extend(stream.notes)


class VideoPredictor:
    """A propagation method and its model, run on any frame source (see the module docstring).

    Args:
        method: a method name (`mpvss_core.methods.METHODS`, `stages_S`) or a ready Method.
        model: `--model` spec for `mpvss_core.zoo` ("default", "tiny", a folder); ignored for a Method.
        device: torch device for the model (default: CUDA if available, else CPU).
        seed: seed of a random-weight preset (the same segmenter for every method).
    """

    def __init__(
        self,
        method: str | Method = "query_flow",
        model: str = "default",
        device: str | torch.device | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(method, Method):
            self.method = method
        else:
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            self.method = load_method(method, model, device=device, seed=seed)
        self.model_spec = model

    @property
    def model(self):
        return self.method.model

    @property
    def num_classes(self) -> int:
        return int(self.model.segmenter.num_classes)

    @property
    def random_init(self) -> bool:
        """True when the model has random weights (numbers are meaningless, only shapes and costs)."""
        return bool(getattr(self.model, "random_init", False))

    def propagate(
        self,
        source,
        schedule: Schedule | int = 5,
        *,
        diagnostics: bool | Collection[str] = False,
        max_frames: int | None = None,
        return_frames: bool = False,
    ) -> Iterator[FrameResult] | Iterator[tuple[np.ndarray, FrameResult]]:
        """Predict the frames of `source`; yields FrameResult (or (frame, FrameResult)) in frame order.

        Args:
            source: see `open_frames`.
            schedule: a Schedule or K for FixedInterval(K).
            diagnostics: True, False or names from `frame_result.DIAGNOSTICS`.
            max_frames: stop after this many input frames.
            return_frames: also yield the input frame of each result (for overlays).
        """
        src = source if isinstance(source, FrameSource) else open_frames(source, max_frames)
        if not isinstance(schedule, Schedule):
            schedule = FixedInterval(schedule)
        if not return_frames:
            return self.method.run(src.frames, schedule, diagnostics=diagnostics)
        return self._with_frames(src.frames, schedule, diagnostics)

    def _with_frames(self, frames, schedule, diagnostics) -> Iterator[tuple[np.ndarray, FrameResult]]:
        held: dict[int, np.ndarray] = {}

        def remember() -> Iterator[np.ndarray]:
            for i, frame in enumerate(frames):
                held[i] = frame
                yield frame

        for result in self.method.run(remember(), schedule, diagnostics=diagnostics):
            for i in [i for i in held if i < result.index]:  # skipped frames (sparse schedules)
                del held[i]
            yield held.pop(result.index), result
