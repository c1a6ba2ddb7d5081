"""File I/O for untrusted input and browser output (docs/architecture.md §7, §8, §9). No torch here.

- Video: `write_video` / `encode_video_bytes` write H.264 yuv420p MP4 with the index at the front
  (browsers can start playing before the download ends); `probe_video` / `iter_video_frames` decode
  any FFmpeg-readable video from a path, bytes or a binary file object, one frame at a time.
- Label maps: `write_label_png` / `read_label_png` store class ids as palette indices, so the PNG is
  both the exact label map and a coloured picture.
- Images: `read_image_rgb` turns any common image (grey, alpha, 16-bit, palette) into HxWx3 uint8.
- Archives: `safe_extract_zip` validates every entry before writing anything.
- Results: `check_file_dest` / `check_dir_dest` refuse a destination before any work (an input, inside
  the source, a folder for a file, too long, not writable); `atomic_file` / `atomic_path` write through
  a temporary file in the same folder, with the umask's mode, and never leave it behind.

Every failure caused by the input itself raises a subclass of `InputError` with a message naming
the file; exceptions of PyAV, Pillow, zipfile and the OS never escape from the readers.

Package layout (one concept per module; import everything from `mpvss_core.io`): `video_encode`
(writing), `video_decode` (probing and decoding), `label_png`, `images`, `archive`, `outputs`, and `_common`
(source types and error-message helper).
"""

from __future__ import annotations

from mpvss_core.io._common import ImageSource, PathLike, VideoSource
from mpvss_core.io.archive import GiB, safe_extract_zip
from mpvss_core.io.images import read_image_rgb
from mpvss_core.io.label_png import read_label_png, write_label_png
from mpvss_core.io.outputs import atomic_file, atomic_path, check_dir_dest, check_distinct, check_file_dest
from mpvss_core.io.video_decode import VideoFrameStream, VideoInfo, iter_video_frames, probe_video
from mpvss_core.io.video_encode import encode_video_bytes, write_video

__all__ = [
    "GiB",
    "ImageSource",
    "PathLike",
    "VideoFrameStream",
    "VideoInfo",
    "VideoSource",
    "atomic_file",
    "atomic_path",
    "check_dir_dest",
    "check_distinct",
    "check_file_dest",
    "encode_video_bytes",
    "iter_video_frames",
    "probe_video",
    "read_image_rgb",
    "read_label_png",
    "safe_extract_zip",
    "write_label_png",
    "write_video",
]
