"""Video writing: browser-playable H.264 (libx264, yuv420p) MP4/MOV/MKV.

`write_video` encodes RGB frames to a file through a temporary name (a failure never leaves a
half-written video behind) and moves the MP4/MOV index to the front (+faststart) so browsers can start
playing before the download ends; `encode_video_bytes` returns the same encoding as bytes. Odd frame
sizes are padded by one replicated row/column because yuv420p needs even dimensions.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mpvss_core.io._common import PathLike
from mpvss_core.io.outputs import atomic_path

# H.264 in these containers plays in browsers; mp4/mov also get the index moved to the front.
_VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


_FASTSTART_FORMATS = {"mp4", "mov"}


def write_video(
    path: PathLike,
    frames: Iterable[np.ndarray],
    fps: float = 15.0,
    crf: int = 20,
    *,
    preset: str = "veryfast",
) -> Path:
    """Encode frames as browser-playable H.264 (libx264, yuv420p, +faststart) and return the path.

    Args:
        path: output file, `.mp4` (default choice), `.m4v`, `.mov` or `.mkv`.
        frames: iterable of HxWx3 uint8 RGB, all of one size. Odd H or W is padded by one replicated
            row/column because yuv420p needs even dimensions.
        fps: frames per second (> 0).
        crf: x264 constant rate factor (0 lossless .. 51 worst; 18-23 looks transparent).
        preset: x264 speed preset.

    The file is written under a temporary name and renamed at the end (`io.outputs.atomic_path`), so a
    failure never leaves a half-written video at `path`, nor the temporary file; the video gets the
    umask's mode.
    """
    path = Path(path)
    fmt = _VIDEO_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported video extension {path.suffix!r}; use one of {sorted(_VIDEO_FORMATS)}")
    with atomic_path(path, suffix=f".partial{path.suffix}") as tmp:
        _encode_h264(tmp, fmt, frames, fps, crf, preset)
    return path


def encode_video_bytes(frames: Iterable[np.ndarray], fps: float = 15.0, crf: int = 20) -> bytes:
    """Same as `write_video` to an `.mp4`, returned as bytes (e.g. for a download button).

    Goes through a temporary file: the faststart pass re-reads the file, which an in-memory
    PyAV output cannot do.
    """
    with tempfile.TemporaryDirectory(prefix="mpvss-encode-") as tmp:
        out = write_video(Path(tmp) / "video.mp4", frames, fps=fps, crf=crf)
        return out.read_bytes()


def _encode_h264(
    target: Path, fmt: str, frames: Iterable[np.ndarray], fps: float, crf: int, preset: str
) -> None:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "+faststart"} if fmt in _FASTSTART_FORMATS else {}
    container = av.open(str(target), mode="w", format=fmt, options=options)
    try:
        stream = None
        size: tuple[int, int] | None = None
        for i, frame in enumerate(frames):
            rgb = _even_rgb_frame(frame, i)
            if stream is None:
                size = rgb.shape[:2]
                stream = container.add_stream(
                    "h264",
                    rate=rate,
                    # A key frame every ~2 s keeps seeking in the browser player responsive.
                    options={"crf": str(int(crf)), "preset": preset, "g": str(max(1, round(2 * fps)))},
                )
                stream.height, stream.width = size
                stream.pix_fmt = "yuv420p"
                stream.codec_context.time_base = 1 / rate
            elif rgb.shape[:2] != size:
                raise ValueError(f"frame {i} has size {rgb.shape[:2]} but frame 0 has {size}")
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate
            for packet in stream.encode(vf):
                container.mux(packet)
        if stream is None:
            raise ValueError("a video needs at least one frame, got none")
        for packet in stream.encode(None):  # flush the encoder's look-ahead buffer
            container.mux(packet)
    finally:
        container.close()


def _even_rgb_frame(frame: np.ndarray, index: int) -> np.ndarray:
    """HxWx3 uint8 -> contiguous H'xW'x3 uint8 with H', W' even (edge rows/columns replicated)."""
    a = np.asarray(frame)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"frame {index} must be HxWx3 uint8 RGB, got shape {a.shape} dtype {a.dtype}")
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(a)
