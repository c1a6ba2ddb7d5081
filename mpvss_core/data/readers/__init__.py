"""Readers of every clip source, each returning a `Clip` (docs/architecture.md §7, §9).

- `detect_source(text_or_path)`: what a path or `--data` string is (`detect.py`); every front door asks it.
- `load_clip(source)`: one entry point reading any single-clip source.
- VSPW layout (and the built-in synthetic benchmark's cache): `list_vspw_clips`, `read_vspw_clip`.
- Cityscapes sequences with sparse labels: `list_cityscapes_sequences`, `read_cityscapes_sequence`.
- Uploads: `read_video_clip` (any FFmpeg video), `read_frames_clip` (folder or zip of frames).

All readers treat their input as untrusted: caps from `ReaderLimits` are applied and reported in
`Clip.notes`; anything unusable raises an `InputError` subclass naming the file.
"""

from __future__ import annotations

import os

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers.cityscapes import list_cityscapes_sequences, read_cityscapes_sequence
from mpvss_core.data.readers.common import DEFAULT_LIMITS, ReaderLimits
from mpvss_core.data.readers.detect import SYNTHETIC_PREFIX, VIDEO_EXTS, Source, detect_source, file_kind
from mpvss_core.data.readers.files import read_frames_clip, read_video_clip
from mpvss_core.data.readers.vspw import list_vspw_clips, read_vspw_class_names, read_vspw_clip
from mpvss_core.errors import InputError

__all__ = [
    "SYNTHETIC_PREFIX",
    "VIDEO_EXTS",
    "ReaderLimits",
    "Source",
    "detect_source",
    "file_kind",
    "list_cityscapes_sequences",
    "list_vspw_clips",
    "load_clip",
    "read_cityscapes_sequence",
    "read_frames_clip",
    "read_video_clip",
    "read_vspw_class_names",
    "read_vspw_clip",
]


def load_clip(
    source: str | os.PathLike | Source,
    limits: ReaderLimits = DEFAULT_LIMITS,
    class_names: tuple[str, ...] | None = None,
    workdir: str | os.PathLike | None = None,
) -> Clip:
    """Load a clip from any single-clip source (`detect_source`).

    Args:
        source: `synthetic:<seed>` (built-in benchmark clip), a VSPW clip folder (has `origin/`),
            a folder of frames, a `.zip` of frames, or a video file (.mp4 .avi .mov .mkv .webm .m4v);
            or a `Source` already detected.
        limits: caps applied to user data (not to synthetic clips, which are bounded by design).
        class_names: label space; None keeps each reader's default.
        workdir: where a zip is extracted (None: a temporary folder, removed after reading).

    Raises:
        InputError (or a subclass): unknown or unusable source, or one holding several clips.
    """
    src = detect_source(source)
    if src.kind == "synthetic_seed":
        from mpvss_core.data.synthetic import render_clip  # lazy: the renderer is heavier than a reader

        return render_clip(src.seed)
    if not src.is_one_clip:
        raise InputError(
            f"'{src.text}' is {src.words}, which holds several clips: give one clip (a video, a zip or "
            f"folder of frames, a clip folder, or '{SYNTHETIC_PREFIX}<seed>')"
        )
    names = {} if class_names is None else {"class_names": tuple(class_names)}
    if src.kind == "clip_folder":
        return read_vspw_clip(src.path, limits=limits, **names)
    if src.kind == "frames_folder":
        return read_frames_clip(src.path, limits=limits, **names)
    if src.kind == "zip":
        return read_frames_clip(src.path, limits=limits, workdir=workdir, **names)
    return read_video_clip(src.path, limits=limits, **names)
