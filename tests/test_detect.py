"""The one source detector (`data.readers.detect_source`): each kind, each refusal, and the same answer
from every front door (evaluation, training, `load_clip` / `open_frames`)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from mpvss_core.data.readers import ReaderLimits, Source, detect_source, file_kind, load_clip
from mpvss_core.errors import InputError
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.io import write_label_png, write_video
from mpvss_core.predictor import open_frames
from mpvss_core.train.data import FrameDataset
from tests.test_readers import H, W, frame, make_cityscapes, make_vspw, save


def _refused(source, match: str, split: str | None = None) -> str:
    with pytest.raises(InputError, match=match) as err:
        detect_source(source, split)
    assert "\n" not in str(err.value)  # one line
    return str(err.value)


# --- kinds -------------------------------------------------------------------------------------------


def test_synthetic_split_and_seed():
    assert detect_source("synthetic:val") == Source("synthetic_split", "synthetic:val", split="val")
    assert detect_source("synthetic:train").split == "train"
    seed = detect_source("synthetic:900003")
    assert (seed.kind, seed.seed, seed.path) == ("synthetic_seed", 900003, None)
    assert seed.is_one_clip and not detect_source("synthetic:val").is_one_clip


def test_cityscapes_root_with_and_without_a_split(tmp_path):
    make_cityscapes(tmp_path, {"000001": [0, 1]}, {"000001": 1})
    src = detect_source(tmp_path)
    assert (src.kind, src.path, src.split) == ("cityscapes_root", tmp_path, None)
    assert detect_source(str(tmp_path), "val").split == "val"
    assert src.takes_split and not detect_source("synthetic:val").takes_split


def test_vspw_root_clip_folder_and_split_file(tmp_path):
    make_vspw(tmp_path / "VSPW")
    root = detect_source(tmp_path / "VSPW")
    assert (root.kind, root.split, root.split_file) == ("vspw_root", None, None)
    val = detect_source(tmp_path / "VSPW", "val")
    assert val.split == "val" and val.split_file == tmp_path / "VSPW" / "val.txt"
    assert detect_source(tmp_path / "VSPW", "") == root  # "" is no split
    clip = detect_source(tmp_path / "VSPW/data/clipA")
    assert clip.kind == "clip_folder" and clip.is_one_clip
    assert root.takes_split and not clip.takes_split  # a split selects clips of a root only
    # clip folders straight under the root (no data/) make a root too
    save(tmp_path / "flat/c1/origin/0.png", frame(0))
    assert detect_source(tmp_path / "flat").kind == "vspw_root"


def test_frames_folders_footage_folder_zip_and_video(tmp_path):
    save(tmp_path / "top/a.png", frame(0))
    assert detect_source(tmp_path / "top").kind == "frames_folder"
    save(tmp_path / "sub/frames/a.png", frame(0))
    write_label_png(tmp_path / "sub/labels/a.png", np.zeros((H, W), np.uint8))
    assert detect_source(tmp_path / "sub").kind == "frames_folder"
    foot = tmp_path / "footage"
    write_video(foot / "b_walk.mp4", [frame(i) for i in range(3)], fps=10)
    save(foot / "a_shots/0.png", frame(1))
    (foot / "notes.txt").parent.mkdir(exist_ok=True)
    (foot / "notes.txt").write_text("not a clip")
    src = detect_source(foot)
    assert src.kind == "footage_folder" and not src.is_one_clip
    assert src.members == (foot / "a_shots", foot / "b_walk.mp4")  # name order, other files skipped
    (tmp_path / "f.zip").write_bytes(b"")
    assert detect_source(tmp_path / "f.zip").kind == "zip"
    (tmp_path / "v.MOV").write_bytes(b"")
    assert detect_source(str(tmp_path / "v.MOV")).kind == "video"
    assert (file_kind("x.mkv"), file_kind("x.ZIP"), file_kind("x.png")) == ("video", "zip", None)
    src = detect_source(tmp_path / "v.MOV")
    assert detect_source(src) is src  # a detected source passes through


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["synthetic:-1", "synthetic:abc", "synthetic:", "synthetic:1.5"])
def test_malformed_synthetic_is_an_input_error(text):
    msg = _refused(text, "the seed must be an integer >= 0")
    assert msg.startswith(f"'{text}': expected synthetic:train|val (a split)")
    for front_door in (resolve_data, load_clip):  # not numpy's ValueError (synthetic:-1 used to be)
        with pytest.raises(InputError, match="seed must be an integer"):
            front_door(text)


def test_missing_empty_unreadable_and_unsupported_paths(tmp_path):
    _refused(tmp_path / "missing", r"'.*missing' does not exist: expected a video \(.avi, .m4v")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/.DS_Store").write_bytes(b"")
    _refused(tmp_path / "empty", "'.*empty' is an empty folder: expected")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk/readme.txt").write_text("x")
    _refused(tmp_path / "junk", "'.*junk' holds no frames, videos or clips: expected")
    (tmp_path / "model.pt").write_bytes(b"x")
    _refused(tmp_path / "model.pt", "'model.pt' is not a supported clip source: use a video")
    os.mkfifo(tmp_path / "pipe.mp4")  # never opened: a decoder would wait on it forever
    _refused(tmp_path / "pipe.mp4", "is neither a file nor a folder")


def test_missing_split_file_or_folder_is_refused(tmp_path):
    make_vspw(tmp_path / "VSPW")
    msg = _refused(tmp_path / "VSPW", r"split file '.*VSPW/train.txt' does not exist", split="train")
    assert "expected the clip names of split 'train', one per line" in msg
    make_cityscapes(tmp_path / "cs", {"000001": [0, 1]}, {"000001": 1})
    _refused(tmp_path / "cs", r"cs/leftImg8bit_sequence/train' does not exist: expected Cityscapes", "train")


def test_every_front_door_gives_the_same_answer_for_a_missing_split(tmp_path):
    make_vspw(tmp_path / "VSPW")
    root = tmp_path / "VSPW"
    with pytest.raises(InputError, match="split file .*train.txt' does not exist"):
        resolve_data(str(root), split="train")
    with pytest.raises(InputError, match="split file .*train.txt' does not exist"):
        FrameDataset.open(root, "train", 3)  # training used to train on every clip instead
    assert [c.name for c in FrameDataset.open(root, "val", 3).clips] == ["clipB"]
    assert [c.name for c in FrameDataset.open(root, "", 3).clips] == ["clipA", "clipB"]
    assert resolve_data(str(root), split="val").names == ["clipB"]


def test_one_clip_front_doors_refuse_sources_of_several_clips(tmp_path):
    make_vspw(tmp_path / "VSPW")
    for front_door in (load_clip, open_frames):
        with pytest.raises(InputError, match="is a VSPW-layout dataset root, which holds several clips"):
            front_door(tmp_path / "VSPW")
        with pytest.raises(InputError, match="is a split of the synthetic benchmark, which holds several"):
            front_door("synthetic:val")
    with pytest.raises(InputError, match="training reads written clips; write the benchmark once"):
        FrameDataset.open("synthetic:val", "train", 3)


# --- what the kinds read -------------------------------------------------------------------------------


def test_footage_folder_clips_get_the_readers_caps(tmp_path):
    foot = tmp_path / "footage"
    write_video(foot / "walk.mp4", [frame(i) for i in range(5)], fps=10)
    for i in range(4):
        save(foot / f"shots/{i}.png", frame(i))
    capped = resolve_data(str(foot), limits=ReaderLimits(max_frames=2))
    assert capped.names == ["shots", "walk"]
    assert [c.num_frames for c in capped.clips()] == [2, 2]  # the caps reached every member
    assert [c.num_frames for c in resolve_data(str(foot)).clips()] == [4, 5]


def test_zip_and_frames_folder_read_as_one_clip_everywhere(tmp_path):
    for i in range(3):
        save(tmp_path / f"clip/frames/{i}.png", frame(i))
    with zipfile.ZipFile(tmp_path / "clip.zip", "w") as zf:
        for i in range(3):
            zf.write(tmp_path / f"clip/frames/{i}.png", f"frames/{i}.png")
    for source in (tmp_path / "clip", tmp_path / "clip.zip"):
        ds = resolve_data(str(source))
        assert len(ds) == 1 and ds.entries[0].load().num_frames == 3
        assert open_frames(source).num_frames == 3
        assert [c.name for c in FrameDataset.open(source, "train", 3).clips] == [source.stem]
