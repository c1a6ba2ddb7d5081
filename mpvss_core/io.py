"""File I/O for untrusted input and browser output (DESIGN sections 4, 8, 9). No torch here.

- Video: `write_video` / `encode_video_bytes` write H.264 yuv420p MP4 with the index at the front
  (browsers can start playing before the download ends); `probe_video` / `iter_video_frames` decode
  any FFmpeg-readable video from a path, bytes or a binary file object, one frame at a time.
- Label maps: `write_label_png` / `read_label_png` store class ids as palette indices, so the PNG is
  both the exact label map and a coloured picture.
- Images: `read_image_rgb` turns any common image (grey, alpha, 16-bit, palette) into HxWx3 uint8.
- Archives: `safe_extract_zip` validates every entry before writing anything.

Every failure caused by the input itself raises a subclass of `InputError` with a message naming
the file; exceptions of PyAV, Pillow, zipfile and the OS never escape from the readers.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from mpvss_core.data.classes import IGNORE_INDEX, generic_class_names, palette_for
from mpvss_core.errors import ArchiveError, InputError, LabelError, VideoDecodeError

PathLike = str | os.PathLike
VideoSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO
ImageSource = str | os.PathLike | bytes | bytearray | memoryview

GiB = 1024**3

# H.264 in these containers plays in browsers; mp4/mov also get the index moved to the front.
_VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_FASTSTART_FORMATS = {"mp4", "mov"}


# --------------------------------------------------------------------------------------------------
# Video writing


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

    The file is written under a temporary name and renamed at the end, so a failure never leaves a
    half-written video at `path`.
    """
    path = Path(path)
    fmt = _VIDEO_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported video extension {path.suffix!r}; use one of {sorted(_VIDEO_FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _encode_h264(tmp, fmt, frames, fps, crf, preset)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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


# --------------------------------------------------------------------------------------------------
# Video reading


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream.

    num_frames: frames declared by the container, or counted from packets when it declares none
        (a truncated file may decode fewer). fps: average frame rate, 0.0 when unknown.
    """

    num_frames: int
    fps: float
    width: int
    height: int
    codec: str
    pix_fmt: str


def _describe(src: VideoSource) -> str:
    if isinstance(src, (str, os.PathLike)):
        return f"'{Path(src).name}'"
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "the uploaded video"
    name = getattr(src, "name", None)
    return f"'{Path(name).name}'" if isinstance(name, str) and name else "the uploaded video"


def _source_size(src: VideoSource, label: str) -> int:
    """Bytes available from `src` (file objects: from their current position)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return len(src)
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if not p.exists():
            raise VideoDecodeError(f"{label} does not exist")
        if not p.is_file():
            raise VideoDecodeError(f"{label} is not a file")
        return p.stat().st_size
    try:
        pos = src.tell()
        end = src.seek(0, io.SEEK_END)
        src.seek(pos)
        return end - pos
    except (AttributeError, OSError, ValueError):
        return -1  # unseekable stream: size unknown, let FFmpeg find out


def _open_video(src: VideoSource) -> tuple[av.container.InputContainer, av.video.stream.VideoStream, str]:
    """Open `src` and return (container, first video stream, label); VideoDecodeError otherwise."""
    label = _describe(src)
    size = _source_size(src, label)
    if size == 0:
        raise VideoDecodeError(f"{label} is empty (0 bytes)")
    if isinstance(src, (bytes, bytearray, memoryview)):
        target: object = io.BytesIO(src)  # BytesIO shares a bytes buffer until written to
    elif isinstance(src, (str, os.PathLike)):
        target = os.fspath(src)
    else:
        target = src
    try:
        container = av.open(target, mode="r", metadata_errors="ignore")
    except Exception as exc:  # PyAV raises many FFmpegError/OSError subclasses; all mean "unreadable"
        raise VideoDecodeError(
            f"{label} is not a video FFmpeg can read ({_short_reason(exc)}); "
            "it may be a different kind of file, or truncated before the video index"
        ) from exc
    if not container.streams.video:
        others = sorted({s.type for s in container.streams})
        container.close()
        why = "audio only" if "audio" in others else "truncated or damaged file?"
        raise VideoDecodeError(f"{label} has no video stream ({why})")
    return container, container.streams.video[0], label


def _short_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


def _stream_info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, count: bool = True
) -> VideoInfo:
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    num = int(stream.frames or 0)
    if num <= 0 and count:  # Matroska/WebM store no frame count: count packets (no decoding, no rewind)
        num = sum(1 for p in container.demux(stream) if p.size)
    return VideoInfo(
        num_frames=num,
        fps=float(rate) if rate else 0.0,
        width=int(ctx.width),
        height=int(ctx.height),
        codec=str(ctx.name),
        pix_fmt=str(ctx.pix_fmt or ""),
    )


def probe_video(src: VideoSource) -> VideoInfo:
    """Frame count, frame rate, size, codec and pixel format of a video, without decoding it.

    Raises:
        VideoDecodeError: empty, not a video, no video stream, or no readable index.
    """
    container, stream, label = _open_video(src)
    try:
        return _stream_info(container, stream)
    except VideoDecodeError:
        raise
    except Exception as exc:
        raise VideoDecodeError(f"{label} could not be probed ({_short_reason(exc)})") from exc
    finally:
        container.close()


class VideoFrameStream(Iterator[np.ndarray]):
    """Iterator over the RGB frames of a video, decoded one at a time (bounded memory).

    The container is opened on construction, so an unreadable input raises `VideoDecodeError`
    immediately. Damage later in the stream is tolerated: packets that fail to decode are skipped
    and the stream ends where the data ends; `notes` then says what was lost (read it after the
    iteration). If not a single frame decodes, the iteration raises `VideoDecodeError`.

    Attributes:
        info: `VideoInfo` of the stream (num_frames 0 when the container does not declare it).
        notes: messages for the user about damage found while decoding.
        num_decoded: frames yielded so far.
    """

    def __init__(self, src: VideoSource, max_frames: int | None = None) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self._container, self._stream, self.label = _open_video(src)
        try:
            # No packet counting here: that would read the whole file once more before decoding.
            self.info = _stream_info(self._container, self._stream, count=False)
        except Exception as exc:
            self._container.close()
            raise VideoDecodeError(f"{self.label} could not be read ({_short_reason(exc)})") from exc
        self.max_frames = max_frames
        self.notes: list[str] = []
        self.num_decoded = 0
        self._frames = self._generate()

    def __next__(self) -> np.ndarray:
        return next(self._frames)

    def close(self) -> None:
        self._frames.close()
        self._container.close()

    def __enter__(self) -> VideoFrameStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Iterator[np.ndarray]:
        bad_packets = 0
        stopped_early: str | None = None
        packets = self._container.demux(self._stream)
        try:
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except Exception as exc:  # the demuxer hit damaged or missing container data
                    stopped_early = _short_reason(exc)
                    break
                try:
                    decoded = packet.decode()
                except Exception:  # one damaged packet: H.264 recovers at the next slice/key frame
                    bad_packets += 1
                    continue
                for frame in decoded:
                    yield frame.to_ndarray(format="rgb24")
                    self.num_decoded += 1
                    if self.max_frames is not None and self.num_decoded >= self.max_frames:
                        return
            if stopped_early:  # the demuxer's own flush packet never came: drain reordered frames
                yield from self._drain()
        finally:
            self._container.close()
        self._report(bad_packets, stopped_early)

    def _drain(self) -> Iterator[np.ndarray]:
        try:
            decoded = self._stream.codec_context.decode(None)
        except Exception:
            return
        for frame in decoded:
            if self.max_frames is not None and self.num_decoded >= self.max_frames:
                return
            yield frame.to_ndarray(format="rgb24")
            self.num_decoded += 1

    def _report(self, bad_packets: int, stopped_early: str | None) -> None:
        n, declared = self.num_decoded, self.info.num_frames
        if n == 0:
            what = f"none of its {declared} frames could be decoded" if declared else "it contains no frames"
            raise VideoDecodeError(f"{self.label} is unusable: {what} (corrupt or truncated file?)")
        if bad_packets:
            self.notes.append(f"{self.label}: skipped {bad_packets} damaged packet(s) while decoding")
        if stopped_early:
            self.notes.append(f"{self.label}: the stream ends early ({stopped_early})")
        if declared > n:
            self.notes.append(
                f"{self.label}: the file declares {declared} frames but only {n} could be decoded "
                "(truncated or corrupt file); using those"
            )


def iter_video_frames(src: VideoSource, max_frames: int | None = None) -> VideoFrameStream:
    """Stream the frames of a video as HxWx3 uint8 RGB arrays (see `VideoFrameStream`).

    Args:
        src: path, bytes, or binary file object (read from its current position).
        max_frames: stop after this many frames (None: all).

    Raises:
        VideoDecodeError: on opening (empty, not a video, no video stream) or, during iteration,
            when no frame at all can be decoded.
    """
    return VideoFrameStream(src, max_frames=max_frames)


# --------------------------------------------------------------------------------------------------
# Label PNGs and images


def _full_palette(palette: np.ndarray | None) -> bytes:
    """Kx3 uint8 (K <= 255) -> 768 palette bytes; unset entries and index 255 (ignore) are black."""
    if palette is None:
        palette = palette_for(generic_class_names(IGNORE_INDEX))
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) > 256:
        raise ValueError(f"palette must be Kx3 with K <= 256, got shape {pal.shape}")
    full = np.zeros((256, 3), np.uint8)
    full[: len(pal)] = pal.astype(np.uint8)
    if len(pal) <= IGNORE_INDEX:
        full[IGNORE_INDEX] = 0
    return full.tobytes()


def write_label_png(path: PathLike, labels: np.ndarray, palette: np.ndarray | None = None) -> Path:
    """Write an HxW label map as a palette ("P") PNG whose pixel indices are the label values.

    Args:
        labels: HxW integer array with values in 0..255 (255 = ignore).
        palette: Kx3 uint8 colours of classes 0..K-1 (None: a generic colour walk); padded to 256
            entries, index 255 black.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an HxW integer array, got shape {lab.shape} dtype {lab.dtype}")
    if lab.size and (lab.min() < 0 or lab.max() > 255):
        raise ValueError(f"label values must be in 0..255, got {lab.min()}..{lab.max()}")
    lab = np.ascontiguousarray(lab, dtype=np.uint8)
    img = Image.frombuffer("P", (lab.shape[1], lab.shape[0]), lab.tobytes(), "raw", "P", 0, 1)
    img.putpalette(_full_palette(palette))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", optimize=False)
    return path


def _open_image(src: ImageSource, err: type[InputError]) -> tuple[Image.Image, str, bool]:
    """Open and decode an image; returns (image, label for messages, stored with 16-bit samples)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        label, fp = "the uploaded image", io.BytesIO(bytes(src))
    else:
        label, fp = f"'{Path(src).name}'", os.fspath(src)
    try:
        img = Image.open(fp)
        # Pillow decodes 16-bit colour PNGs straight to 8 bit; only the raw mode, gone after load(), tells.
        is_16bit = any(";16" in str(getattr(t, "args", "")) for t in (img.tile or []))
        img.load()
    except FileNotFoundError as exc:
        raise err(f"{label} does not exist") from exc
    except UnidentifiedImageError as exc:
        raise err(f"{label} is not an image Pillow can read") from exc
    except Exception as exc:  # truncated data, decompression bombs, OS errors
        raise err(f"{label} could not be read as an image ({_short_reason(exc)})") from exc
    return img, label, is_16bit


def read_label_png(src: ImageSource, palette: np.ndarray | None = None) -> np.ndarray:
    """Read a label map image and return its raw values as HxW uint8.

    - "P" (palette) images: the palette indices (the label values; colours are ignored).
    - "L", "1", "I;16*", "I" grey images: the grey values. 16/32-bit maps are accepted only when
      every value is <= 255 (tools often save small ids as 16-bit); larger values cannot be class ids
      of a uint8 label space, so they raise.
    - RGB(A) colour images: mapped back to indices through `palette` (Kx3); black maps to 255
      (ignore) unless the palette has black. Without a palette, or with colours not in it, raise.

    Raises:
        LabelError: unreadable file, values > 255, colour image without palette, unknown colours.
    """
    img, label, _ = _open_image(src, LabelError)
    mode = img.mode
    if mode in ("PA", "LA"):  # the alpha band of a label map carries no class information
        img, mode = img.getchannel(0), mode[0]
    if mode in ("P", "L", "1"):
        return np.asarray(img).astype(np.uint8)  # mode "1" gives bools -> 0/1
    if mode.startswith("I"):
        vals = np.asarray(img).astype(np.int64)
        bad = np.unique(vals[(vals < 0) | (vals > 255)])
        if bad.size:
            raise LabelError(
                f"label map {label} is a {mode} image with values outside 0..255 ({_list(bad)}); "
                "label maps must hold class ids 0..254 and 255 for ignore"
            )
        return vals.astype(np.uint8)
    if mode in ("RGB", "RGBA"):
        if palette is None:
            raise LabelError(
                f"label map {label} is an RGB colour image; save class ids as a palette or greyscale "
                "PNG (or pass the palette to map colours back to ids)"
            )
        rgb = np.asarray(img.convert("RGB"))
        return _colours_to_ids(rgb, np.asarray(palette, np.uint8), label)
    raise LabelError(f"label map {label} has unsupported image mode {mode!r}")


def _colours_to_ids(rgb: np.ndarray, palette: np.ndarray, label: str) -> np.ndarray:
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(keys.ravel(), return_inverse=True)
    lut: dict[int, int] = {}
    for i, c in enumerate(palette[:IGNORE_INDEX]):
        lut.setdefault((int(c[0]) << 16) | (int(c[1]) << 8) | int(c[2]), i)
    lut.setdefault(0, IGNORE_INDEX)  # black = unlabelled, the convention of write_label_png
    unknown = [int(k) for k in uniq if int(k) not in lut]
    if unknown:
        cols = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise LabelError(f"label map {label} has colours that are not in the class palette: {cols}{more}")
    ids = np.array([lut[int(k)] for k in uniq], np.uint8)
    return ids[inverse].reshape(rgb.shape[:2])


def _list(values: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def read_image_rgb(src: ImageSource, notes: list[str] | None = None) -> np.ndarray:
    """Read an image as HxWx3 uint8 RGB, whatever its mode.

    Grey is replicated to 3 channels, alpha is dropped (not composited: the colour values are what
    a segmenter should see), 16-bit data is scaled to 8 bit, palette images are expanded. Each such
    conversion appends a short note to `notes` (when given).

    Raises:
        InputError: the file is missing, not an image, truncated or has an unsupported mode.
    """
    img, label, is_16bit = _open_image(src, InputError)
    notes = notes if notes is not None else []
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        notes.append("greyscale replicated to RGB")
        grey = _grey_to_uint8(np.asarray(img), mode, notes)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        notes.append("alpha channel dropped")
    if mode in ("L", "LA", "1"):
        notes.append("greyscale replicated to RGB")
    if is_16bit and mode in ("RGB", "RGBA"):
        notes.append("16-bit samples scaled to 8 bit")
    try:
        rgb = img.convert("RGB")
    except Exception as exc:
        raise InputError(f"image {label} has unsupported mode {mode!r} ({_short_reason(exc)})") from exc
    return np.asarray(rgb, dtype=np.uint8).copy()


def _grey_to_uint8(arr: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """16/32-bit integer or float grey -> uint8: integers are taken as 16-bit, floats as 0..1."""
    a = arr.astype(np.float64)
    if mode == "F":
        scale, what = 255.0, "float samples (0..1) scaled to 8 bit"
    else:
        scale, what = 255.0 / 65535.0, "16-bit samples scaled to 8 bit"
    notes.append(what)
    return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Zip archives

_DRIVE = re.compile(r"^[A-Za-z]:")
_RATIO_MIN_BYTES = 1 << 20  # tiny entries compress extremely well legitimately and cannot bomb anything


def safe_extract_zip(
    src: PathLike | bytes | BinaryIO,
    dest_dir: PathLike,
    max_files: int = 5000,
    max_total_bytes: int = 2 * GiB,
    max_ratio: float = 200.0,
) -> list[Path]:
    """Extract a zip archive into `dest_dir` after validating every entry; return the files written.

    Rejected with `ArchiveError`, before anything is written: corrupt or encrypted archives, absolute
    paths, drive letters, `..` components, symlinks and other special entries, more than `max_files`
    entries, more than `max_total_bytes` uncompressed, and entries over 1 MiB whose uncompressed /
    compressed ratio exceeds `max_ratio` (zip bombs). macOS `__MACOSX/` resource entries are skipped.
    If extraction fails midway (e.g. a CRC error), the files already written are removed.
    """
    label = f"'{Path(src).name}'" if isinstance(src, (str, os.PathLike)) else "the uploaded zip"
    fp = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src
    try:
        zf = zipfile.ZipFile(fp if not isinstance(fp, (str, os.PathLike)) else os.fspath(fp))
    except FileNotFoundError as exc:
        raise ArchiveError(f"{label} does not exist") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"{label} is not a valid zip archive ({_short_reason(exc)})") from exc
    with zf:
        dest = Path(dest_dir)
        plan = _validate_zip(zf, dest.resolve(), label, max_files, max_total_bytes, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        return _write_zip_entries(zf, plan, label, max_total_bytes)


def _validate_zip(
    zf: zipfile.ZipFile, root: Path, label: str, max_files: int, max_total: int, max_ratio: float
) -> list[tuple[zipfile.ZipInfo, Path]]:
    infos = zf.infolist()
    if len(infos) > max_files:
        raise ArchiveError(f"{label} has {len(infos)} entries; at most {max_files} are allowed")
    total = sum(i.file_size for i in infos)
    if total > max_total:
        raise ArchiveError(
            f"{label} would extract to {total / 2**20:.0f} MiB; "
            f"at most {max_total / 2**20:.0f} MiB is allowed"
        )
    plan: list[tuple[zipfile.ZipInfo, Path]] = []
    seen: set[Path] = set()
    for info in infos:
        name = info.filename.replace("\\", "/")  # Windows tools may write backslash separators
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or _DRIVE.match(name):
            raise ArchiveError(f"{label} contains an entry with an absolute path: {info.filename!r}")
        if ".." in parts:
            raise ArchiveError(f"{label} contains an entry that escapes the folder ('..'): {info.filename!r}")
        if "\0" in name:
            raise ArchiveError(f"{label} contains an entry with a NUL byte in its name")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"{label} contains a symbolic link: {info.filename!r}")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"{label} contains a special file (device, pipe...): {info.filename!r}")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{label} contains an encrypted entry: {info.filename!r}")
        if info.file_size > _RATIO_MIN_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ArchiveError(
                f"{label} looks like a zip bomb: {info.filename!r} expands {ratio:.0f}x "
                f"(at most {max_ratio:.0f}x is allowed)"
            )
        if not parts or parts[0] == "__MACOSX":
            continue
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root):
            raise ArchiveError(f"{label} entry {info.filename!r} would be written outside the target folder")
        if target in seen and not info.is_dir():
            raise ArchiveError(f"{label} contains {info.filename!r} twice")
        seen.add(target)
        plan.append((info, target))
    packed = sum(i.compress_size for i in infos)  # many medium entries can bomb together
    if total > _RATIO_MIN_BYTES and total > max_ratio * max(packed, 1):
        raise ArchiveError(
            f"{label} looks like a zip bomb: it expands {total / max(packed, 1):.0f}x "
            f"(at most {max_ratio:.0f}x is allowed)"
        )
    return plan


def _write_zip_entries(
    zf: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, Path]], label: str, max_total: int
) -> list[Path]:
    written: list[Path] = []
    budget = max_total  # enforce the cap on bytes really produced, not only on declared sizes
    try:
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, open(target, "wb") as fout:
                written.append(target)
                while chunk := fin.read(1 << 20):
                    budget -= len(chunk)
                    if budget < 0:
                        raise ArchiveError(f"{label} extracts to more bytes than its entries declare")
                    fout.write(chunk)
    except ArchiveError:
        _remove(written)
        raise
    except Exception as exc:  # CRC errors, unsupported compression, truncated data, disk errors
        _remove(written)
        raise ArchiveError(f"{label} could not be extracted ({_short_reason(exc)})") from exc
    return written


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
