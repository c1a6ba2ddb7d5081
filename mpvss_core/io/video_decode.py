"""Robust video reading: probing and frame-by-frame decoding of untrusted videos.

`probe_video` reports frame count, frame rate, size, codec and pixel format without decoding;
`iter_video_frames` / `VideoFrameStream` decode any FFmpeg-readable video from a path, bytes or a
binary file object one RGB frame at a time (bounded memory), skipping damaged packets and recording
what was lost in `notes`. Unreadable input raises `VideoDecodeError` with a message naming the file;
PyAV exceptions never escape.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from mpvss_core.errors import VideoDecodeError
from mpvss_core.io._common import VideoSource, _short_reason


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
