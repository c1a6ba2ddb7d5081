"""Write synthetic-benchmark splits to disk in the VSPW layout, resumably.

    <out>/label_num_dic_final.json      {class name: raw id}, raw id = class id + 1 (VSPW's file)
    <out>/<split>.txt                   clip names of the split, one per line
    <out>/data/<clip>/origin/00000.jpg  frames (JPEG quality 95, 4:4:4, VSPW ships JPEGs)
    <out>/data/<clip>/mask/00000.png    palette PNGs of raw ids (0 = ignore, as in VSPW)
    <out>/data/<clip>/flow/00001.png    exact flow from frame t to frame t-1, KITTI 16-bit format
    <out>/data/<clip>/scene.json        seed and renderer version: the exact flow between ANY two
                                        frames is recomputed from it by the reader

A clip is rendered into `data/.partial-<clip>/` and renamed when complete, so an interrupted run
leaves no half clip behind and a rerun skips every finished clip.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mpvss_core.data.synthetic import SPLITS, Split, SyntheticRender, scene_record
from mpvss_core.io import write_label_png
from mpvss_core.labels import SYNTH_CLASSES, SYNTH_PALETTE

JPEG_QUALITY = 95


def clip_name(seed: int) -> str:
    return f"synth_{seed:06d}"


def write_kitti_flow(path: Path, flow: np.ndarray, valid: np.ndarray) -> None:
    """KITTI flow PNG: 16-bit RGB, R/G = flow * 64 + 2^15, B = valid (0/1). Loses < 1/128 px."""
    enc = np.clip(np.rint(flow.astype(np.float64) * 64.0 + 2**15), 0, 2**16 - 1).astype(np.uint16)
    img = np.dstack([enc[..., 0], enc[..., 1], valid.astype(np.uint16)])
    # OpenCV writes 16-bit PNGs; it expects BGR order.
    if not cv2.imwrite(str(path), img[..., ::-1]):
        raise OSError(f"could not write {path}")


def read_kitti_flow(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `write_kitti_flow`: HxWx2 float32 flow and HxW bool validity."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype != np.uint16 or img.ndim != 3:
        raise ValueError(f"{path} is not a KITTI 16-bit flow PNG")
    img = img[..., ::-1].astype(np.float32)
    return (img[..., :2] - 2**15) / 64.0, img[..., 2] > 0


def _write_meta(out: Path, split: Split, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    dic = {name: i + 1 for i, name in enumerate(SYNTH_CLASSES)}
    (out / "label_num_dic_final.json").write_text(json.dumps(dic, indent=1))
    (out / f"{split.name}.txt").write_text("\n".join(names) + "\n")


def _is_complete(clip_dir: Path, record: dict) -> bool:
    scene = clip_dir / "scene.json"
    if not scene.is_file():
        return False
    try:
        return json.loads(scene.read_text()) == record
    except (OSError, json.JSONDecodeError):
        return False


def write_clip(seed: int, data_dir: Path, num_frames: int, size: tuple[int, int]) -> Path:
    """Render clip `seed` and write it under `data_dir`; returns the clip folder."""
    name = clip_name(seed)
    final = data_dir / name
    record = scene_record(seed, num_frames, size) | {"fps": 15.0, "class_names": list(SYNTH_CLASSES)}
    if _is_complete(final, record):
        return final
    partial = data_dir / f".partial-{name}"
    shutil.rmtree(partial, ignore_errors=True)
    for sub in ("origin", "mask", "flow"):
        (partial / sub).mkdir(parents=True)
    r = SyntheticRender(seed, num_frames, size)
    for t, buf in enumerate(r.buffers):
        Image.fromarray(buf.rgb).save(
            partial / "origin" / f"{t:05d}.jpg", quality=JPEG_QUALITY, subsampling=0
        )
        raw = buf.label.astype(np.uint8) + 1  # VSPW raw ids: class + 1, 0 = ignore
        write_label_png(partial / "mask" / f"{t:05d}.png", raw, np.vstack([[0, 0, 0], SYNTH_PALETTE]))
        if t > 0:
            write_kitti_flow(partial / "flow" / f"{t:05d}.png", *r.flow(t, t - 1))
    (partial / "scene.json").write_text(json.dumps(record, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    return final


def write_split(
    split: str | Split,
    out: str | Path,
    num_clips: int | None = None,
    num_frames: int | None = None,
    size: tuple[int, int] | None = None,
    progress: bool = True,
    workers: int = 1,
) -> list[Path]:
    """Write (or complete) a split of the benchmark; returns the clip folders in order.

    `num_clips`, `num_frames` and `size` override the split's fixed values (for small tests and
    previews); the seeds stay the split's, so the first clips are the same as in the full split.
    `workers` > 1 renders clips in that many processes: a clip is a pure function of its seed and is
    written atomically, so the files are the same as with one process.
    """
    sp = SPLITS[split] if isinstance(split, str) else split
    n = sp.num_clips if num_clips is None else min(int(num_clips), sp.num_clips)
    seeds = sp.seeds[:n]
    out = Path(out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    _write_meta(out, sp, [clip_name(s) for s in seeds])
    job = partial(write_clip, data_dir=data, num_frames=num_frames or sp.num_frames, size=size or sp.size)
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if workers > 1 else None
    it: Iterable[Path] = pool.map(job, seeds) if pool is not None else map(job, seeds)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(seeds), desc=f"synthetic {sp.name}", unit="clip")
    try:
        return list(it)
    finally:
        if pool is not None:
            pool.shutdown()
