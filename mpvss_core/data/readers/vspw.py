"""VSPW layout reader (also the on-disk layout of the built-in synthetic benchmark).

Layout: `<root>/data/<clip>/origin/*.jpg|png` frames and `<clip>/mask/*.png` raw label maps (clips may
also sit directly under `<root>`), optional `<root>/label_num_dic_final.json` ({class name: raw id})
and split files `<root>/{train,val,test}.txt` (one clip name per line).

Raw label mapping, exactly as the VSPW evaluator: 0 ("others") -> 255 (ignore), 1..K -> 0..K-1,
255 -> 255. Any other raw id is an error, not silently ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers.common import (
    DEFAULT_LIMITS,
    ClipBuilder,
    ReaderLimits,
    frame_cap_note,
    list_images,
    natural_key,
)
from mpvss_core.errors import InputError, LabelError
from mpvss_core.io import read_image_rgb, read_label_png
from mpvss_core.labels import IGNORE_INDEX, SYNTH_CLASSES, generic_class_names

VSPW_NUM_CLASSES = 124
VSPW_FPS = 15.0
CLASS_FILE = "label_num_dic_final.json"


def _clips_base(root: Path) -> Path:
    return root / "data" if (root / "data").is_dir() else root


def vspw_split_file(root: Path, split: str) -> Path:
    """`<root>/<split>.txt`, the clip names of a split (InputError naming it when it does not exist)."""
    split_file = root / f"{split}.txt"
    if not split_file.is_file():
        raise InputError(
            f"split file '{split_file}' does not exist: expected the clip names of split '{split}', one per "
            f"line (or no split, to use every clip under '{root}')"
        )
    return split_file


def list_vspw_clips(root: str | Path, split: str | None = None) -> list[Path]:
    """Clip folders of a VSPW-layout dataset, in natural order.

    Args:
        root: dataset root (holding `data/` or the clip folders themselves), or one clip folder.
        split: "train", "val" or "test" to list the clips named in `<root>/<split>.txt`.

    Raises:
        InputError: no clips found, split file missing, or a listed clip missing.
    """
    root = Path(root)
    if (root / "origin").is_dir() and split is None:
        return [root]
    base = _clips_base(root)
    if split is not None:
        split_file = vspw_split_file(root, split)
        names = [ln.strip() for ln in split_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        clips = [base / n for n in names]
        missing = [c.name for c in clips if not (c / "origin").is_dir()]
        if missing:
            raise InputError(
                f"{len(missing)} clip(s) listed in '{split_file.name}' have no '<clip>/origin' folder "
                f"under '{base}', e.g. {missing[:3]}"
            )
        return clips
    clips = [d for d in base.iterdir() if (d / "origin").is_dir()] if base.is_dir() else []
    if not clips:
        raise InputError(
            f"no VSPW clips under '{root}': expected '<root>/data/<clip>/origin/*.jpg' "
            "(or '<root>/<clip>/origin/*.jpg')"
        )
    return sorted(clips, key=lambda d: natural_key(d.name))


def read_vspw_clip(
    clip_dir: str | Path,
    class_names: tuple[str, ...] | None = None,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> Clip:
    """Read one VSPW-layout clip.

    Args:
        clip_dir: folder holding `origin/` (frames) and optionally `mask/` (raw label PNGs by stem).
        class_names: names of classes 0..K-1; None: from `label_num_dic_final.json` next to the clip
            or its dataset root, else SYNTH_CLASSES for a synthetic-benchmark clip (`scene.json`),
            else 124 generic VSPW names.
        limits: caps on frames and resolution.

    Returns:
        Clip with frames TxHxWx3 uint8 and labels TxHxW uint8 (255 = ignore; frames without a mask
        file are unlabelled), or labels None when the clip has no masks.

    Raises:
        InputError: no `origin/` frames, frames of different sizes, a mask without a frame.
        LabelError: unreadable mask, wrong mask size, raw ids above K other than 255.
    """
    clip_dir = Path(clip_dir)
    frame_files = list_images(clip_dir / "origin")
    if not frame_files:
        raise InputError(f"VSPW clip '{clip_dir.name}' has no frames in '{clip_dir / 'origin'}'")
    masks = {p.stem: p for p in list_images(clip_dir / "mask")}
    orphans = sorted(set(masks) - {f.stem for f in frame_files}, key=natural_key)
    if orphans:
        raise InputError(f"mask '{masks[orphans[0]].name}' in clip '{clip_dir.name}' has no matching frame")
    scene = _read_scene(clip_dir)
    names = tuple(class_names) if class_names is not None else _class_names(clip_dir, scene)
    lut, k = _raw_to_class_lut(len(names))

    kept = frame_files[: limits.max_frames]
    builder = ClipBuilder(limits, expected=len(kept))
    for f in kept:
        frame = read_image_rgb(f, builder.conversions)
        mask = masks.get(f.stem)
        label = _read_raw_mask(mask, lut, k) if mask is not None else None
        builder.add(frame, f.name, label, mask.name if mask is not None else "")
    notes = [frame_cap_note(len(kept), len(frame_files))] if len(kept) < len(frame_files) else []
    fps = scene.get("fps")
    fps = float(fps) if isinstance(fps, (int, float)) and fps > 0 else VSPW_FPS
    what = "synthetic benchmark clip" if scene else "VSPW clip"
    clip = builder.build(clip_dir.name, names, fps, f"{what} {clip_dir}", notes)
    if scene:
        _attach_exact_flow(clip, clip_dir, resized=builder.out_size != builder.size)
    return clip


def _read_raw_mask(path: Path, lut: np.ndarray, k: int) -> np.ndarray:
    raw = read_label_png(path)
    bad = np.unique(raw[(raw > k) & (raw != IGNORE_INDEX)])
    if bad.size:
        ids = ", ".join(str(int(v)) for v in bad[:10])
        raise LabelError(
            f"mask '{path.name}' has raw ids {ids} but the label space has {k} classes "
            f"(valid raw ids: 0 = ignore, 1..{k}, 255 = ignore)"
        )
    return lut[raw]


def _raw_to_class_lut(k: int) -> tuple[np.ndarray, int]:
    if not 1 <= k <= 254:
        raise InputError(f"a VSPW label space needs 1..254 classes, got {k}")
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    lut[1 : k + 1] = np.arange(k, dtype=np.uint8)
    return lut, k


def _read_scene(clip_dir: Path) -> dict:
    """`scene.json` of a synthetic-benchmark clip ({} for real data)."""
    path = clip_dir / "scene.json"
    if not path.is_file():
        return {}
    try:
        scene = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"'{path}' is not valid JSON ({exc})") from exc
    # Non-empty either way: the file's presence is what marks a synthetic clip.
    return scene if isinstance(scene, dict) and scene else {"scene": scene}


def _class_names(clip_dir: Path, scene: dict) -> tuple[str, ...]:
    for folder in (clip_dir, clip_dir.parent, clip_dir.parent.parent):
        if (folder / CLASS_FILE).is_file():
            return read_vspw_class_names(folder / CLASS_FILE)
    if scene:
        names = scene.get("class_names")
        ok = isinstance(names, list) and names and all(isinstance(n, str) for n in names)
        return tuple(names) if ok else SYNTH_CLASSES
    return generic_class_names(VSPW_NUM_CLASSES)


def read_vspw_class_names(path: str | Path) -> tuple[str, ...]:
    """Class names from a `label_num_dic_final.json` ({name: raw id}), ordered by raw id.

    Raw id 0 ("others") and 255 are ignore labels and not classes; gaps get generic names.
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        ids = {int(v): str(name) for name, v in table.items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"'{path.name}' is not a {{class name: id}} JSON object ({exc})") from exc
    ids = {i: n for i, n in ids.items() if 1 <= i <= 254}
    if not ids:
        raise InputError(f"'{path.name}' defines no class with a raw id in 1..254")
    return tuple(ids.get(i, f"class {i - 1}") for i in range(1, max(ids) + 1))


def _attach_exact_flow(clip: Clip, clip_dir: Path, resized: bool) -> None:
    """Give a synthetic-benchmark clip its exact flow (Clip.flow) when the generator is available."""
    if resized:  # the stored flow is in pixels of the original size
        clip.notes.append("exact optical flow not attached: the frames were downscaled")
        return
    try:
        from mpvss_core.data.synthetic import load_scene_flow
    except (ImportError, AttributeError):
        return  # synthetic benchmark module not installed: the clip simply has no exact flow
    try:
        clip._flow_fn = load_scene_flow(clip_dir)
    except Exception as exc:  # a damaged cache must not make the frames unreadable
        clip.notes.append(f"exact optical flow unavailable: {exc}")
