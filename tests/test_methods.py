"""Propagation methods, the method table and key-frame schedules (mpvss_core.methods, schedules,
optical_flow)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpvss_core.errors import InputError
from mpvss_core.methods import (
    ALL_METHODS,
    METHODS,
    SEGMENTER_ONLY,
    canonical,
    method_spec,
    methods_help,
    parse_methods,
)
from mpvss_core.methods.optical_flow import ClassicalFlow, flow_to_mask_grid
from mpvss_core.methods.runners import RUNNERS, build_propagator
from mpvss_core.schedules import BeforeLabelled, FixedInterval, ScheduleSpec
from mpvss_core.spec import resolve_model
from tests.engine_helpers import run_labels, small_clip, stub_method, stub_model

ALL = tuple(METHODS)  # every entry of the table, the Table-I ablations included


# --- schedules ------------------------------------------------------------------------------------


def test_fixed_interval_schedule():
    s = FixedInterval(5)
    assert [s.key_of(i) for i in range(12)] == [0] * 5 + [5] * 5 + [10] * 2
    assert [i for i in range(12) if s.is_key(i)] == [0, 5, 10]
    assert s.next_key_of(3) == 5 and s.next_key_of(5) == 10 and s.end is None
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InputError, match="positive integer"):
            FixedInterval(bad)


def test_before_labelled_puts_the_key_d_frames_before_each_labelled_frame():
    labelled = np.zeros(30, bool)
    labelled[19] = True  # Cityscapes: the 20th frame of a 30-frame snippet
    s = BeforeLabelled(3, labelled)
    assert s.key_of(19) == 16 and not s.is_key(19)
    assert [i for i in range(30) if s.key_of(i) is not None] == [19]  # other frames are skipped
    assert [i for i in range(30) if s.needs_key(i)] == [16]
    assert s.end == 20  # nothing after the last labelled frame is read
    assert BeforeLabelled(0, labelled).is_key(19)
    early = np.zeros(10, bool)
    early[2] = True
    assert BeforeLabelled(4, early).key_of(2) == 0  # clipped at frame 0
    assert BeforeLabelled(3, labelled, interval=5).next_key_of(19) == 21
    with pytest.raises(InputError):
        BeforeLabelled(-1, labelled)
    with pytest.raises(InputError):
        ScheduleSpec(5, 2).for_clip(np.zeros(4, bool))


def test_sparse_schedule_runs_each_labelled_frame_from_its_own_key():
    clip = small_clip(num_frames=8)
    labelled = np.zeros(8, bool)
    labelled[[5, 7]] = True  # overlapping windows: keys 1 and 3 both alive at frame 5
    copy = stub_method("copy")
    results = list(copy.run(clip.frames, BeforeLabelled(4, labelled)))
    assert [(r.index, r.key_index, r.is_key) for r in results] == [(5, 1, False), (7, 3, False)]
    per_frame = run_labels(stub_method("per_frame"), clip.frames, FixedInterval(1))
    assert np.array_equal(results[0].labels, per_frame[1])
    assert np.array_equal(results[1].labels, per_frame[3])
    assert results[0].timings["hidden_key_s"] > 0  # the unlabelled key's cost is charged to frame 5


# --- the methods ------------------------------------------------------------------------------------


def test_method_table_names_aliases_and_parsing():
    assert method_spec("stages_4").name == "stages_4" and method_spec("stages_9").flow == {"num_stages": 9}
    assert canonical("stages_3") == "query_flow" and method_spec("stages_3") is METHODS["query_flow"]
    for bad in ("nope", "stages_0", "stages_x", ""):
        with pytest.raises(InputError, match="unknown method"):
            method_spec(bad)
    assert parse_methods("all") == list(ALL_METHODS) and "stages_1" not in ALL_METHODS
    assert parse_methods("copy, stages_3,copy") == ["copy", "query_flow"]
    with pytest.raises(InputError):
        parse_methods(" , ")
    assert set(SEGMENTER_ONLY) == {"per_frame", "copy", "optical_flow", "bi_optical_flow"}
    help_text = methods_help()
    assert all(m in help_text for m in METHODS) and "stages_S" in help_text
    with pytest.raises(ValueError, match="needs the pixel_flow flow module"):
        build_propagator("pixel_flow", stub_model("query_flow"))
    with pytest.raises(ValueError, match="needs the pixel_flow flow module"):
        build_propagator("bi_pixel_flow", stub_model("query_flow"))


@pytest.mark.parametrize("name", ALL)
def test_every_table_entry_is_consistent_and_runs(name):
    """Each entry names a runner that exists, a cost rule, weights that are an entry with its own flow
    module, and its propagator runs a short clip (on the tiny preset's random weights)."""
    spec = METHODS[name]
    assert spec.runner in RUNNERS and spec.description and spec.paper
    if spec.weights is not None:
        owner = METHODS[spec.weights]
        assert owner.weights == owner.name and owner.flow is not None
    assert (spec.cost == "flow_module") == (spec.weights is not None)
    tiny = resolve_model("tiny")
    results = list(build_propagator(name, tiny.load(name)).run(small_clip(num_frames=4).frames, 3))
    assert [r.index for r in results] == [0, 1, 2, 3] and results[3].is_key
    assert all(r.labels.shape == (64, 128) for r in results)


@pytest.mark.parametrize("name", ALL)
def test_every_method_equals_per_frame_at_interval_one(name):
    clip = small_clip()
    expected = run_labels(stub_method("per_frame"), clip.frames, 1)
    got = list(stub_method(name).run(clip.frames, 1))
    assert [r.is_key for r in got] == [True] * clip.num_frames
    assert all(np.array_equal(r.labels, e) for r, e in zip(got, expected, strict=True))


def test_key_frames_are_identical_across_methods_with_the_tiny_preset():
    """The real (random-weight, seeded) HF Mask2Former: every method gets the same segmenter, and the
    key frames of methods of each kind (segmenter only, classical flow, learned flow) are bit-identical."""
    tiny = resolve_model("tiny")
    models = {name: tiny.load(name) for name in ALL}
    reference = models["per_frame"].segmenter.state_dict()
    for name, model in models.items():
        state = model.segmenter.state_dict()
        assert all(torch.equal(state[k], v) for k, v in reference.items()), name
    frames = small_clip(num_frames=4).frames
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread is steadier
    try:
        keys = {}
        for name in ("per_frame", "bi_optical_flow", "query_flow", "pixel_flow"):
            results = list(build_propagator(name, models[name]).run(frames, FixedInterval(3)))
            assert [r.index for r in results] == [0, 1, 2, 3]
            assert results[0].is_key and results[3].is_key
            keys[name] = (results[0].labels, results[3].labels)
    finally:
        torch.set_num_threads(threads)
    for name, (k0, k3) in keys.items():
        assert np.array_equal(k0, keys["per_frame"][0]) and np.array_equal(k3, keys["per_frame"][1]), name


def test_copy_repeats_the_key_frame():
    clip = small_clip()
    results = list(stub_method("copy").run(clip.frames, 3))
    for r in results:
        assert r.key_index == r.index - r.index % 3 and r.distance == r.index % 3
        assert np.array_equal(r.labels, results[r.key_index].labels)
    assert not np.array_equal(results[0].labels, results[3].labels)  # the content does change


def test_optical_flow_on_a_static_clip_equals_copy():
    static = np.repeat(small_clip().frames[:1], 6, axis=0)
    flow = ClassicalFlow()(static[1], static[0])
    assert np.abs(flow).max() < 1e-3
    of = run_labels(stub_method("optical_flow"), static, 3)
    copy = run_labels(stub_method("copy"), static, 3)
    assert all(np.array_equal(a, b) for a, b in zip(of, copy, strict=True))
    assert len(np.unique(of[1])) > 1


def test_optical_flow_follows_a_shift():
    """Content shifted 8 px right: DIS finds flow ~ -8 px (current -> key) and the labels move along."""
    base = small_clip().frames[0]
    shifted = np.roll(base, 8, axis=1)
    flow = ClassicalFlow()(shifted, base)
    assert np.median(flow[8:-8, 16:-16, 0]) == pytest.approx(-8, abs=0.5)
    grid = flow_to_mask_grid(flow, (16, 32))
    assert grid.shape == (1, 2, 16, 32) and float(grid[0, 0].median()) == pytest.approx(-2, abs=0.2)
    labels = run_labels(stub_method("optical_flow"), np.stack([base, shifted]), 2)
    key_shifted = np.roll(labels[0], 8, axis=1)
    inner = (slice(None), slice(16, -16))
    assert (labels[1][inner] == key_shifted[inner]).mean() > 0.9


def _two_scene_clip(k: int = 5) -> np.ndarray:
    """Frames 0..k-1 show scene A, frame k (the next key frame) a different scene B."""
    a, b = small_clip(900_000).frames[0], small_clip(900_003).frames[0]
    return np.stack([a] * k + [b])


def test_bi_optical_flow_fuses_the_next_key_frame(monkeypatch):
    frames = _two_scene_clip()
    bi = stub_method("bi_optical_flow")
    monkeypatch.setattr(bi, "flow", lambda cur, key: np.zeros((*cur.shape[:2], 2), np.float32))
    results = list(bi.run(frames, 5))
    assert [r.index for r in results] == list(range(6))  # buffered, but yielded in frame order
    assert [r.next_key_index for r in results] == [None, 5, 5, 5, 5, None]
    model = stub_model("query_flow")
    with torch.inference_mode():
        scores = []
        for f in (frames[0], frames[5]):
            x = torch.from_numpy(f).permute(2, 0, 1)[None].float()
            s = model.segment_key(x)
            scores.append(model.semantic_inference(s.class_logits, s.mask_logits, f.shape[:2]))
    for i in range(1, 5):  # zero flow: fused = (5-i)/5 S_prev + i/5 S_next
        expected = (scores[0] * ((5 - i) / 5) + scores[1] * (i / 5)).argmax(1)[0].numpy()
        assert np.array_equal(results[i].labels, expected)
    uni = run_labels(build_propagator("optical_flow", model), frames, 5)
    assert not np.array_equal(results[4].labels, uni[4])  # the next key frame changes the answer


def test_bi_pixel_flow_fuses_the_learned_flow_from_both_key_frames():
    frames = _two_scene_clip()
    bi, uni = stub_method("bi_pixel_flow"), stub_method("pixel_flow")
    assert bi.model is uni.model  # one trained flow module, run from each key frame
    results = list(bi.run(frames, 5))
    assert [r.next_key_index for r in results] == [None, 5, 5, 5, 5, None]
    model = bi.model
    with torch.inference_mode():
        x = [torch.from_numpy(f).permute(2, 0, 1)[None].float() for f in frames]
        keys = (model.segment_key(x[0]), model.segment_key(x[5]))
        for i in range(1, 5):
            s0, s5 = (
                model.semantic_inference(p.class_logits, p.mask_logits, frames[i].shape[:2])
                for p in (model.propagate(keys[0], x[i]), model.propagate(keys[1], x[i]))
            )
            expected = (s0 * ((5 - i) / 5) + s5 * (i / 5)).argmax(1)[0].numpy()
            assert np.array_equal(results[i].labels, expected)
    single = run_labels(uni, frames, 5)
    assert not np.array_equal(results[4].labels, single[4])  # the next key frame changes the answer
    assert np.array_equal(results[5].labels, single[5])  # key frames are shared


def test_bi_optical_flow_is_uni_directional_without_a_next_key():
    clip = small_clip(num_frames=6)
    bi, uni = stub_method("bi_optical_flow"), stub_method("optical_flow")
    # last segment (frame 5 has key 4, next key 8 is past the end) and a clip shorter than K
    for frames, k in ((clip.frames, 4), (clip.frames[:3], 5)):
        b, u = list(bi.run(frames, k)), list(uni.run(frames, k))
        last = [r for r in b if r.key_index == (len(frames) - 1) // k * k]
        assert all(r.next_key_index is None for r in last)
        for rb, ru in zip(b, u, strict=True):
            if rb.next_key_index is None:
                assert np.array_equal(rb.labels, ru.labels)


@pytest.mark.parametrize("name", ["query_flow", "pixel_flow", "optical_flow", "copy"])
def test_diagnostics(name):
    clip = small_clip(num_frames=3)
    results = list(stub_method(name).run(clip.frames, 3, diagnostics=True))
    key, nonkey = results[0], results[1]
    assert key.mask_logits.shape == (32, 16, 32) and key.class_probs.shape == (32, 19)
    assert nonkey.flow.shape == (*clip.size, 2) and np.isfinite(nonkey.flow).all()
    assert nonkey.timings["model_s"] >= 0 and nonkey.timings["e2e_s"] >= nonkey.timings["model_s"]
    assert nonkey.timings["diagnostics_s"] >= 0
    if name in ("query_flow", "pixel_flow"):
        assert nonkey.fused_flow.shape == (32, 2, 8, 16)
        assert nonkey.pixel_flow.shape == (2, 8, 16)
        assert (nonkey.query_flow is None) == (name == "pixel_flow")
        assert (nonkey.attention is None) == (name == "pixel_flow")
    if name == "pixel_flow":  # one flow shared by all queries: the winner flow is that flow
        pixel = torch.from_numpy(nonkey.pixel_flow)[None] * 8  # 1/8 grid -> frame pixels
        up = torch.nn.functional.interpolate(pixel, scale_factor=8, mode="bilinear", align_corners=False)[0]
        assert np.allclose(nonkey.flow, up.permute(1, 2, 0).numpy(), atol=1e-4)
    if name == "optical_flow":
        assert nonkey.timings["flow_s"] > 0
    bare = list(stub_method(name).run(clip.frames, 3))[1]
    assert bare.flow is None and bare.mask_logits is None and np.array_equal(bare.labels, nonkey.labels)


def test_bad_frames_are_refused():
    frames = small_clip().frames
    method = stub_method("copy")
    with pytest.raises(InputError, match="one size"):
        list(method.run([frames[0], frames[1][:32]], 2))
    with pytest.raises(InputError, match="uint8"):
        list(method.run([frames[0].astype(np.float32)], 2))
    with pytest.raises(InputError, match="HxWx3"):
        list(method.run([frames[0][..., 0]], 2))
