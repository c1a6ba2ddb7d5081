"""What a path or `--data` string names: the one place that tells the kinds of source apart.

    src = detect_source("data/VSPW", split="val")   # Source(kind="vspw_root", path=..., split="val", ...)

Every front door asks this function (evaluation's `resolve_data`, training's `FrameDataset.open`,
`load_clip` and so `mpvss infer` and the app), so a new format is taught here once. The kinds, tested
in this order:

- `synthetic_split`: `synthetic:train` / `synthetic:val`, a fixed split of the built-in benchmark;
- `synthetic_seed`: `synthetic:<seed>`, one rendered clip (seed an integer >= 0);
- `cityscapes_root`: a folder holding `leftImg8bit_sequence/` (and `gtFine/`);
- `clip_folder`: one clip in the VSPW layout, `origin/` frames and optional `mask/` raw label maps
  (the synthetic benchmark's written clips);
- `vspw_root`: a folder holding `data/` or clip folders (`<clip>/origin/`), optional `<split>.txt`;
- `frames_folder`: one clip, images at the top or in `frames/`, `images/` (optional label maps in
  `labels/`, `masks/` or `mask/`);
- `footage_folder`: a folder of videos and/or folders of frames, one clip each (`members`);
- `zip`: a `.zip` of frames; `video`: a video file (`VIDEO_EXTS`).

A split (`split=`) names `<root>/<split>.txt` of a VSPW root and `leftImg8bit_sequence/<split>` of a
Cityscapes root; when that file or folder is missing the source is refused, whichever front door asked.
Other kinds take no split. Every refusal (a missing path, an empty folder, a folder with nothing to read,
an unsupported file, a malformed `synthetic:...`) is a one-line `InputError` naming the source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mpvss_core.data.readers.cityscapes import cityscapes_split_dir
from mpvss_core.data.readers.common import IMAGE_EXTS, list_images
from mpvss_core.data.readers.files import FRAME_DIRS, LABEL_DIRS
from mpvss_core.data.readers.vspw import vspw_split_file
from mpvss_core.errors import InputError

__all__ = ["SYNTHETIC_PREFIX", "VIDEO_EXTS", "Source", "SourceKind", "detect_source", "file_kind"]

VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
SYNTHETIC_PREFIX = "synthetic:"

SourceKind = Literal[
    "synthetic_split",
    "synthetic_seed",
    "cityscapes_root",
    "clip_folder",
    "vspw_root",
    "frames_folder",
    "footage_folder",
    "zip",
    "video",
]
# what each kind is, in words (messages)
_WORDS: dict[str, str] = {
    "synthetic_split": "a split of the synthetic benchmark",
    "synthetic_seed": "a synthetic benchmark clip",
    "cityscapes_root": "a Cityscapes root",
    "clip_folder": "a VSPW clip folder",
    "vspw_root": "a VSPW-layout dataset root",
    "frames_folder": "a folder of frames",
    "footage_folder": "a folder of videos / frame folders",
    "zip": "a zip of frames",
    "video": "a video file",
}
_EXPECTED = (
    f"a video ({', '.join(sorted(VIDEO_EXTS))}), a .zip or folder of frames, a folder of videos or clips, "
    f"a VSPW or Cityscapes root, or '{SYNTHETIC_PREFIX}<split or seed>'"
)


@dataclass(frozen=True)
class Source:
    """A detected source.

    Attributes:
        kind: see the module docstring.
        text: what was given, as a string.
        path: the file or folder (None for the synthetic kinds).
        split: the synthetic split's name; for a VSPW or Cityscapes root the split asked for (None: all
            clips of a VSPW root, the caller's default split of a Cityscapes root).
        seed: the seed of a `synthetic_seed`.
        split_file: `<root>/<split>.txt` of a VSPW root given a split.
        members: the videos and frame folders of a `footage_folder`, in name order.
    """

    kind: SourceKind
    text: str
    path: Path | None = None
    split: str | None = None
    seed: int | None = None
    split_file: Path | None = None
    members: tuple[Path, ...] = ()

    @property
    def words(self) -> str:
        return _WORDS[self.kind]

    @property
    def takes_split(self) -> bool:
        """True for the kinds a split selects clips of (a VSPW or a Cityscapes root)."""
        return self.kind in ("vspw_root", "cityscapes_root")

    @property
    def is_one_clip(self) -> bool:
        """True when the source is a single clip (`data.readers.load_clip` reads it)."""
        return self.kind in ("synthetic_seed", "clip_folder", "frames_folder", "zip", "video")


def file_kind(name: str | os.PathLike) -> Literal["zip", "video"] | None:
    """The kind of a file by its extension: "zip", "video", or None for any other file."""
    suffix = Path(name).suffix.lower()
    if suffix == ".zip":
        return "zip"
    return "video" if suffix in VIDEO_EXTS else None


def detect_source(source: str | os.PathLike | Source, split: str | None = None) -> Source:
    """What `source` is (see the module docstring); a `Source` is returned as it is.

    Args:
        source: `synthetic:<split|seed>` or a path.
        split: for a VSPW root its `<split>.txt`, for a Cityscapes root its split folder; "" or None
            for no split. Ignored by the other kinds.
    Raises:
        InputError: the source does not exist, is empty, holds nothing readable, is an unsupported
            file, a malformed `synthetic:...`, or a root whose split file / folder is missing.
    """
    if isinstance(source, Source):
        return source
    split = split or None
    text = os.fspath(source)
    if isinstance(source, str) and text.startswith(SYNTHETIC_PREFIX):
        return _synthetic(text)
    path = Path(text)
    try:
        return _path(text, path, split)
    except OSError as exc:  # e.g. a folder that cannot be listed
        raise InputError(f"'{text}' cannot be read ({exc.strerror or exc})") from None


def _synthetic(text: str) -> Source:
    from mpvss_core.data.splits import SPLITS

    rest = text[len(SYNTHETIC_PREFIX) :]
    if rest in SPLITS:
        return Source("synthetic_split", text, split=rest)
    try:
        seed = int(rest)
    except ValueError:
        seed = -1
    if seed < 0:
        raise InputError(
            f"'{text}': expected {SYNTHETIC_PREFIX}{'|'.join(SPLITS)} (a split) or {SYNTHETIC_PREFIX}<seed> "
            "(one clip; the seed must be an integer >= 0)"
        )
    return Source("synthetic_seed", text, seed=seed)


def _path(text: str, path: Path, split: str | None) -> Source:
    if not path.exists():
        raise InputError(f"'{text}' does not exist: expected {_EXPECTED}")
    if path.is_file():
        kind = file_kind(path)
        if kind is None:
            raise InputError(f"'{path.name}' is not a supported clip source: use {_EXPECTED}")
        return Source(kind, text, path)
    if not path.is_dir():
        raise InputError(f"'{text}' is neither a file nor a folder: expected {_EXPECTED}")
    if (path / "leftImg8bit_sequence").is_dir():
        if split is not None:
            cityscapes_split_dir(path, split)
        return Source("cityscapes_root", text, path, split)
    if (path / "origin").is_dir():
        return Source("clip_folder", text, path)
    children = list(path.iterdir())
    if (path / "data").is_dir() or any((d / "origin").is_dir() for d in children):
        split_file = vspw_split_file(path, split) if split is not None else None
        return Source("vspw_root", text, path, split, split_file=split_file)
    if list_images(path, IMAGE_EXTS) or any((path / d).is_dir() for d in FRAME_DIRS + LABEL_DIRS):
        return Source("frames_folder", text, path)
    videos = [p for p in children if p.is_file() and file_kind(p) == "video"]
    folders = [p for p in children if p.is_dir() and list_images(p, IMAGE_EXTS)]
    if videos or folders:
        members = tuple(sorted([*videos, *folders], key=lambda p: p.name))
        return Source("footage_folder", text, path, members=members)
    if not any(not p.name.startswith(".") for p in children):
        raise InputError(f"'{text}' is an empty folder: expected {_EXPECTED}")
    raise InputError(f"'{text}' holds no frames, videos or clips: expected {_EXPECTED}")
