"""Cityscapes sequence reader (sparse labels).

Layout: `<root>/leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame:06d>_leftImg8bit.png` and
`<root>/gtFine/<split>/<city>/<city>_<seq>_<frame:06d>_gtFine_labelIds.png` for the one labelled
frame of each 30-frame snippet. labelIds map to the 19 trainIds; every other id becomes 255.

In the val cities one `<seq>` holds several snippets separated by gaps in the frame numbers (e.g.
frankfurt_000000 frames 275-304 and 557-586). A clip must be contiguous footage, so listing yields
one entry per snippet: `seq` is "000000" when the sequence is one snippet and "000000@000275"
(sequence @ first frame) when it holds several.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers.common import DEFAULT_LIMITS, ClipBuilder, ReaderLimits, frame_cap_note
from mpvss_core.errors import InputError
from mpvss_core.io import read_image_rgb, read_label_png
from mpvss_core.labels import CITYSCAPES_CLASSES, CITYSCAPES_LABELID_TO_TRAINID, IGNORE_INDEX

CITYSCAPES_FPS = 17.0  # the sequences were recorded at 17 Hz
_FRAME_RE = re.compile(r"^(?P<city>.+)_(?P<seq>\d+)_(?P<frame>\d+)_leftImg8bit\.png$")

_LABELID_LUT = np.full(256, IGNORE_INDEX, np.uint8)
for _label_id, _train_id in CITYSCAPES_LABELID_TO_TRAINID.items():
    _LABELID_LUT[_label_id] = _train_id


def cityscapes_split_dir(root: Path, split: str) -> Path:
    """`<root>/leftImg8bit_sequence/<split>` (InputError naming it when it does not exist)."""
    d = root / "leftImg8bit_sequence" / split
    if not d.is_dir():
        raise InputError(f"'{d}' does not exist: expected Cityscapes 'leftImg8bit_sequence/{split}'")
    return d


def _scan_city(city_dir: Path) -> dict[str, dict[int, Path]]:
    """{seq: {frame number: file}} of one city folder."""
    seqs: dict[str, dict[int, Path]] = {}
    for p in city_dir.iterdir():
        m = _FRAME_RE.match(p.name)
        if m and m["city"] == city_dir.name:
            seqs.setdefault(m["seq"], {})[int(m["frame"])] = p
    return seqs


def _snippets(frames: dict[int, Path]) -> list[list[int]]:
    """Frame numbers split into runs of consecutive numbers."""
    runs: list[list[int]] = []
    for n in sorted(frames):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def list_cityscapes_sequences(root: str | Path, split: str) -> list[tuple[str, str]]:
    """(city, seq) of every snippet of a split, sorted; see the module docstring for `seq`.

    Raises:
        InputError: the split folder is missing or holds no `*_leftImg8bit.png` frames.
    """
    out: list[tuple[str, str]] = []
    for city_dir in sorted(d for d in cityscapes_split_dir(Path(root), split).iterdir() if d.is_dir()):
        for seq, frames in sorted(_scan_city(city_dir).items()):
            runs = _snippets(frames)
            if len(runs) == 1:
                out.append((city_dir.name, seq))
            else:
                out.extend((city_dir.name, f"{seq}@{run[0]:06d}") for run in runs)
    if not out:
        raise InputError(f"no '<city>_<seq>_<frame>_leftImg8bit.png' frames in '{root}', split {split!r}")
    return out


def labelid_lut(num_classes: int = len(CITYSCAPES_CLASSES)) -> np.ndarray:
    """256 uint8 lookup: Cityscapes labelId -> trainId, 255 for other ids and train ids >= num_classes."""
    return np.where(num_classes > _LABELID_LUT, _LABELID_LUT, IGNORE_INDEX).astype(np.uint8)


def cityscapes_snippet_files(root: str | Path, split: str) -> list[tuple[str, list[Path], list[Path | None]]]:
    """(clip name, frame files, per frame its gtFine labelIds file or None) of every snippet of a split,
    without reading any image (training reads them lazily)."""
    root = Path(root)
    out = []
    for city_dir in sorted(d for d in cityscapes_split_dir(root, split).iterdir() if d.is_dir()):
        gt_dir = root / "gtFine" / split / city_dir.name
        for seq, frames in sorted(_scan_city(city_dir).items()):
            runs = _snippets(frames)
            for run in runs:
                name = f"{city_dir.name}_{seq}" + (f"_{run[0]:06d}" if len(runs) > 1 else "")
                labels = []
                for n in run:
                    gt = gt_dir / f"{city_dir.name}_{seq}_{n:06d}_gtFine_labelIds.png"
                    labels.append(gt if gt.is_file() else None)
                out.append((name, [frames[n] for n in run], labels))
    if not out:
        raise InputError(f"no '<city>_<seq>_<frame>_leftImg8bit.png' frames in '{root}', split {split!r}")
    return out


def read_cityscapes_sequence(
    root: str | Path,
    split: str,
    city: str,
    seq: str | int,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> Clip:
    """Read one Cityscapes snippet with its sparse fine labels (trainIds).

    Args:
        root: dataset root holding `leftImg8bit_sequence/` and `gtFine/`.
        split: "train", "val" or "test".
        city, seq: as returned by `list_cityscapes_sequences` (an int seq is formatted as 6 digits).
            A plain seq holding several snippets reads the first one and says so in the notes.
        limits: caps on frames and resolution.

    Returns:
        Clip: frames TxHxWx3 uint8; labels TxHxW uint8 trainIds (255 ignore) where a gtFine map
        exists (`labelled` marks those frames), or None when no frame of the snippet is labelled.
    """
    root = Path(root)
    seq = f"{seq:06d}" if isinstance(seq, int) else str(seq)
    base_seq, _, start = seq.partition("@")
    city_dir = cityscapes_split_dir(root, split) / city
    frames = _scan_city(city_dir).get(base_seq, {}) if city_dir.is_dir() else {}
    if not frames:
        raise InputError(f"no frames of sequence {city}_{base_seq} in '{city_dir}'")
    runs = _snippets(frames)
    notes: list[str] = []
    if start:
        run = next((r for r in runs if r[0] == int(start)), None)
        if run is None:
            raise InputError(f"sequence {city}_{base_seq} has no snippet starting at frame {start}")
    else:
        run = runs[0]
        if len(runs) > 1:
            notes.append(
                f"sequence {city}_{base_seq} holds {len(runs)} snippets; read the first "
                f"(frames {run[0]}..{run[-1]}); use seq '{base_seq}@<first frame>' for the others"
            )
    kept = run[: limits.max_frames]
    if len(kept) < len(run):
        notes.append(frame_cap_note(len(kept), len(run)))
    gt_dir = root / "gtFine" / split / city
    builder = ClipBuilder(limits, expected=len(kept))
    for n in kept:
        frame_file = frames[n]
        frame = read_image_rgb(frame_file, builder.conversions)
        label, label_name = _read_gt(gt_dir, f"{city}_{base_seq}_{n:06d}")
        builder.add(frame, frame_file.name, label, label_name)
    name = f"{city}_{seq.replace('@', '_')}"
    return builder.build(name, CITYSCAPES_CLASSES, CITYSCAPES_FPS, f"Cityscapes {split} {name}", notes)


def _read_gt(gt_dir: Path, stem: str) -> tuple[np.ndarray | None, str]:
    """trainId map of one frame from gtFine labelIds (or labelTrainIds), (None, "") if unlabelled."""
    label_ids = gt_dir / f"{stem}_gtFine_labelIds.png"
    if label_ids.is_file():
        return _LABELID_LUT[read_label_png(label_ids)], label_ids.name
    train_ids = gt_dir / f"{stem}_gtFine_labelTrainIds.png"
    if train_ids.is_file():  # produced by cityscapesScripts' createTrainIdLabelImgs
        raw = read_label_png(train_ids)
        return np.where(raw < len(CITYSCAPES_CLASSES), raw, IGNORE_INDEX).astype(np.uint8), train_ids.name
    return None, ""
