"""What `--data` names, as a lazily loaded list of clips with a content identity (for result keys).
The kind of source is told by `data.readers.detect_source`, the one detector every front door uses:

- `synthetic:val` / `synthetic:train`: the fixed split of the built-in benchmark (`data.synthetic.SPLITS`).
  Each clip is read from the written split folder when it holds it, else rendered from its seed:
  the folder is `data_root` (`--data-root`), else `$MPVSS_DATA`, else `./data/synth` (written by
  `mpvss data synth --split val --out data/synth`). Rendering costs about 0.25 s per frame, reading
  far less; written frames are JPEGs, so the two give slightly different numbers and different
  result keys.
- `synthetic:<seed>`: one rendered clip (30 frames, 256x512).
- a VSPW-layout dataset root (`data/<clip>/origin`, optional `<split>.txt`) or one VSPW clip folder;
- a Cityscapes root (`leftImg8bit_sequence/` + `gtFine/`): every snippet of `--split` (default val),
  labelIds mapped to the 19 train ids, the labelled 20th frame of each snippet;
- a folder of videos and/or frame folders (your own footage): one clip per video or folder;
- a video file, a folder of frames or a zip of frames (one clip, via `data.readers.load_clip`).

Clips are loaded one at a time while evaluating, so only one clip is in memory. Frames larger than the
readers' `max_side` are downscaled for the model and the notes say so; labels are never resized
(predictions are scored at the labels' own resolution, `evaluation.scorer`). `max_frames` keeps the
first N frames of each clip (it is part of every clip's identity, so results of a cut never mix with
those of whole clips).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers import (
    Source,
    detect_source,
    list_cityscapes_sequences,
    list_vspw_clips,
    load_clip,
    read_cityscapes_sequence,
    read_vspw_clip,
)
from mpvss_core.data.readers.common import DEFAULT_LIMITS, ReaderLimits
from mpvss_core.errors import InputError

__all__ = ["ClipEntry", "DataSet", "data_root", "first_frames", "resolve_data"]

DEFAULT_DATA_ROOT = Path("data") / "synth"


@dataclass
class ClipEntry:
    """One clip of a data set: its name, how to load it, and a content identity."""

    name: str
    load: Callable[[], Clip]
    identity: str
    origin: str  # "written", "rendered", "file" or "memory"


@dataclass
class DataSet:
    """Clips named by `--data` (see the module docstring)."""

    spec: str
    entries: list[ClipEntry]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_clip(cls, clip: Clip, content_id: str) -> DataSet:
        """A clip already in memory (an upload, a rendered or picked clip) as a one-clip data set.

        Args:
            content_id: identifies the clip's content (e.g. a hash of its frames, labels and class
                names); it is the clip's identity, so results keyed by it follow the content, not the name.
        """
        return cls(f"clip:{clip.name}", [ClipEntry(clip.name, lambda: clip, f"clip:{content_id}", "memory")])

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    @property
    def identity(self) -> str:
        """Digest of every clip's identity (names, file sizes and times, or seeds and renderer)."""
        h = hashlib.sha256()
        for e in self.entries:
            h.update(e.identity.encode() + b"\n")
        return h.hexdigest()[:16]

    def clips(self) -> Iterator[Clip]:
        for e in self.entries:
            yield e.load()

    def describe(self) -> str:
        origins: dict[str, int] = {}
        for e in self.entries:
            origins[e.origin] = origins.get(e.origin, 0) + 1
        parts = ", ".join(f"{n} {o}" for o, n in sorted(origins.items()))
        return f"{self.spec}: {len(self)} clip(s) ({parts})"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Folder of written synthetic splits: `root`, else $MPVSS_DATA, else ./data/synth."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("MPVSS_DATA") or DEFAULT_DATA_ROOT)


def _files_identity(path: Path) -> str:
    """Cheap content identity of a file or folder: relative paths, sizes and modification times."""
    h = hashlib.sha256(str(path.resolve()).encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(path) if f != path else f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _synthetic_split(split: str, root: Path, max_clips: int | None) -> DataSet:
    from mpvss_core.data.synthetic import RENDERER_VERSION, SPLITS, render_clip
    from mpvss_core.data.writer import clip_name

    spec = SPLITS[split]
    entries = []
    for seed in spec.seeds[:max_clips]:
        folder = root / "data" / clip_name(seed)
        if (folder / "origin").is_dir() and (folder / "scene.json").is_file():
            entries.append(
                ClipEntry(
                    folder.name,
                    lambda f=folder: read_vspw_clip(f),
                    f"written:{clip_name(seed)}:{_files_identity(folder)}",
                    "written",
                )
            )
        else:
            ident = f"rendered:{seed}:{spec.num_frames}:{spec.size}:v{RENDERER_VERSION}"
            entries.append(
                ClipEntry(
                    f"synth-{seed}",
                    lambda s=seed: render_clip(s, spec.num_frames, spec.size),
                    ident,
                    "rendered",
                )
            )
    ds = DataSet(f"synthetic:{split}", entries)
    rendered = sum(e.origin == "rendered" for e in entries)
    if rendered:
        ds.notes.append(
            f"{rendered} clip(s) not found under {root}/data are rendered on the fly (~0.25 s/frame); "
            f"write them once with `mpvss data synth --split {split} --out {root}`"
        )
    return ds


def first_frames(clip: Clip, n: int) -> Clip:
    """The first n frames of a clip (exact flow stays valid: it is indexed by frame)."""
    if clip.num_frames <= n:
        return clip
    labels = clip.labels[:n] if clip.labels is not None else None
    notes = [*clip.notes, f"cut to the first {n} of {clip.num_frames} frames (max_frames)"]
    return dataclasses.replace(clip, frames=clip.frames[:n], labels=labels, labelled=clip.labelled[:n],
                               notes=notes)  # fmt: skip


def _cut(ds: DataSet, max_frames: int | None) -> DataSet:
    if max_frames is None:
        return ds
    if max_frames < 2:
        raise InputError(f"--max-frames must be >= 2 (a key frame and a propagated one), got {max_frames}")
    entries = [
        ClipEntry(
            e.name,
            lambda e=e: first_frames(e.load(), max_frames),
            f"{e.identity}:first{max_frames}",
            e.origin,
        )  # fmt: skip
        for e in ds.entries
    ]
    return DataSet(f"{ds.spec} (first {max_frames} frames)", entries, list(ds.notes))


def _cityscapes(path: Path, split: str | None, max_clips: int | None, limits: ReaderLimits) -> DataSet:
    split = split or "val"
    seqs = list_cityscapes_sequences(path, split)[:max_clips]
    entries = []
    for city, seq in seqs:
        name = f"{city}_{seq.replace('@', '_')}"
        ident = f"cityscapes:{split}:{name}:{_files_identity(path / 'gtFine' / split / city)}"
        entries.append(
            ClipEntry(
                name, lambda c=city, q=seq: read_cityscapes_sequence(path, split, c, q, limits), ident, "file"
            )
        )
    return DataSet(f"cityscapes:{path}:{split}", entries)


def _footage(src: Source, max_clips: int | None, limits: ReaderLimits) -> DataSet:
    """A folder of videos and/or frame folders: one clip each."""
    entries = [
        ClipEntry(
            p.stem if p.is_file() else p.name,
            lambda p=p: load_clip(p, limits),
            f"file:{_files_identity(p)}",
            "file",
        )
        for p in src.members[:max_clips]
    ]
    return DataSet(str(src.path), entries)


def resolve_data(
    spec: str,
    root: str | os.PathLike | None = None,
    split: str | None = None,
    max_clips: int | None = None,
    max_frames: int | None = None,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> DataSet:
    """The clips `--data spec` names (see the module docstring).

    Args:
        spec: `synthetic:val|train|<seed>`, a VSPW or Cityscapes root, a folder of videos / frame
            folders, a clip folder, a video, a zip of frames.
        root: folder of written synthetic splits (default `$MPVSS_DATA` or ./data/synth).
        split: for a VSPW root, the clips listed in `<root>/<split>.txt`; for Cityscapes the split
            folder (default val).
        max_clips: keep the first N clips.
        max_frames: keep the first N frames of each clip.
        limits: the readers' caps on user data (frames, resolution, file sizes).
    Raises:
        InputError: the data does not exist or is not a supported source.
    """
    if max_clips is not None and max_clips < 1:
        raise InputError(f"--max-clips must be >= 1, got {max_clips}")
    ds = _resolve(spec, root, split, max_clips, limits)
    if limits != DEFAULT_LIMITS:  # other caps, other clips
        tag = f":caps{limits.max_frames}x{limits.max_side}"
        entries = [dataclasses.replace(e, identity=e.identity + tag) for e in ds.entries]
        ds = DataSet(ds.spec, entries, ds.notes)
    return _cut(ds, max_frames)


def _resolve(spec: str, root, split: str | None, max_clips: int | None, limits: ReaderLimits) -> DataSet:
    src = detect_source(spec, split)
    if src.kind == "synthetic_split":
        return _synthetic_split(src.split, data_root(root), max_clips)
    if src.kind == "synthetic_seed":
        from mpvss_core.data.synthetic import DEFAULT_FRAMES, DEFAULT_SIZE, RENDERER_VERSION

        ident = f"rendered:{src.seed}:{DEFAULT_FRAMES}:{DEFAULT_SIZE}:v{RENDERER_VERSION}"
        return DataSet(spec, [ClipEntry(f"synth-{src.seed}", lambda: load_clip(src), ident, "rendered")])
    if src.kind == "cityscapes_root":
        return _cityscapes(src.path, src.split, max_clips, limits)
    if src.kind == "vspw_root":
        entries = [
            ClipEntry(
                f.name,
                lambda f=f: read_vspw_clip(f, limits=limits),
                f"vspw:{f.name}:{_files_identity(f)}",
                "file",
            )
            for f in list_vspw_clips(src.path, src.split)[:max_clips]
        ]
        return DataSet(spec, entries)
    if src.kind == "footage_folder":
        return _footage(src, max_clips, limits)
    path = src.path
    name = path.stem if path.is_file() else path.name
    entry = ClipEntry(name, lambda: load_clip(src, limits), f"file:{_files_identity(path)}", "file")
    return DataSet(spec, [entry])
