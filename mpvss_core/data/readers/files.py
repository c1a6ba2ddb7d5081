"""Readers for user uploads: a video file, or a folder / zip of frames with optional label PNGs."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers.common import (
    DEFAULT_LIMITS,
    LABEL_EXTS,
    ClipBuilder,
    ReaderLimits,
    check_file_size,
    frame_cap_note,
    list_images,
    natural_key,
)
from mpvss_core.errors import ArchiveError, InputError, LabelError, VideoDecodeError
from mpvss_core.io import iter_video_frames, read_image_rgb, read_label_png, safe_extract_zip
from mpvss_core.labels import IGNORE_INDEX, SYNTH_CLASSES, palette_for

FRAME_DIRS = ("frames", "images", "origin")
LABEL_DIRS = ("labels", "masks", "mask")
DEFAULT_FPS = 15.0


def read_video_clip(
    src: str | os.PathLike | bytes | BinaryIO,
    name: str | None = None,
    limits: ReaderLimits = DEFAULT_LIMITS,
    class_names: tuple[str, ...] = SYNTH_CLASSES,
) -> Clip:
    """Decode a video file (any FFmpeg format) into an unlabelled clip.

    Args:
        src: path, bytes or binary file object (e.g. an uploaded file).
        name: clip name (default: the file stem, or "video").
        limits: caps on file size, frames and resolution.
        class_names: label space the clip will be segmented into (it carries no labels itself).

    Returns:
        Clip with frames TxHxWx3 uint8 RGB and labels None; notes list caps and any damage found.

    Raises:
        VideoDecodeError: too large, empty, not a video, no video stream, no decodable frame,
            or a change of frame size mid-stream.
    """
    size = Path(src).stat().st_size if isinstance(src, (str, os.PathLike)) and Path(src).is_file() else None
    if isinstance(src, (bytes, bytearray, memoryview)):
        size = len(src)
    if size is not None and size > limits.max_file_bytes:
        cap = limits.max_file_bytes / 2**20
        raise VideoDecodeError(f"the video is {size / 2**20:.0f} MiB; at most {cap:.0f} MiB is allowed")
    if name is None:
        name = Path(src).stem if isinstance(src, (str, os.PathLike)) else "video"
    # One frame beyond the cap tells whether the cap actually cut something off.
    with iter_video_frames(src, max_frames=limits.max_frames + 1) as stream:
        info = stream.info
        builder = ClipBuilder(limits, expected=min(info.num_frames or 16, limits.max_frames))
        more = False
        for i, frame in enumerate(stream):
            if i == limits.max_frames:
                more = True
                break
            try:
                builder.add(frame, f"frame {i}")
            except InputError as exc:  # resolution change mid-stream
                raise VideoDecodeError(f"{stream.label}: {exc}") from exc
        notes = list(stream.notes)
    if more:
        notes.append(frame_cap_note(builder.count, info.num_frames or None))
    fps = info.fps if info.fps > 0 else DEFAULT_FPS
    if info.fps <= 0:
        notes.append(f"the video does not state its frame rate; assuming {DEFAULT_FPS:g} fps")
    source = f"video file {stream.label}" if isinstance(src, (str, os.PathLike)) else "uploaded video"
    return builder.build(name, tuple(class_names), fps, source, notes)


def read_frames_clip(
    path: str | os.PathLike,
    class_names: tuple[str, ...] = SYNTH_CLASSES,
    limits: ReaderLimits = DEFAULT_LIMITS,
    workdir: str | os.PathLike | None = None,
) -> Clip:
    """Read a folder or zip of frames, with optional label maps, as a clip.

    Frames are images in the root or in `frames/`, `images/` or `origin/`, in natural order of their
    names. Label maps (lossless images holding class ids 0..K-1, 255 = ignore) are in `labels/`,
    `masks/` or `mask/` and match frames by file stem; a frame without one is unlabelled. Colour
    label images in the palette of `class_names` are mapped back to ids. A zip is extracted safely
    into a fresh folder under `workdir` (kept), or into a temporary folder (removed after reading);
    a zip holding a single top-level folder is read from inside it.

    Returns:
        Clip: frames TxHxWx3 uint8, labels TxHxW uint8 or None when there are no label maps.

    Raises:
        InputError: no frames, frames of different sizes, a label map without a frame.
        LabelError: a label map of the wrong size, unreadable, or with ids outside 0..K-1 and 255.
        ArchiveError: an unsafe, corrupt or too large zip.
    """
    path = Path(path)
    if path.is_dir():
        return _read_frames_dir(path, tuple(class_names), limits, f"frames folder {path}")
    if not path.is_file():
        raise InputError(f"'{path}' does not exist")
    check_file_size(path, limits, ArchiveError)
    if path.suffix.lower() != ".zip" and not zipfile.is_zipfile(path):
        raise InputError(f"'{path.name}' is neither a folder nor a zip archive of frames")
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        dest = Path(tempfile.mkdtemp(prefix=f"{path.stem[:40]}-", dir=workdir))
        return _read_zip(path, dest, tuple(class_names), limits)
    with tempfile.TemporaryDirectory(prefix="mpvss-zip-") as tmp:
        return _read_zip(path, Path(tmp), tuple(class_names), limits)


def _read_zip(path: Path, dest: Path, class_names: tuple[str, ...], limits: ReaderLimits) -> Clip:
    safe_extract_zip(
        path,
        dest,
        max_files=limits.max_zip_files,
        max_total_bytes=limits.max_extracted_bytes,
    )
    root = _descend_single_folder(dest)
    clip = _read_frames_dir(root, class_names, limits, f"zip {path.name}")
    clip.name = path.stem
    return clip


def _descend_single_folder(root: Path) -> Path:
    """Step into `root/<only folder>` while that is all there is (zips often wrap one folder)."""
    for _ in range(4):
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].name in FRAME_DIRS:
            break
        root = entries[0]
    return root


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / n for n in names if (root / n).is_dir()), None)


def _read_frames_dir(root: Path, class_names: tuple[str, ...], limits: ReaderLimits, source: str) -> Clip:
    frame_dir = _first_dir(root, FRAME_DIRS) or root
    frame_files = list_images(frame_dir)
    if not frame_files:
        hint = ""
        if (root / "data").is_dir() or (root / "leftImg8bit_sequence").is_dir():
            hint = " (this looks like a dataset root: choose one clip)"
        raise InputError(
            f"{source}: no frames found; put images (.jpg, .png, ...) in the top folder or in one of "
            f"{', '.join(d + '/' for d in FRAME_DIRS)}{hint}"
        )
    label_dir = _first_dir(root, LABEL_DIRS)
    labels = {p.stem: p for p in list_images(label_dir, LABEL_EXTS)} if label_dir else {}
    lossy = [p for p in list_images(label_dir) if p.suffix.lower() not in LABEL_EXTS] if label_dir else []
    stems = {f.stem for f in frame_files}
    orphans = sorted((s for s in labels if s not in stems), key=natural_key)
    if orphans:
        raise InputError(
            f"label map '{labels[orphans[0]].name}' has no frame with the same name in "
            f"'{frame_dir.name}/' ({len(orphans)} label map(s) without a frame)"
        )
    kept = frame_files[: limits.max_frames]
    palette = palette_for(class_names)
    builder = ClipBuilder(limits, expected=len(kept))
    for f in kept:
        check_file_size(f, limits)
        frame = read_image_rgb(f, builder.conversions)
        lab_file = labels.get(f.stem)
        label = _read_class_ids(lab_file, len(class_names), palette) if lab_file else None
        builder.add(frame, f.name, label, lab_file.name if lab_file else "")
    notes = [frame_cap_note(len(kept), len(frame_files))] if len(kept) < len(frame_files) else []
    if lossy:  # JPEG & co. smear class ids at edges: such files are not label maps
        kinds = "/".join(sorted({p.suffix.lower() for p in lossy}))
        notes.append(
            f"skipped {len(lossy)} {kinds} file(s) in '{label_dir.name}/' (e.g. '{lossy[0].name}'): label "
            f"maps must be lossless ({', '.join(sorted(LABEL_EXTS))}); save them as PNG"
        )
    return builder.build(root.name, class_names, DEFAULT_FPS, source, notes)


def _read_class_ids(path: Path, k: int, palette: np.ndarray) -> np.ndarray:
    ids = read_label_png(path, palette=palette)
    bad = np.unique(ids[(ids >= k) & (ids != IGNORE_INDEX)])
    if bad.size:
        shown = ", ".join(str(int(v)) for v in bad[:10])
        raise LabelError(
            f"label map '{path.name}' has unknown class ids {shown}; valid ids are 0..{k - 1} "
            f"and {IGNORE_INDEX} (ignore)"
        )
    return ids
