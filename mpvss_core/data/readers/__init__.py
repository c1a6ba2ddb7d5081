"""Readers of every clip source, each returning a `Clip` (docs/architecture.md §7, §9).

- `load_clip(source)`: one entry point dispatching on the kind of source.
- VSPW layout (and the built-in synthetic benchmark's cache): `list_vspw_clips`, `read_vspw_clip`.
- Cityscapes sequences with sparse labels: `list_cityscapes_sequences`, `read_cityscapes_sequence`.
- Uploads: `read_video_clip` (any FFmpeg video), `read_frames_clip` (folder or zip of frames).

All readers treat their input as untrusted: caps from `ReaderLimits` are applied and reported in
`Clip.notes`; anything unusable raises an `InputError` subclass naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers.cityscapes import list_cityscapes_sequences, read_cityscapes_sequence
from mpvss_core.data.readers.common import DEFAULT_LIMITS, ReaderLimits
from mpvss_core.data.readers.files import read_frames_clip, read_video_clip
from mpvss_core.data.readers.vspw import list_vspw_clips, read_vspw_class_names, read_vspw_clip
from mpvss_core.errors import InputError

VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
SYNTHETIC_PREFIX = "synthetic:"

__all__ = [
    "VIDEO_EXTS",
    "ReaderLimits",
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
    source: str | os.PathLike,
    limits: ReaderLimits = DEFAULT_LIMITS,
    class_names: tuple[str, ...] | None = None,
    workdir: str | os.PathLike | None = None,
) -> Clip:
    """Load a clip from any supported source.

    Args:
        source: `synthetic:<seed>` (built-in benchmark clip), a VSPW clip folder (has `origin/`),
            a folder of frames, a `.zip` of frames, or a video file (.mp4 .avi .mov .mkv .webm .m4v).
        limits: caps applied to user data (not to synthetic clips, which are bounded by design).
        class_names: label space; None keeps each reader's default.
        workdir: where a zip is extracted (None: a temporary folder, removed after reading).

    Raises:
        InputError (or a subclass): unknown or unusable source.
    """
    if isinstance(source, str) and source.startswith(SYNTHETIC_PREFIX):
        return _load_synthetic(source[len(SYNTHETIC_PREFIX) :])
    path = Path(source)
    names = {} if class_names is None else {"class_names": tuple(class_names)}
    if path.is_dir():
        if (path / "origin").is_dir():
            return read_vspw_clip(path, limits=limits, **names)
        return read_frames_clip(path, limits=limits, **names)
    if not path.exists():
        raise InputError(f"'{source}' does not exist")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return read_frames_clip(path, limits=limits, workdir=workdir, **names)
    if suffix in VIDEO_EXTS:
        return read_video_clip(path, limits=limits, **names)
    raise InputError(
        f"'{path.name}' is not a supported clip source: use a video ({', '.join(sorted(VIDEO_EXTS))}), "
        f"a .zip or folder of frames, a VSPW clip folder, or '{SYNTHETIC_PREFIX}<seed>'"
    )


def _load_synthetic(seed_text: str) -> Clip:
    try:
        seed = int(seed_text)
    except ValueError:
        raise InputError(f"'{SYNTHETIC_PREFIX}{seed_text}': the seed must be an integer") from None
    from mpvss_core.data.synthetic import render_clip  # lazy: the renderer is heavier than a reader

    return render_clip(seed)
