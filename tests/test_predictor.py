"""VideoPredictor: any frame source in, a FrameResult stream out, bounded memory, exact random access."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from mpvss_core.errors import InputError, MethodUnavailableError, VideoDecodeError
from mpvss_core.io import write_video
from mpvss_core.methods import METHODS
from mpvss_core.predictor import VideoPredictor, open_frames
from mpvss_core.schedules import BeforeLabelled, FixedInterval
from mpvss_core.spec import resolve_model
from tests.engine_helpers import small_clip, stub_predictor


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, small_clip(num_frames=7).frames, fps=10)
    return path


def _labels(predictor, source, schedule, **kw):
    return [r.labels for r in predictor.propagate(predictor.init_video(source, schedule, **kw))]


def test_sources_give_the_same_stream():
    clip = small_clip()
    predictor = stub_predictor("copy")
    from_clip = _labels(predictor, clip, 3)
    from_array = _labels(predictor, clip.frames, FixedInterval(3))
    from_list = _labels(predictor, list(clip.frames), 3)
    assert len(from_clip) == clip.num_frames
    for a, b, c in zip(from_clip, from_array, from_list, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_video_is_streamed_with_its_frames(video):
    src = open_frames(video)
    assert src.clip is None and src.num_frames == 7 and src.fps == pytest.approx(10)
    predictor = stub_predictor("bi_optical_flow")
    state = predictor.init_video(src, 3)
    results = list(predictor.propagate(state, return_frames=True))
    assert [r.index for r in results] == list(range(7))
    assert [r.is_key for r in results] == [True, False, False, True, False, False, True]
    for r in results:
        assert r.frame.shape == (*r.labels.shape, 3) and r.frame.dtype == np.uint8
    with pytest.raises(InputError, match="propagated once"):
        list(predictor.propagate(state))
    with pytest.raises(InputError, match="no random access"):
        predictor.predict_frame(state, 2)
    assert len(_labels(stub_predictor("copy"), video, 3, max_frames=4)) == 4


def test_built_from_a_model_spec():
    tiny = resolve_model("tiny")
    predictor = VideoPredictor(tiny, "stages_3", device="cpu")
    assert predictor.method == "query_flow" and predictor.model_spec is tiny  # the alias resolves once
    assert predictor.random_init and predictor.num_classes == 18
    state = predictor.init_video(small_clip(num_frames=3), 2)
    results = list(predictor.propagate(state, diagnostics={"flow"}))
    assert [r.is_key for r in results] == [True, False, True]
    assert results[1].flow.shape == (64, 128, 2)
    bundle_without_flows = resolve_model("tiny")
    with pytest.raises(InputError, match="unknown method"):
        VideoPredictor(bundle_without_flows, "raft")


@pytest.mark.parametrize("name", list(METHODS))
def test_predict_frame_equals_the_streamed_result(name):
    """Random access is exact for every method: the same labels, key frame, next key frame and
    diagnostics as the stream, including bi-directional fusion (and its fallback in the last segment)."""
    clip = small_clip(num_frames=8)
    predictor = stub_predictor(name)
    state = predictor.init_video(clip, 3)
    streamed = list(predictor.propagate(state, diagnostics=True))
    for i in (7, 1, 4, 0, 2):  # any order; key frames are segmented once and reused
        r = predictor.predict_frame(state, i, diagnostics=True)
        s = streamed[i]
        assert (r.index, r.is_key, r.key_index, r.next_key_index) == (
            s.index,
            s.is_key,
            s.key_index,
            s.next_key_index,
        )
        assert np.array_equal(r.labels, s.labels)
        for field in ("mask_logits", "flow", "fused_flow", "query_flow", "pixel_flow"):
            a, b = getattr(r, field), getattr(s, field)
            assert (a is None) == (b is None), field
            if a is not None:
                np.testing.assert_allclose(a, b, atol=1e-5, err_msg=field)
    if METHODS[name].bidirectional:
        assert streamed[4].next_key_index == 6 and streamed[7].next_key_index is None
    with pytest.raises(InputError, match="outside the clip"):
        predictor.predict_frame(state, 8)


def test_predict_frame_follows_a_sparse_schedule():
    clip = small_clip(num_frames=8)
    labelled = np.zeros(8, bool)
    labelled[[5, 7]] = True
    predictor = stub_predictor("bi_optical_flow")
    state = predictor.init_video(clip, BeforeLabelled(2, labelled, interval=4))
    streamed = {r.index: r for r in predictor.propagate(state)}
    assert sorted(streamed) == [5, 7]
    for i in (5, 7):
        r = predictor.predict_frame(state, i)
        assert np.array_equal(r.labels, streamed[i].labels) and r.next_key_index == streamed[i].next_key_index
    with pytest.raises(InputError, match="not predicted"):
        predictor.predict_frame(state, 6)


def test_unavailable_method_is_refused_before_loading(tmp_path):
    import torch

    from mpvss_core.checkpoints.bundle import write_bundle_index
    from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), tmp_path / "b" / "segmenter")
    write_bundle_index(tmp_path / "b", "segmenter", {})
    with pytest.raises(MethodUnavailableError, match="no trained weights"):
        VideoPredictor(resolve_model(str(tmp_path / "b")), "query_flow")


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
    predictor = stub_predictor(name)
    for r in predictor.propagate(predictor.init_video(frames(), 5)):
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


@pytest.mark.parametrize("name", ["query_flow", "pixel_flow", "bi_pixel_flow", "optical_flow", "copy"])
def test_batched_segments_give_the_same_labels(name):
    """Offline mode (a segment's non-key frames as one batch) = latency mode (one frame at a time)."""
    clip = small_clip(num_frames=8)
    predictor = stub_predictor(name)
    one = list(predictor.propagate(predictor.init_video(clip, 3)))
    batched = list(predictor.propagate(predictor.init_video(clip, 3), batch_segment=True))
    assert [r.index for r in batched] == list(range(8))
    for a, b in zip(one, batched, strict=True):
        assert (a.key_index, a.next_key_index) == (b.key_index, b.next_key_index)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_query_pruning_at_threshold_zero_changes_nothing_and_prunes_above():
    clip = small_clip(num_frames=6)
    tiny = resolve_model("tiny")
    full = VideoPredictor(tiny, "query_flow", device="cpu")
    zero = VideoPredictor(tiny, "query_flow", device="cpu", prune=0.0)
    a = [r.labels for r in full.propagate(full.init_video(clip, 3))]
    b = [r.labels for r in zero.propagate(zero.init_video(clip, 3))]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    pruned = stub_predictor("query_flow")
    pruned.propagator.prune = 0.2
    state = pruned.init_video(clip, 3)
    results = list(pruned.propagate(state))
    key = pruned.propagator.segment(clip.frames[0], 0)
    keep = pruned.propagator.kept_queries(key, frozenset())
    assert 1 <= len(keep) < 32  # the stub's queries differ in mass: some are dropped
    assert pruned.propagator.kept_queries(key, frozenset({"masks"})) is None  # diagnostics: all queries
    assert all(r.labels.shape == (64, 128) for r in results)
    with pytest.raises(ValueError, match="prune"):
        VideoPredictor(tiny, "copy", device="cpu", prune=1.5)
