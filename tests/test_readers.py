"""mpvss_core.data.readers: VSPW, Cityscapes, video, frame folders and zips, caps and bad input.

Every dataset is written in tmp_path with PIL / our own writers; nothing binary is committed.
"""

from __future__ import annotations

import json
import stat
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mpvss_core.data.readers import (
    ReaderLimits,
    list_cityscapes_sequences,
    list_vspw_clips,
    load_clip,
    read_cityscapes_sequence,
    read_frames_clip,
    read_video_clip,
    read_vspw_clip,
)
from mpvss_core.errors import ArchiveError, InputError, LabelError, VideoDecodeError
from mpvss_core.io import write_label_png, write_video
from mpvss_core.labels import CITYSCAPES_CLASSES, SYNTH_CLASSES, generic_class_names

H, W = 24, 32


def frame(i: int, h: int = H, w: int = W) -> np.ndarray:
    """A deterministic HxWx3 uint8 test frame."""
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# ------------------------------------------------------------------------------------------------
# VSPW


def make_vspw(root: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Dataset with clipA (3 PNG frames, masks for frames 0 and 2), clipB (2 frames), a class file
    and a val split. Returns clipA's frames and the raw mask of frame 0."""
    classes = {"others": 0, "wall": 1, "ceiling": 2, "door": 3}
    root.mkdir(parents=True)
    (root / "label_num_dic_final.json").write_text(json.dumps(classes))
    (root / "val.txt").write_text("clipB\n\n")
    frames = [frame(i) for i in range(3)]
    for i, f in enumerate(frames):
        save(root / f"data/clipA/origin/{i:05d}.png", f)
    raw = np.zeros((H, W), np.uint8)
    raw[:, 8:16], raw[:, 16:24], raw[:, 24:] = 1, 3, 255  # others, wall, door, void
    write_label_png(root / "data/clipA/mask/00000.png", raw)
    write_label_png(root / "data/clipA/mask/00002.png", np.full((H, W), 2, np.uint8))
    for i in range(2):
        save(root / f"data/clipB/origin/{i:05d}.jpg", frame(10 + i))
    return frames, raw


def test_vspw_round_trip_maps_labels_like_the_official_evaluator(tmp_path):
    frames, raw = make_vspw(tmp_path / "VSPW")
    clips = list_vspw_clips(tmp_path / "VSPW")
    assert [c.name for c in clips] == ["clipA", "clipB"]
    assert list_vspw_clips(tmp_path / "VSPW", split="val") == [tmp_path / "VSPW/data/clipB"]

    clip = read_vspw_clip(clips[0])
    assert clip.class_names == ("wall", "ceiling", "door")
    assert np.array_equal(clip.frames, np.stack(frames))  # PNG frames are exact
    assert clip.labelled.tolist() == [True, False, True]
    expected = np.full((H, W), 255, np.uint8)
    expected[:, 8:16], expected[:, 16:24] = 0, 2  # raw 0 -> 255, 1 -> 0, 3 -> 2, 255 -> 255
    assert np.array_equal(clip.labels[0], expected)
    assert np.all(clip.labels[1] == 255) and np.all(clip.labels[2] == 1)
    assert clip.fps == 15.0 and clip.notes == [] and not clip.has_flow

    jpg = read_vspw_clip(clips[1])
    assert jpg.labels is None and jpg.frames.shape == (2, H, W, 3)


def test_vspw_without_class_file_uses_124_generic_names(tmp_path):
    save(tmp_path / "clip/origin/0.png", frame(0))
    write_label_png(tmp_path / "clip/mask/0.png", np.full((H, W), 124, np.uint8))
    clip = load_clip(tmp_path / "clip")
    assert clip.class_names == generic_class_names(124)
    assert np.all(clip.labels == 123)


def test_vspw_rejects_raw_ids_above_the_label_space(tmp_path):
    make_vspw(tmp_path / "VSPW")
    write_label_png(tmp_path / "VSPW/data/clipA/mask/00002.png", np.array([[4, 9], [255, 0]], np.uint8))
    save(tmp_path / "VSPW/data/clipA/origin/00002.png", frame(2, 2, 2))
    with pytest.raises(LabelError, match=r"mask '00002.png' has raw ids 4, 9 .* 3 classes"):
        read_vspw_clip(tmp_path / "VSPW/data/clipA", limits=ReaderLimits())


def test_vspw_mask_without_frame_and_missing_split(tmp_path):
    make_vspw(tmp_path / "VSPW")
    write_label_png(tmp_path / "VSPW/data/clipB/mask/00099.png", np.zeros((H, W), np.uint8))
    with pytest.raises(InputError, match="mask '00099.png' in clip 'clipB' has no matching frame"):
        read_vspw_clip(tmp_path / "VSPW/data/clipB")
    with pytest.raises(InputError, match="split file .*test.txt' does not exist"):
        list_vspw_clips(tmp_path / "VSPW", split="test")
    with pytest.raises(InputError, match="no VSPW clips"):
        list_vspw_clips(tmp_path / "VSPW/data/clipA/origin")


def test_synthetic_scene_clip_gets_exact_flow_from_the_generator(tmp_path, monkeypatch):
    calls = []

    def load_scene_flow(clip_dir: Path):
        calls.append(clip_dir)
        return lambda src, dst: (np.full((H, W, 2), dst - src, np.float32), np.ones((H, W), bool))

    fake = types.ModuleType("mpvss_core.data.synthetic")
    fake.load_scene_flow = load_scene_flow
    monkeypatch.setitem(sys.modules, "mpvss_core.data.synthetic", fake)
    for i in range(3):
        save(tmp_path / f"synth-7/origin/{i:05d}.png", frame(i))
    (tmp_path / "synth-7/scene.json").write_text(json.dumps({"seed": 7, "fps": 10}))

    clip = read_vspw_clip(tmp_path / "synth-7")
    assert calls == [tmp_path / "synth-7"]
    assert clip.has_flow and clip.class_names == SYNTH_CLASSES and clip.fps == 10
    flow, valid = clip.flow(0, 2)
    assert flow.shape == (H, W, 2) and np.all(flow == 2) and valid.all()

    small = read_vspw_clip(tmp_path / "synth-7", limits=ReaderLimits(max_side=16))
    assert not small.has_flow  # flow in original pixels would be wrong after downscaling
    assert any("exact optical flow not attached" in n for n in small.notes)


def test_synthetic_scene_clip_without_generator_module_still_reads(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mpvss_core.data.synthetic", types.ModuleType("empty"))
    save(tmp_path / "s/origin/0.png", frame(0))
    (tmp_path / "s/scene.json").write_text("{}")
    clip = read_vspw_clip(tmp_path / "s")
    assert not clip.has_flow and clip.num_frames == 1


# ------------------------------------------------------------------------------------------------
# Cityscapes


def make_cityscapes(root: Path, frames_of: dict[str, list[int]], labelled: dict[str, int]) -> None:
    for seq, numbers in frames_of.items():
        for n in numbers:
            save(root / f"leftImg8bit_sequence/val/aachen/aachen_{seq}_{n:06d}_leftImg8bit.png", frame(n))
    for seq, n in labelled.items():
        ids = np.full((H, W), 7, np.uint8)  # road
        ids[:, 10:20], ids[:, 20:] = 26, 1  # car, ego vehicle (ignored)
        save(root / f"gtFine/val/aachen/aachen_{seq}_{n:06d}_gtFine_labelIds.png", ids)


def test_cityscapes_round_trip_with_one_labelled_frame(tmp_path):
    make_cityscapes(tmp_path, {"000001": list(range(5))}, {"000001": 3})
    assert list_cityscapes_sequences(tmp_path, "val") == [("aachen", "000001")]
    clip = read_cityscapes_sequence(tmp_path, "val", "aachen", 1)
    assert clip.class_names == CITYSCAPES_CLASSES and clip.num_frames == 5
    assert np.array_equal(clip.frames[4], frame(4))
    assert clip.labelled.tolist() == [False, False, False, True, False]
    assert np.all(clip.labels[3][:, :10] == 0) and np.all(clip.labels[3][:, 10:20] == 13)
    assert np.all(clip.labels[3][:, 20:] == 255) and np.all(clip.labels[:3] == 255)


def test_cityscapes_sequence_with_several_snippets_is_split(tmp_path):
    make_cityscapes(tmp_path, {"000000": [10, 11, 12, 50, 51]}, {"000000": 51})
    listed = list_cityscapes_sequences(tmp_path, "val")
    assert listed == [("aachen", "000000@000010"), ("aachen", "000000@000050")]
    second = read_cityscapes_sequence(tmp_path, "val", *listed[1])
    assert second.num_frames == 2 and second.labelled.tolist() == [False, True]
    first = read_cityscapes_sequence(tmp_path, "val", "aachen", "000000")
    assert first.num_frames == 3 and first.labels is None
    assert any("holds 2 snippets" in n for n in first.notes)
    with pytest.raises(InputError, match="leftImg8bit_sequence/train"):
        list_cityscapes_sequences(tmp_path, "train")


# ------------------------------------------------------------------------------------------------
# Frame folders, zips, videos


def make_frames_folder(root: Path, n: int = 4, labelled: tuple[int, ...] = (0, 2)) -> list[np.ndarray]:
    frames = [frame(i) for i in range(n)]
    for i, f in enumerate(frames):
        save(root / f"frames/img{i + 1}.png", f)  # img10 must sort after img2: natural order
        if i in labelled:
            write_label_png(root / f"labels/img{i + 1}.png", np.full((H, W), i, np.uint8))
    return frames


def test_frames_folder_round_trip_with_labels_in_natural_order(tmp_path):
    frames = make_frames_folder(tmp_path / "clip", n=11, labelled=(0, 9))
    clip = load_clip(tmp_path / "clip")
    assert clip.name == "clip" and clip.class_names == SYNTH_CLASSES
    assert np.array_equal(clip.frames, np.stack(frames))
    assert np.flatnonzero(clip.labelled).tolist() == [0, 9]
    assert np.all(clip.labels[9] == 9) and np.all(clip.labels[1] == 255)


def test_one_frame_folder_without_labels(tmp_path):
    save(tmp_path / "one/a.jpg", frame(0))
    clip = read_frames_clip(tmp_path / "one")
    assert clip.num_frames == 1 and clip.labels is None and not clip.labelled.any()


def test_zip_round_trip_descends_into_the_single_top_folder(tmp_path):
    frames = make_frames_folder(tmp_path / "src/myclip")
    zpath = tmp_path / "upload.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((tmp_path / "src").rglob("*.png")):
            zf.write(p, p.relative_to(tmp_path / "src").as_posix())
        zf.writestr("__MACOSX/myclip/frames/._img1.png", b"resource fork")
    work = tmp_path / "work"
    before = tree(tmp_path)
    clip = load_clip(zpath, workdir=work)
    assert clip.name == "upload" and np.array_equal(clip.frames, np.stack(frames))
    assert clip.labelled.tolist() == [True, False, True, False]
    new = tree(tmp_path) - before
    assert new and all(p.startswith("work") for p in new)  # everything extracted stays under workdir
    assert not any("__MACOSX" in p for p in new)
    assert np.array_equal(read_frames_clip(zpath).frames, clip.frames)  # temporary workdir


def test_caps_on_frames_and_resolution_add_notes(tmp_path):
    make_frames_folder(tmp_path / "clip", n=5, labelled=(1,))
    clip = read_frames_clip(tmp_path / "clip", limits=ReaderLimits(max_frames=3, max_side=16))
    # frames are downscaled for the model; labels keep their own resolution (never resized)
    assert clip.frames.shape == (3, 12, 16, 3) and clip.labels.shape == (3, 24, 32)
    assert clip.label_size == (24, 32) and clip.size == (12, 16)
    assert np.all(clip.labels[1] == 1) and clip.labels_at_frame_size(1).shape == (12, 16)
    assert any("kept the first 3 of 5 frames" in n for n in clip.notes)
    assert any("downscaled from 32x24 to 16x12" in n and "labels kept at 32x24" in n for n in clip.notes)


def test_grey_rgba_and_16bit_frames_are_converted_with_notes(tmp_path):
    save(tmp_path / "c/0.png", frame(0)[..., 0])
    save(tmp_path / "c/1.png", np.dstack([frame(1), np.full((H, W), 128, np.uint8)]))
    save(tmp_path / "c/2.png", frame(2)[..., 0].astype(np.uint16) * 257)
    clip = read_frames_clip(tmp_path / "c")
    assert clip.frames.shape == (3, H, W, 3)
    assert np.array_equal(clip.frames[0][..., 2], frame(0)[..., 0])
    assert np.array_equal(clip.frames[1], frame(1))
    assert np.array_equal(clip.frames[2][..., 0], frame(2)[..., 0])
    notes = " | ".join(clip.notes)
    assert "2 frame(s): greyscale replicated to RGB" in notes
    assert "1 frame(s): alpha channel dropped" in notes and "16-bit samples scaled to 8 bit" in notes


def test_video_clip_and_one_frame_video(tmp_path):
    frames = [frame(i, 32, 48) for i in range(5)]
    path = write_video(tmp_path / "v.mp4", frames, fps=12)
    clip = load_clip(path, limits=ReaderLimits(max_frames=3))
    assert clip.frames.shape == (3, 32, 48, 3) and clip.labels is None and clip.fps == 12
    assert any("kept the first 3 of 5 frames" in n for n in clip.notes)
    one = read_video_clip(write_video(tmp_path / "one.mp4", frames[:1]).read_bytes(), name="one")
    assert one.num_frames == 1 and one.name == "one"


def test_load_clip_dispatch_and_unknown_sources(tmp_path, monkeypatch):
    fake = types.ModuleType("mpvss_core.data.synthetic")
    fake.render_clip = lambda seed: f"rendered {seed}"
    monkeypatch.setitem(sys.modules, "mpvss_core.data.synthetic", fake)
    assert load_clip("synthetic:42") == "rendered 42"
    with pytest.raises(InputError, match="seed must be an integer"):
        load_clip("synthetic:abc")
    with pytest.raises(InputError, match="does not exist"):
        load_clip(tmp_path / "missing.mp4")
    (tmp_path / "model.pt").write_bytes(b"x")
    with pytest.raises(InputError, match="'model.pt' is not a supported clip source"):
        load_clip(tmp_path / "model.pt")


# ------------------------------------------------------------------------------------------------
# Bad input


def test_bad_videos_raise_video_decode_errors(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("hello, I am a text file\n" * 10)
    before = tree(tmp_path)
    with pytest.raises(VideoDecodeError, match=r"'empty.mp4' is empty \(0 bytes\)"):
        load_clip(tmp_path / "empty.mp4")
    with pytest.raises(VideoDecodeError, match="'text.mp4' is not a video"):
        load_clip(tmp_path / "text.mp4")
    with pytest.raises(VideoDecodeError, match="at most 0 MiB"):
        read_video_clip(b"x" * 1000, limits=ReaderLimits(max_file_bytes=100))
    assert tree(tmp_path) == before


def test_truncated_video_clip_keeps_decodable_frames_with_a_note(tmp_path):
    frames = [frame(i % 3, 32, 48) // 4 + i for i in range(45)]
    data = write_video(tmp_path / "v.mp4", frames).read_bytes()
    clip = read_video_clip(data[: int(0.6 * len(data))], name="cut")
    assert 1 <= clip.num_frames < 45
    assert any("truncated" in n for n in clip.notes)


def test_label_map_of_wrong_size_names_both_sizes(tmp_path):
    make_frames_folder(tmp_path / "c", n=2, labelled=())
    write_label_png(tmp_path / "c/labels/img2.png", np.zeros((10, 12), np.uint8))
    with pytest.raises(LabelError, match=r"label map 'img2.png' is 12x10 but its frame 'img2.png' is 32x24"):
        read_frames_clip(tmp_path / "c")


def test_label_map_with_unknown_ids_names_file_and_ids(tmp_path):
    make_frames_folder(tmp_path / "c", n=2, labelled=())
    write_label_png(
        tmp_path / "c/labels/img1.png", np.array([[0, 18], [40, 255]], np.uint8).repeat(12, 0).repeat(16, 1)
    )
    with pytest.raises(LabelError, match=r"'img1.png' has unknown class ids 18, 40; valid ids are 0..17"):
        read_frames_clip(tmp_path / "c")


def test_label_without_frame_and_frames_of_different_sizes(tmp_path):
    make_frames_folder(tmp_path / "c", n=2, labelled=(0,))
    write_label_png(tmp_path / "c/labels/other.png", np.zeros((H, W), np.uint8))
    with pytest.raises(InputError, match="label map 'other.png' has no frame with the same name"):
        read_frames_clip(tmp_path / "c")
    save(tmp_path / "d/a1.png", frame(0))
    save(tmp_path / "d/a2.png", frame(1, 20, 32))
    with pytest.raises(InputError, match=r"frame 'a2.png' is 32x20 but 'a1.png' is 32x24"):
        read_frames_clip(tmp_path / "d")
    (tmp_path / "e").mkdir()
    with pytest.raises(InputError, match="no frames found"):
        read_frames_clip(tmp_path / "e")


@pytest.mark.parametrize(
    ("entry", "message"),
    [("../evil.txt", "escapes the folder"), ("/abs.txt", "absolute path"), ("link", "symbolic link")],
)
def test_unsafe_zip_uploads_write_nothing(tmp_path, entry, message):
    zpath = tmp_path / "up.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("frames/a.png", b"not checked")
        info = zipfile.ZipInfo(entry)
        if entry == "link":
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, b"evil")
    work = tmp_path / "work"
    before = tree(tmp_path)
    with pytest.raises(ArchiveError, match=message):
        load_clip(zpath, workdir=work)
    assert {p for p in tree(tmp_path) - before if not p.startswith("work")} == set()
    assert [p for p in work.rglob("*") if p.is_file()] == []


def test_bad_zip_uploads(tmp_path):
    (tmp_path / "fake.zip").write_text("I am not a zip")
    with pytest.raises(ArchiveError, match="'fake.zip' is not a valid zip archive"):
        load_clip(tmp_path / "fake.zip")
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for i in range(4):
            zf.writestr(f"{i}.png", b"x")
    with pytest.raises(ArchiveError, match="has 4 entries; at most 3"):
        read_frames_clip(tmp_path / "many.zip", limits=ReaderLimits(max_zip_files=3))
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("frames/huge.png", bytes(4 << 20))
    with pytest.raises(ArchiveError, match="zip bomb"):
        read_frames_clip(tmp_path / "bomb.zip")
