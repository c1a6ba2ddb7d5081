"""The one clip structure every data source yields (synthetic benchmark, VSPW, Cityscapes,
video files, frame folders and zips).

A clip holds its frames and (possibly sparse) labels in memory. Sources that can be very long
(video files) also offer a streaming iterator of frames elsewhere; a `Clip` is what a bounded,
already-capped source materialises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mpvss_core.labels import IGNORE_INDEX, palette_for

FlowFn = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


class NoExactFlowError(RuntimeError):
    """Raised by `Clip.flow` for sources that carry no exact optical flow (real footage)."""


@dataclass
class Clip:
    """A video clip with optional per-frame semantic labels and optional exact flow.

    Attributes:
        name: identifier of the clip (folder or file stem, or `synth-<seed>`).
        frames: TxHxWx3 uint8 RGB.
        labels: TxH'xW' uint8 class ids, IGNORE_INDEX (255) where unknown, or None when the source has
            no labels at all. Frames without a label map are all IGNORE_INDEX; see `labelled`.
            Labels keep their own resolution: when a reader downscales large frames for the model
            (a resolution cap), H'xW' is the original size and predictions are brought to it before
            scoring (`label_size`); otherwise H'xW' = HxW.
        class_names: names of class ids 0..K-1.
        labelled: T bool, which frames carry ground truth (all False when `labels` is None).
        fps: frames per second (nominal for image sequences).
        palette: Kx3 uint8 colours of the classes.
        source: short description of where the clip came from (for the app and result keys).
        notes: what a reader changed to make the input usable (caps applied, channels dropped...),
            shown to the user.
        source_size: (H, W) of the source's frames before a reader's resolution cap, None when the
            frames kept their size (so messages can give the size the user knows).
    """

    name: str
    frames: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    labelled: np.ndarray | None = None
    fps: float = 15.0
    palette: np.ndarray | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    source_size: tuple[int, int] | None = None
    _flow_fn: FlowFn | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        f = self.frames
        if f.ndim != 4 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise ValueError(f"frames must be TxHxWx3 uint8, got {f.shape} {f.dtype}")
        if len(f) == 0:
            raise ValueError("a clip needs at least one frame")
        if self.labels is not None:
            if self.labels.ndim != 3 or len(self.labels) != len(f):
                raise ValueError(f"labels {self.labels.shape} do not match {len(f)} frames")
            if self.labels.shape[1:] != f.shape[1:3] and self._flow_fn is not None:
                raise ValueError("a clip with exact flow keeps labels at the frame size")
            if self.labelled is None:
                self.labelled = np.array([bool((lab != IGNORE_INDEX).any()) for lab in self.labels])
        else:
            self.labelled = np.zeros(len(f), bool)
        if self.palette is None:
            self.palette = palette_for(self.class_names)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def label_size(self) -> tuple[int, int]:
        """(H, W) of the label maps: the frame size unless a reader kept full-resolution labels."""
        if self.labels is None:
            return self.size
        return int(self.labels.shape[1]), int(self.labels.shape[2])

    def labels_at_frame_size(self, index: int) -> np.ndarray:
        """Frame `index`'s label map at the frame size (nearest; for drawing, never for scoring)."""
        if self.labels is None:
            raise ValueError(f"clip {self.name!r} has no labels")
        lab = self.labels[index]
        if lab.shape == self.size:
            return lab
        import cv2

        return cv2.resize(lab, (self.size[1], self.size[0]), interpolation=cv2.INTER_NEAREST)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_flow(self) -> bool:
        return self._flow_fn is not None

    def flow(self, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact optical flow from frame `src` to frame `dst`.

        Returns:
            flow: HxWx2 float32 (dx, dy) in pixels: pixel p of frame `src` shows the surface point
                that frame `dst` shows at p + flow[p].
            valid: HxW bool, False where that point is hidden or outside frame `dst`.

        Raises:
            NoExactFlowError: the source has no exact flow (real footage).
            IndexError: a frame index is out of range.
        """
        if self._flow_fn is None:
            raise NoExactFlowError(f"clip {self.name!r} ({self.source or 'real footage'}) has no exact flow")
        for i in (src, dst):
            if not 0 <= i < self.num_frames:
                raise IndexError(f"frame {i} out of range 0..{self.num_frames - 1}")
        return self._flow_fn(src, dst)
