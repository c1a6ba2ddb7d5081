"""mpvss_core.io: H.264 writing, robust video decoding, palette PNGs, image normalisation, safe zips.

Every fixture is generated in tmp_path. Bad-input tests assert the exception type, a specific part
of its message, and that nothing was written outside the target folder.
"""

from __future__ import annotations

import io
import stat
import wave
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mpvss_core import io as mio
from mpvss_core.errors import ArchiveError, InputError, LabelError, VideoDecodeError


def smooth_frames(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    """n HxWx3 uint8 frames: gradients plus a moving white box (compresses like real footage)."""
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        f = np.stack([(x * 2 + i * 4) % 256, (y * 3) % 256, ((x + y + i * 3) * 2) % 256], -1).astype(np.uint8)
        f[h // 6 : h // 2, 5 + 2 * i : 25 + 2 * i] = 255
        out.append(f)
    return out


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ------------------------------------------------------------------------------------------------
# Video writing and reading


def test_write_video_round_trip_is_h264_yuv420p_with_exact_frame_count(tmp_path):
    frames = smooth_frames(12, 48, 64)
    out = mio.write_video(tmp_path / "clip.mp4", frames, fps=12.5)
    info = mio.probe_video(out)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.num_frames, info.width, info.height) == (12, 64, 48)
    assert info.fps == pytest.approx(12.5)
    decoded = list(mio.iter_video_frames(out))
    assert len(decoded) == 12
    assert all(d.shape == (48, 64, 3) and d.dtype == np.uint8 for d in decoded)
    err = np.mean(
        [np.abs(d.astype(int) - f.astype(int)).mean() for d, f in zip(decoded, frames, strict=True)]
    )
    assert err < 8  # lossy, but close at crf 20
    assert tree(tmp_path) == {"clip.mp4"}  # the temporary .partial file is gone


def test_write_video_puts_index_first_for_browsers(tmp_path):
    data = mio.write_video(tmp_path / "clip.mp4", smooth_frames(5)).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_write_video_pads_odd_sizes_by_replication(tmp_path):
    frames = [np.full((47, 63, 3), v, np.uint8) for v in (40, 200, 120)]
    out = mio.write_video(tmp_path / "odd.mp4", frames)
    info = mio.probe_video(out)
    assert (info.width, info.height, info.num_frames) == (64, 48, 3)
    decoded = list(mio.iter_video_frames(out))
    assert [int(round(d.mean())) for d in decoded] == pytest.approx([40, 200, 120], abs=2)


def test_encode_video_bytes_decodes_from_bytes_and_file_objects():
    data = mio.encode_video_bytes(smooth_frames(4), fps=10)
    assert mio.probe_video(data).num_frames == 4
    assert mio.probe_video(io.BytesIO(data)).fps == pytest.approx(10)
    assert len(list(mio.iter_video_frames(io.BytesIO(data)))) == 4


def test_write_video_rejects_bad_frames_and_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        mio.write_video(tmp_path / "a.mp4", [])
    with pytest.raises(ValueError, match="frame 1 has size"):
        mio.write_video(tmp_path / "b.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)])
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        mio.write_video(tmp_path / "c.mp4", [np.zeros((8, 8), np.uint8)])
    assert tree(tmp_path) == set()


def test_one_frame_video_works(tmp_path):
    out = mio.write_video(tmp_path / "one.mp4", smooth_frames(1))
    assert mio.probe_video(out).num_frames == 1
    assert len(list(mio.iter_video_frames(out))) == 1


def test_iter_video_frames_stops_at_max_frames(tmp_path):
    out = mio.write_video(tmp_path / "v.mp4", smooth_frames(10))
    stream = mio.iter_video_frames(out, max_frames=3)
    assert len(list(stream)) == 3
    assert stream.notes == []  # stopping on purpose is not damage


def test_zero_byte_file_is_rejected(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"'empty.mp4' is empty \(0 bytes\)"):
        mio.iter_video_frames(tmp_path / "empty.mp4")
    with pytest.raises(VideoDecodeError, match="empty"):
        mio.probe_video(b"")


def test_text_renamed_mp4_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(VideoDecodeError, match="'notes.mp4' is not a video FFmpeg can read"):
        mio.probe_video(path)
    with pytest.raises(VideoDecodeError, match="not a video"):
        mio.iter_video_frames(path.read_bytes())
    assert tree(tmp_path) == {"notes.mp4"}


def test_missing_file_and_audio_only_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="does not exist"):
        mio.probe_video(tmp_path / "nope.mp4")
    with wave.open(str(tmp_path / "sound.mp4"), "wb") as w:  # a WAV renamed .mp4: audio only
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    with pytest.raises(VideoDecodeError, match=r"has no video stream \(audio only\)"):
        mio.probe_video(tmp_path / "sound.mp4")


def test_truncated_video_keeps_the_frames_that_decode(tmp_path):
    """Cut to 30% of its bytes: the index (at the front, faststart) survives, the first frames decode,
    the rest is reported in a note. A cut inside the first key frame decodes nothing: an error.
    (A file whose index sits at the end, i.e. not faststart, is unreadable once truncated.)"""
    data = mio.write_video(tmp_path / "full.mp4", smooth_frames(45)).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(0.3 * len(data))])
    stream = mio.iter_video_frames(cut)
    frames = list(stream)
    assert 1 <= len(frames) < 45
    assert any("declares 45 frames" in n and "truncated" in n for n in stream.notes)

    cut.write_bytes(data[: data.find(b"mdat") + 100])  # index intact, first key frame cut
    with pytest.raises(VideoDecodeError, match="none of its 45 frames could be decoded"):
        list(mio.iter_video_frames(cut))


def test_video_cut_before_its_index_is_not_readable(tmp_path):
    data = mio.write_video(tmp_path / "full.mp4", smooth_frames(10)).read_bytes()
    with pytest.raises(VideoDecodeError, match=r"has no video stream \(truncated or damaged"):
        mio.probe_video(data[:200])  # inside the moov box: FFmpeg finds no complete track
    with pytest.raises(VideoDecodeError, match="not a video FFmpeg can read"):
        mio.probe_video(data[:20])  # inside the ftyp box


def test_corrupt_bytes_in_the_middle_skip_damaged_packets(tmp_path):
    data = bytearray(mio.write_video(tmp_path / "v.mp4", smooth_frames(30)).read_bytes())
    n = len(data)
    rng = np.random.default_rng(0)
    data[n // 2 : n // 2 + n // 10] = rng.integers(0, 256, n // 10, dtype=np.uint8).tobytes()
    stream = mio.iter_video_frames(bytes(data))
    frames = list(stream)
    assert 1 <= len(frames) <= 30
    assert all(f.shape == (64, 96, 3) for f in frames)
    assert stream.notes  # the damage is reported, not hidden


def test_video_whose_frames_are_all_garbage_is_rejected(tmp_path):
    data = bytearray(mio.write_video(tmp_path / "v.mp4", smooth_frames(8)).read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = bytes(len(data) - start)
    with pytest.raises(VideoDecodeError, match="none of its 8 frames could be decoded"):
        list(mio.iter_video_frames(bytes(data)))


# ------------------------------------------------------------------------------------------------
# Label PNGs


def test_palette_png_round_trip_is_exact_and_stores_the_palette(tmp_path):
    k = 5
    palette = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90], [1, 2, 3], [200, 100, 0]], np.uint8)
    labels = np.array([[0, 1, 2, 3], [4, 255, 0, 4], [255, 255, 3, 1]], np.uint8)
    path = mio.write_label_png(tmp_path / "lab.png", labels, palette)
    img = Image.open(path)
    assert img.mode == "P"
    stored = np.array(img.getpalette(), np.uint8).reshape(-1, 3)
    assert np.array_equal(stored[:k], palette)
    assert np.array_equal(stored[255], [0, 0, 0])
    assert np.array_equal(mio.read_label_png(path), labels)


def test_write_label_png_default_palette_and_value_checks(tmp_path):
    labels = np.arange(256, dtype=np.int64).reshape(16, 16)
    assert np.array_equal(mio.read_label_png(mio.write_label_png(tmp_path / "all.png", labels)), labels)
    with pytest.raises(ValueError, match="0..255"):
        mio.write_label_png(tmp_path / "bad.png", np.full((2, 2), 300))


def test_read_label_png_rgb_needs_a_palette(tmp_path):
    palette = np.array([[128, 64, 128], [70, 70, 70]], np.uint8)
    ids = np.array([[0, 1], [255, 0]], np.uint8)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[ids == 0], rgb[ids == 1] = palette[0], palette[1]
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    with pytest.raises(LabelError, match="'colour.png' is an RGB colour image"):
        mio.read_label_png(tmp_path / "colour.png")
    assert np.array_equal(mio.read_label_png(tmp_path / "colour.png", palette=palette), ids)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(tmp_path / "unknown.png")
    with pytest.raises(LabelError, match=r"not in the class palette: \(1, 2, 3\)"):
        mio.read_label_png(tmp_path / "unknown.png", palette=palette)


def test_read_label_png_grey_and_16bit(tmp_path):
    small = np.array([[0, 3], [255, 7]], np.uint16)
    Image.fromarray(small).save(tmp_path / "ok16.png")
    Image.fromarray(small.astype(np.uint8)).save(tmp_path / "grey.png")
    assert np.array_equal(mio.read_label_png(tmp_path / "ok16.png"), small)
    assert np.array_equal(mio.read_label_png(tmp_path / "grey.png"), small)
    Image.fromarray(np.array([[0, 300], [1000, 7]], np.uint16)).save(tmp_path / "big16.png")
    with pytest.raises(LabelError, match=r"'big16.png' .* values outside 0..255 \(300, 1000\)"):
        mio.read_label_png(tmp_path / "big16.png")
    (tmp_path / "junk.png").write_text("junk")
    with pytest.raises(LabelError, match="'junk.png' is not an image"):
        mio.read_label_png(tmp_path / "junk.png")


# ------------------------------------------------------------------------------------------------
# Images


def test_read_image_rgb_normalises_modes_with_notes(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "grey.png")
    rgba = np.dstack([np.full((3, 4, 3), 77, np.uint8), np.zeros((3, 4), np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.full((3, 4, 3), 65535, np.uint16))
    Image.fromarray(grey).convert("P").save(tmp_path / "pal.png")

    notes: list[str] = []
    assert np.array_equal(mio.read_image_rgb(tmp_path / "grey.png", notes), np.dstack([grey] * 3))
    assert notes == ["greyscale replicated to RGB"]
    notes.clear()
    assert np.all(mio.read_image_rgb(tmp_path / "rgba.png", notes) == 77)
    assert notes == ["alpha channel dropped"]
    notes.clear()
    assert np.array_equal(mio.read_image_rgb(tmp_path / "g16.png", notes)[..., 1], grey)
    assert "16-bit samples scaled to 8 bit" in notes
    notes.clear()
    assert np.all(mio.read_image_rgb(tmp_path / "rgb16.png", notes) == 255)
    assert notes == ["16-bit samples scaled to 8 bit"]
    pal = mio.read_image_rgb((tmp_path / "pal.png").read_bytes())
    assert pal.shape == (3, 4, 3) and pal.dtype == np.uint8


def test_read_image_rgb_unreadable_names_the_file(tmp_path):
    (tmp_path / "frame.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(InputError, match="'frame.jpg'"):
        mio.read_image_rgb(tmp_path / "frame.jpg")
    png = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 9).save(png, format="PNG")
    (tmp_path / "cut.png").write_bytes(png.getvalue()[:60])
    with pytest.raises(InputError, match="'cut.png'"):
        mio.read_image_rgb(tmp_path / "cut.png")
    with pytest.raises(InputError, match="does not exist"):
        mio.read_image_rgb(tmp_path / "missing.png")


# ------------------------------------------------------------------------------------------------
# Zip archives


def make_zip(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_safe_extract_zip_writes_only_under_dest(tmp_path):
    src = make_zip(tmp_path / "ok.zip", {"clip/frames/a.png": b"A", "clip/b.txt": b"B", "c.txt": b"C"})
    written = mio.safe_extract_zip(src, tmp_path / "dest")
    assert sorted(p.relative_to(tmp_path / "dest").as_posix() for p in written) == [
        "c.txt",
        "clip/b.txt",
        "clip/frames/a.png",
    ]
    assert (tmp_path / "dest/clip/frames/a.png").read_bytes() == b"A"
    again = mio.safe_extract_zip(src.read_bytes(), tmp_path / "dest2")  # bytes work too
    assert len(again) == 3


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../evil.txt", r"escapes the folder \('..'\): '../evil.txt'"),
        ("frames/../../evil.txt", "escapes the folder"),
        ("/abs.txt", "absolute path: '/abs.txt'"),
        ("C:/windows.txt", "absolute path"),
        ("..\\evil.txt", "escapes the folder"),
    ],
)
def test_safe_extract_zip_rejects_escaping_paths_and_writes_nothing(tmp_path, name, message):
    src = make_zip(tmp_path / "bad.zip", {"good.txt": b"fine", name: b"evil"})
    before = tree(tmp_path)
    with pytest.raises(ArchiveError, match=message):
        mio.safe_extract_zip(src, tmp_path / "sandbox" / "dest")
    assert tree(tmp_path) == before  # not even the good entry, nor the dest folder
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_safe_extract_zip_rejects_symlink_entries(tmp_path):
    src = tmp_path / "link.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("frames/a.png", b"A")
        info = zipfile.ZipInfo("frames/passwd.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link: 'frames/passwd.png'"):
        mio.safe_extract_zip(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_safe_extract_zip_rejects_too_many_and_too_large(tmp_path):
    src = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(6)})
    with pytest.raises(ArchiveError, match="has 6 entries; at most 5"):
        mio.safe_extract_zip(src, tmp_path / "dest", max_files=5)
    big = make_zip(tmp_path / "big.zip", {"a.bin": b"x" * 3000}, zipfile.ZIP_STORED)
    with pytest.raises(ArchiveError, match="would extract to"):
        mio.safe_extract_zip(big, tmp_path / "dest", max_total_bytes=2000)
    assert not (tmp_path / "dest").exists()


def test_safe_extract_zip_rejects_zip_bombs(tmp_path):
    src = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(4 << 20)})
    with pytest.raises(ArchiveError, match=r"zip bomb: 'zeros.bin' expands \d+x \(at most 200x"):
        mio.safe_extract_zip(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_safe_extract_zip_rejects_non_zips_and_corrupt_data(tmp_path):
    (tmp_path / "video.zip").write_bytes(b"definitely not a zip file")
    with pytest.raises(ArchiveError, match="'video.zip' is not a valid zip archive"):
        mio.safe_extract_zip(tmp_path / "video.zip", tmp_path / "dest")
    data = bytearray(
        make_zip(tmp_path / "crc.zip", {"a.txt": b"hello " * 50}, zipfile.ZIP_STORED).read_bytes()
    )
    pos = data.find(b"hello")
    data[pos : pos + 5] = b"HELLO"  # same size, wrong CRC: only detectable while extracting
    with pytest.raises(ArchiveError, match="could not be extracted"):
        mio.safe_extract_zip(bytes(data), tmp_path / "dest")
    assert tree(tmp_path / "dest") == set()  # the partial file was removed
