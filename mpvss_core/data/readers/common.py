"""Shared pieces of the readers: limits, natural file order, and a clip builder that applies the
size checks and caps every reader needs (docs/architecture.md §9: cap and say so)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.errors import InputError, LabelError
from mpvss_core.labels import IGNORE_INDEX

MiB = 1024**2
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
LABEL_EXTS = frozenset({".png", ".bmp", ".tif", ".tiff"})  # lossless only: JPEG would smear class ids


@dataclass(frozen=True)
class ReaderLimits:
    """Caps applied to untrusted clips; each cap that bites adds a note to `Clip.notes`.

    Attributes:
        max_frames: keep the first `max_frames` frames.
        max_side: downscale frames so that the longer side is at most this (INTER_AREA). Label maps
            are never resized: they keep their full resolution and predictions are brought to it
            before scoring, so a cap never changes the ground truth.
        max_file_bytes: reject a video, zip or image file larger than this.
        max_zip_files: reject zips with more entries than this.
        max_extracted_bytes: reject zips whose contents would exceed this uncompressed.
    """

    max_frames: int = 300
    max_side: int = 1280
    max_file_bytes: int = 500 * MiB
    max_zip_files: int = 5000
    max_extracted_bytes: int = 2048 * MiB

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.max_side < 1:
            raise ValueError(f"max_frames and max_side must be >= 1, got {self}")


DEFAULT_LIMITS = ReaderLimits()


def natural_key(name: str) -> list:
    """Sort key with digit runs compared as numbers: frame2 < frame10."""
    # re.split with a group alternates text (even positions) and digits (odd), so types line up.
    return [int(t) if i % 2 else t.lower() for i, t in enumerate(re.split(r"(\d+)", name))] + [name]


def list_images(folder: Path, exts: frozenset[str] = IMAGE_EXTS) -> list[Path]:
    """Image files directly in `folder` in natural order, hidden files (e.g. macOS `._x.jpg`) skipped."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix.lower() in exts and not p.name.startswith(".")]
    return sorted((p for p in files if p.is_file()), key=lambda p: natural_key(p.name))


def check_file_size(path: Path, limits: ReaderLimits, err: type[InputError] = InputError) -> None:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        cap = limits.max_file_bytes / MiB
        raise err(f"'{path.name}' is {size / MiB:.0f} MiB; at most {cap:.0f} MiB is allowed")


def capped_size(h: int, w: int, max_side: int) -> tuple[int, int]:
    """(H, W) scaled so that max(H, W) <= max_side, aspect ratio kept."""
    scale = max_side / max(h, w)
    if scale >= 1:
        return h, w
    return max(1, round(h * scale)), max(1, round(w * scale))


def frame_cap_note(kept: int, total: int | None) -> str:
    of = f"of {total} " if total else ""
    return f"frame cap: kept the first {kept} {of}frames (max_frames={kept})"


class ClipBuilder:
    """Collects frames (and optional labels) one at a time, checking sizes and applying the
    resolution cap as they arrive, so memory holds only capped frames.

    Args:
        limits: the caps.
        expected: number of frames expected (preallocates; more or fewer are fine).
    """

    def __init__(self, limits: ReaderLimits, expected: int | None = None) -> None:
        self.limits = limits
        self._cap = max(1, expected or 16)
        self._frames: np.ndarray | None = None
        self._labels: list[np.ndarray | None] = []
        self.count = 0
        self.size: tuple[int, int] | None = None  # original (H, W) of the first frame
        self.out_size: tuple[int, int] | None = None
        self.first_name = ""
        self.conversions: list[str] = []  # one entry per frame conversion, summarised in build()
        self.notes: list[str] = []

    def add(
        self, frame: np.ndarray, name: str, label: np.ndarray | None = None, label_name: str = ""
    ) -> None:
        """Append one HxWx3 uint8 frame (and its HxW uint8 label map, None if unlabelled)."""
        h, w = frame.shape[:2]
        if self.size is None:
            self.size, self.first_name = (h, w), name
            self.out_size = capped_size(h, w, self.limits.max_side)
        elif (h, w) != self.size:
            raise InputError(
                f"frame '{name}' is {w}x{h} but '{self.first_name}' is {self.size[1]}x{self.size[0]}; "
                "all frames of a clip must have the same size"
            )
        if label is not None and label.shape != (h, w):
            raise LabelError(
                f"label map '{label_name}' is {label.shape[1]}x{label.shape[0]} but its frame "
                f"'{name}' is {w}x{h}"
            )
        oh, ow = self.out_size
        if (oh, ow) != (h, w):
            frame = cv2.resize(frame, (ow, oh), interpolation=cv2.INTER_AREA)
        self._store(frame)
        self._labels.append(label)

    def _store(self, frame: np.ndarray) -> None:
        if self._frames is None:
            self._frames = np.empty((self._cap, *frame.shape), np.uint8)
        elif self.count == len(self._frames):  # grow geometrically: amortised O(1) appends
            grown = np.empty((2 * len(self._frames), *frame.shape), np.uint8)
            grown[: self.count] = self._frames
            self._frames = grown
        self._frames[self.count] = frame
        self.count += 1

    def build(
        self, name: str, class_names: tuple[str, ...], fps: float, source: str, notes: Sequence[str] = ()
    ) -> Clip:
        """Assemble the clip. labels is None when no frame had a label map."""
        if self.count == 0 or self._frames is None:
            raise InputError(f"{source}: no frames")
        frames = self._frames[: self.count]
        labels, labelled = None, None
        if any(lab is not None for lab in self._labels):
            labels = np.full((self.count, *(self.size or frames.shape[1:3])), IGNORE_INDEX, np.uint8)
            labelled = np.zeros(self.count, bool)
            for i, lab in enumerate(self._labels):
                if lab is not None:
                    labels[i], labelled[i] = lab, True
        all_notes = [*notes, *self._cap_note(labels is not None), *self.notes, *self._conversion_notes()]
        return Clip(
            name=name,
            frames=frames,
            labels=labels,
            class_names=tuple(class_names),
            labelled=labelled,
            fps=float(fps),
            source=source,
            notes=all_notes,
            source_size=self.size if self.out_size != self.size else None,
        )

    def _cap_note(self, labelled: bool) -> list[str]:
        """The resolution cap's note (WxH), written once the builder knows whether any frame had labels:
        only then are labels kept at the source size (an unlabelled clip has none to keep)."""
        if self.size is None or self.out_size == self.size:
            return []
        (h, w), (oh, ow) = self.size, self.out_size
        cap = self.limits.max_side
        note = f"resolution cap: frames downscaled from {w}x{h} to {ow}x{oh} (max_side={cap})"
        if labelled:
            note += f"; labels kept at {w}x{h}, predictions are scored at that size"
        return [note]

    def _conversion_notes(self) -> list[str]:
        out = []
        for what, n in Counter(self.conversions).items():
            who = f"all {n} frames" if n == self.count and n > 1 else f"{n} frame(s)"
            out.append(f"{who}: {what}")
        return out
