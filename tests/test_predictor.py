"""VideoPredictor: any frame source in, a FrameResult stream out, bounded memory."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from mpvss_core.errors import InputError, VideoDecodeError
from mpvss_core.io import write_video
from mpvss_core.predictor import VideoPredictor, open_frames
from mpvss_core.schedules import FixedInterval
from tests.engine_helpers import small_clip, stub_method


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, small_clip(num_frames=7).frames, fps=10)
    return path


def test_sources_give_the_same_stream():
    clip = small_clip()
    predictor = VideoPredictor(stub_method("copy"))
    from_clip = [r.labels for r in predictor.propagate(clip, 3)]
    from_array = [r.labels for r in predictor.propagate(clip.frames, FixedInterval(3))]
    from_list = [r.labels for r in predictor.propagate(list(clip.frames), 3)]
    assert len(from_clip) == clip.num_frames
    for a, b, c in zip(from_clip, from_array, from_list, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_video_is_streamed_with_its_frames(video):
    src = open_frames(video)
    assert src.clip is None and src.num_frames == 7 and src.fps == pytest.approx(10)
    predictor = VideoPredictor(stub_method("bi_optical_flow"))
    pairs = list(predictor.propagate(src, 3, return_frames=True))
    assert [r.index for _, r in pairs] == list(range(7))
    assert [r.is_key for _, r in pairs] == [True, False, False, True, False, False, True]
    for frame, r in pairs:
        assert frame.shape == (*r.labels.shape, 3) and frame.dtype == np.uint8
    assert len(list(VideoPredictor(stub_method("copy")).propagate(video, 3, max_frames=4))) == 4


def test_tiny_preset_by_name():
    predictor = VideoPredictor("query_flow", model="tiny", device="cpu")
    assert predictor.random_init and predictor.num_classes == 18
    results = list(predictor.propagate(small_clip(num_frames=3), 2, diagnostics={"flow"}))
    assert [r.is_key for r in results] == [True, False, True]
    assert results[1].flow.shape == (64, 128, 2)


@pytest.mark.parametrize("name", ["optical_flow", "bi_optical_flow", "query_flow"])
def test_memory_stays_bounded_on_long_streams(name):
    """At most a key frame, the next key and one buffered segment of frames are alive at any time
    (frames are freed by reference counting as soon as nothing holds them)."""
    base = small_clip(num_frames=4).frames
    alive: list[weakref.ref] = []

    def frames():
        for i in range(24):
            frame = base[i % 4].copy()
            alive.append(weakref.ref(frame))
            yield frame

    peak = 0
    for r in VideoPredictor(stub_method(name)).propagate(frames(), 5):
        peak = max(peak, sum(ref() is not None for ref in alive))
        assert r.index < 24
    assert peak <= 5 + 2


def test_source_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_frames(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(VideoDecodeError):
        open_frames(bad)
    with pytest.raises(InputError, match="TxHxWx3"):
        open_frames(np.zeros((4, 4), np.uint8))


def test_large_frames_are_downscaled(tmp_path):
    path = tmp_path / "big.mp4"
    write_video(path, [np.full((64, 160, 3), 100, np.uint8)] * 2, fps=5)
    src = open_frames(path, max_side=80)
    frames = list(src.frames)
    assert frames[0].shape == (32, 80, 3)
    assert any("downscaled" in n for n in src.notes)
