"""The per-frame reference of label-free scoring: the segmenter's own prediction on every frame.

    refs = PerFrameReference(spec, device="cpu", store=ResultStore())
    labels = refs(clip)                      # TxHxW uint8 model ids, computed once per clip

When a clip has no ground truth in the model's label space, every method is scored against what the
full model (the segmenter of `per_frame`, never a variant's retrained heads) predicts on each frame
(`Reference.per_frame`). Those predictions depend only on the model's segmenter,
the clip and the device, so they are computed once and kept: in memory for the clip at hand, and in
the results store (`<root>/references/<key>/<clip>.npz`) for every later evaluation of any method.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.errors import InputError
from mpvss_core.io.outputs import atomic_file
from mpvss_core.labels import LabelMatch, match_label_spaces

__all__ = ["PerFrameReference", "Reference", "frames_digest"]


@dataclass(frozen=True)
class Reference:
    """What predictions are scored against (see the module docstring).

    Attributes:
        kind: "labels" or "per_frame".
        class_names: the label space scores are reported in (the data's, or the model's for per_frame).
        match: for "labels", how the model's classes meet the data's (None: the same names).
    """

    kind: str
    class_names: tuple[str, ...]
    match: LabelMatch | None = None

    @classmethod
    def labels(cls, data_names: tuple[str, ...], model_names: tuple[str, ...]) -> Reference:
        match = match_label_spaces(model_names, data_names)
        return cls("labels", tuple(data_names), None if match.identical else match)

    @classmethod
    def per_frame(cls, model_names: tuple[str, ...]) -> Reference:
        return cls("per_frame", tuple(model_names))

    def describe(self) -> str:
        if self.kind == "per_frame":
            return "vs per-frame (no ground truth): the segmenter's own prediction on every frame"
        if self.match is None:
            return "vs ground truth"
        return f"vs ground truth, {len(self.match.matched)} classes matched by name"


def frames_digest(clip: Clip) -> str:
    """Content hash of a clip's frames (the reference depends on nothing else of the clip)."""
    h = hashlib.sha256(f"{clip.frames.shape}".encode())
    h.update(np.ascontiguousarray(clip.frames).data)
    return h.hexdigest()[:20]


class PerFrameReference:
    """Per-frame predictions of a model's segmenter, per clip (see the module docstring).

    Args:
        spec: the model (its `per_frame` entry runs), or None with `predictor` given.
        device: torch device.
        store: a ResultStore whose folder keeps the references (None: memory only).
        predictor: a ready per_frame VideoPredictor (tests, stub models).
    """

    def __init__(self, spec=None, device: str = "cpu", store=None, predictor=None) -> None:
        if spec is None and predictor is None:
            raise ValueError("give a model spec or a per_frame predictor")
        self.spec, self.device, self._predictor = spec, device, predictor
        self.root = None if store is None else Path(store.root) / "references"
        self._last: tuple[str, np.ndarray] | None = None

    def _folder(self) -> Path | None:
        if self.root is None or self.spec is None:
            return None
        identity = self.spec.method_identity("per_frame")
        key = hashlib.sha256(f"{identity}|{self.device}".encode()).hexdigest()[:24]
        return self.root / key

    def predictor(self):
        if self._predictor is None:
            from mpvss_core.predictor import VideoPredictor

            self._predictor = VideoPredictor(self.spec, "per_frame", device=self.device)
        return self._predictor

    def __call__(self, clip: Clip) -> np.ndarray:
        """TxHxW uint8: the per-frame prediction of every frame of `clip`."""
        digest = frames_digest(clip)
        if self._last is not None and self._last[0] == digest:
            return self._last[1]
        folder = self._folder()
        path = None if folder is None else folder / f"{digest}.npz"
        labels = None
        if path is not None and path.is_file():
            try:
                labels = np.load(path)["labels"]
            except (OSError, ValueError, KeyError):
                labels = None  # damaged: recompute
        if labels is None or labels.shape[0] != clip.num_frames:
            p = self.predictor()
            labels = np.stack([r.labels for r in p.propagate(p.init_video(clip, 1))])
            if path is not None:
                _save_npz(path, labels)
        self._last = (digest, labels)
        return labels


def _save_npz(path: Path, labels: np.ndarray) -> None:
    """Atomic write (a reference cache that cannot be written is not an error)."""
    try:
        with atomic_file(path, "wb") as fh:
            np.savez_compressed(fh, labels=labels)
    except InputError:  # what atomic_file makes of an OSError
        pass
