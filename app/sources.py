"""Where the app's clips come from, and the run profile: the env overrides for tests, the default
model string, clip sources (built-in synthetic clips, uploads, a dataset folder). Models are resolved by
`mpvss_core.spec.resolve_model` (the sidebar calls it once per run). No Streamlit here: every function
is testable on its own; `app.state` adds the caching.

Env overrides (tests and small machines):
    MPVSS_APP_TEST=1        tiny random model, 8 frames at 64x128, one torch thread, short K lists
    MPVSS_APP_MODEL         default model spec ("default", "tiny", a folder)
    MPVSS_APP_FRAMES        frames of the built-in clip;  MPVSS_APP_SIZE  its size, e.g. 128x256
    MPVSS_APP_DATA          the app's data folder (uploads are written only under it)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.data.readers import VIDEO_EXTS, ReaderLimits, file_kind, load_clip
from mpvss_core.data.readers.common import MiB
from mpvss_core.data.synthetic import SPLITS, render_clip
from mpvss_core.errors import InputError
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.spec import ASSETS, DEFAULT_MODEL, ModelSpec

# Caps on user clips: every frame costs a segmenter or flow pass on a CPU, so the defaults are far below
# the readers'. A user (e.g. on a GPU) can raise frames and side in the sidebar up to the server's
# maximums (MPVSS_APP_MAX_FRAMES / MPVSS_APP_MAX_SIDE); the upload size stays at
# `.streamlit/config.toml`'s server.maxUploadSize (100 MiB), which the browser cannot change.
UPLOAD_LIMITS = ReaderLimits(
    max_frames=60, max_side=640, max_file_bytes=100 * MiB, max_zip_files=2000, max_extracted_bytes=1024 * MiB
)


def server_caps() -> tuple[int, int]:
    """(most frames, longest side) a user may raise the upload caps to on this server."""
    return int(os.environ.get("MPVSS_APP_MAX_FRAMES") or 600), int(
        os.environ.get("MPVSS_APP_MAX_SIDE") or 2048
    )


def upload_limits(max_frames: int | None = None, max_side: int | None = None) -> ReaderLimits:
    """The upload caps with the user's frames / side, clamped to the server's maximums (ValueError
    below 2 frames or 16 px)."""
    top_frames, top_side = server_caps()
    frames = UPLOAD_LIMITS.max_frames if max_frames is None else int(max_frames)
    side = UPLOAD_LIMITS.max_side if max_side is None else int(max_side)
    if frames < 2 or side < 16:
        raise ValueError(f"upload caps need >= 2 frames and >= 16 px, got {frames} frames, {side} px")
    return dataclasses.replace(
        UPLOAD_LIMITS, max_frames=min(frames, top_frames), max_side=min(side, top_side)
    )


UPLOAD_EXTS = frozenset({*VIDEO_EXTS, ".zip"})  # the upload widget's file types (what `file_kind` accepts)
DEMO_METHODS = ("per_frame", "copy", "optical_flow", "query_flow")


@dataclass(frozen=True)
class Profile:
    """Defaults of this run of the app (see the module docstring)."""

    test: bool
    model: str
    frames: int
    size: tuple[int, int]
    intervals: tuple[int, ...]
    data_dir: Path


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not m:
        raise ValueError(f"MPVSS_APP_SIZE must look like 128x256, got {text!r}")
    return int(m[1]), int(m[2])


@cache
def profile() -> Profile:
    """The run profile from the environment (read once per process)."""
    test = os.environ.get("MPVSS_APP_TEST", "") not in ("", "0")
    shipped = (ASSETS / DEFAULT_MODEL / "bundle.json").is_file()
    model = os.environ.get("MPVSS_APP_MODEL") or ("tiny" if test or not shipped else DEFAULT_MODEL)
    frames = int(os.environ.get("MPVSS_APP_FRAMES") or (8 if test else 20))
    size = _size(os.environ.get("MPVSS_APP_SIZE") or ("64x128" if test else "256x512"))
    data_dir = Path(os.environ.get("MPVSS_APP_DATA") or Path(tempfile.gettempdir()) / "mpvss_app")
    intervals = (2, 4) if test else (2, 3, 5, 8, 10)
    if test:
        import torch

        torch.set_num_threads(1)  # tests share a busy 2-core machine
    return Profile(test, model, frames, size, intervals, data_dir)


# --- clips -------------------------------------------------------------------------------------------
def demo_seeds() -> list[int]:
    """Seeds of the built-in clips offered: the benchmark's validation split."""
    return list(SPLITS["val"].seeds)


def synthetic_clip(seed: int, frames: int, size: tuple[int, int]) -> Clip:
    """A built-in clip of the synthetic benchmark (exact labels and exact flow)."""
    return render_clip(int(seed), int(frames), tuple(size))


def is_builtin(clip: Clip) -> bool:
    """A clip of the synthetic benchmark rendered by `synthetic_clip` (the shipped model's own domain)."""
    return clip.source.startswith("synthetic seed ")


def clip_digest(clip: Clip) -> str:
    """Content hash of a clip's frames and labels (cache keys of every prediction)."""
    h = hashlib.sha256(f"{clip.frames.shape}:{clip.class_names}".encode())
    h.update(np.ascontiguousarray(clip.frames).data)
    if clip.labels is not None:
        h.update(np.ascontiguousarray(clip.labels).data)
    return h.hexdigest()[:20]


def _safe_name(name: str) -> str:
    """A file name without folders or odd characters (uploads never choose where they are written)."""
    base = Path(name.replace("\\", "/")).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).stem).strip("._")[:60] or "upload"
    return stem + Path(base).suffix.lower()


def save_upload(name: str, data: bytes, root: Path, limits: ReaderLimits = UPLOAD_LIMITS) -> Path:
    """Check an uploaded file and write it under `root/<content hash>/` (nothing is written elsewhere).

    Raises:
        InputError: unsupported extension, empty or too large.
    """
    if file_kind(name) is None:  # the readers' rule (`data.readers.detect`), checked before writing
        raise InputError(
            f"'{name}': upload a video ({', '.join(sorted(VIDEO_EXTS))}) or a .zip of frames (with optional "
            "label PNGs in labels/ or masks/)"
        )
    if not data:
        raise InputError(f"'{name}' is empty")
    if len(data) > limits.max_file_bytes:
        raise InputError(
            f"'{name}' is {len(data) / MiB:.0f} MiB; at most {limits.max_file_bytes / MiB:.0f} MiB"
        )
    folder = Path(root) / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _safe_name(name)
    if not path.is_file() or path.stat().st_size != len(data):
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def load_upload(name: str, data: bytes, root: Path, limits: ReaderLimits = UPLOAD_LIMITS) -> Clip:
    """An uploaded video or zip of frames as a capped Clip (raises InputError subclasses)."""
    path = save_upload(name, data, root, limits)
    clip = load_clip(path, limits=limits)
    if clip.num_frames < 2:
        raise InputError(f"'{name}' has {clip.num_frames} frame: at least 2 are needed to propagate")
    return clip


def dataset_clips(path: str) -> list[str]:
    """Clip names of a folder source, as `mpvss eval --data` reads it (VSPW or Cityscapes root, a folder
    of videos / frame folders, one clip folder, a video, a zip)."""
    return resolve_data(path).names


def clip_stamp(path: str, clip_name: str) -> str:
    """Identity of one clip of a folder source (its files' names, sizes and times), as the data set
    resolution states it: a re-written clip is read again."""
    entry = next((e for e in resolve_data(path).entries if e.name == clip_name), None)
    if entry is None:
        raise InputError(f"no clip {clip_name!r} under '{path}'")
    return entry.identity


def load_dataset_clip(path: str, clip_name: str, limits: ReaderLimits = UPLOAD_LIMITS) -> Clip:
    """One clip of a folder source (see `dataset_clips`), capped like an upload (labels never resized)."""
    entry = next((e for e in resolve_data(path, limits=limits).entries if e.name == clip_name), None)
    if entry is None:
        raise InputError(f"no clip {clip_name!r} under '{path}'")
    clip = entry.load()
    if clip.num_frames < 2:
        raise InputError(f"'{clip_name}' has {clip.num_frames} frame: at least 2 are needed to propagate")
    return clip


# --- what the user should know about the model and the clip (the page header shows it) ----------------
_DATA_ARG = re.compile(r"--data[ =](\S+)")
SYNTHETIC_DOMAIN = "the synthetic street benchmark only (`mpvss data synth`)"


def _record_data(record: object) -> list[str]:
    """Every `--data` of a training record and of the runs it continued from (bundle records chain them
    under "continued_from")."""
    out: list[str] = []
    while isinstance(record, dict):
        out += _DATA_ARG.findall(str(record.get("command", "")))
        record = record.get("continued_from")
    return out


def training_domain(spec: ModelSpec) -> str | None:
    """What the model's segmenter was trained on, from its own metadata (None: random weights).

    The training records name the data of every run (`--data` of the recorded command, for a bundle
    also of the runs it continued from); a folder of `mpvss data synth` output is the synthetic street
    benchmark. Without a record the answer says so rather than guessing.
    """
    if spec.random_init:
        return None
    seg = spec.entry(spec.methods[0]).trained.get("segmenter", "") if spec.methods else ""
    data = _record_data(spec.records.get("segmenter")) or _DATA_ARG.findall(seg)
    if data and all("synth" in Path(d).name.lower() or d.startswith("synthetic") for d in data):
        return SYNTHETIC_DOMAIN
    if data:
        return "the data of its training record: " + ", ".join(f"`{d}`" for d in dict.fromkeys(data))
    if spec.kind == "hf":
        return "what its Hugging Face model card says (the folder records no training data)"
    return "data its metadata does not name (no `--data` in its training record)"


def _flat(frame: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of a frame's brightness, on every 4th pixel (cheap on every rerun)."""
    grey = np.asarray(frame[::4, ::4], np.float32).mean(axis=-1)
    return float(grey.mean()), float(grey.std())


BLACK_MEAN, FLAT_STD = 16.0, 4.0  # 0-255 brightness: below this mean and spread a frame is black / flat


def clip_warnings(clip: Clip) -> list[str]:
    """What a reader changed (caps, downscaling, conversions: the clip's notes, sizes as WxH) and what
    is wrong with the clip's content: a black or near-constant first frame (key frame 0: every method
    segments it, and the propagating ones carry its masks to the next key frame), other such frames."""
    out = list(clip.notes)
    mean, std = _flat(clip.frames[0])
    if std < FLAT_STD:
        what = "black" if mean < BLACK_MEAN else f"nearly one colour (mean brightness {mean:.0f}/255)"
        out.insert(
            0,
            f"the first frame is {what}: it is key frame 0, so the propagating methods carry a "
            "segmentation of nothing until the next key frame (trim the clip's start, e.g. a fade-in)",
        )
    flat = [i for i in range(1, clip.num_frames) if _flat(clip.frames[i])[1] < FLAT_STD]
    if flat:
        shown = ", ".join(str(i) for i in flat[:8]) + (" ..." if len(flat) > 8 else "")
        out.append(f"{len(flat)} more frame(s) black or one colour: {shown}")
    return out
