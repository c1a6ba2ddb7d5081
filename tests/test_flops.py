"""FLOP counting: hand cases in both conventions, fake vs real counts, tiny and paper-scale frames."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.evaluation.flops import count_flops, count_parameters, flop_count, frame_cost


def test_linear_hand_case():
    layer = torch.nn.Linear(100, 50)
    x = torch.randn(8, 100)
    assert flop_count(layer, x, convention="fvcore") == 8 * 100 * 50  # 40 000 multiply-adds
    assert flop_count(layer, x, convention="torch") == 2 * 8 * 100 * 50


def test_conv_and_transposed_conv_hand_cases():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(2, 3, 16, 16)
    macs = 2 * 8 * 3 * 9 * 16 * 16  # batch * Cout * Cin * k*k * output pixels
    assert flop_count(conv, x, convention="fvcore") == macs
    assert flop_count(conv, x, convention="torch") == 2 * macs
    deconv = torch.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, bias=False)
    y = torch.randn(1, 4, 5, 7)
    # transposed conv: every input pixel meets every weight once
    assert flop_count(deconv, y, convention="fvcore") == 4 * 2 * 16 * 5 * 7


def test_elementwise_handles_count_in_fvcore_only():
    x = torch.randn(1, 8, 16, 16)
    up = lambda t: F.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)  # noqa: E731
    assert flop_count(up, x, convention="fvcore") == 4 * 8 * 32 * 32
    assert flop_count(up, x, convention="torch") == 0
    grid = torch.zeros(1, 10, 12, 2)
    sample = lambda t: F.grid_sample(t, grid, align_corners=True)  # noqa: E731
    assert flop_count(sample, x, convention="fvcore") == 4 * 8 * 10 * 12
    assert flop_count(sample, x, convention="torch") == 0
    norm = torch.nn.LayerNorm(16)
    assert flop_count(norm, x, convention="fvcore") == 5 * x.numel()


def test_attention_is_counted_identically_on_every_path():
    d, heads, n = 32, 4, 10
    mha = torch.nn.MultiheadAttention(d, heads, batch_first=True).eval()
    x = torch.randn(2, n, d)
    projections = 2 * n * d * d * 4  # q, k, v, out
    attention = 2 * 2 * n * n * d  # QK^T + AV over all heads
    expected = projections + attention
    fused = flop_count(lambda t: mha(t, t, t, need_weights=False), x)  # fused CPU kernel (eval, no grad)
    weights = flop_count(lambda t: mha(t, t, t, need_weights=True), x)  # explicit bmm + softmax
    cross = flop_count(lambda t: mha(t, t.clone(), t.clone(), need_weights=False), x)  # SDPA path
    assert fused == weights == cross == expected


def test_fake_count_equals_a_real_forward():
    torch.manual_seed(0)
    model = build_model("tiny").eval()
    images = torch.rand(1, 3, 64, 128) * 255

    def real_key(t):
        out = model(t)
        model.semantic_inference(out.class_logits, out.mask_logits, (64, 128))

    assert count_flops(model, (64, 128), "key") == pytest.approx(flop_count(real_key, images) / 1e9, rel=1e-9)
    with torch.no_grad():
        key = model.segment_key(images)

    def real_non_key(t):
        out = model.propagate(key, t)
        model.semantic_inference(out.class_logits, out.mask_logits, (64, 128))

    expected = flop_count(real_non_key, images) / 1e9
    assert count_flops(model, (64, 128), "non_key") == pytest.approx(expected, rel=1e-9)


def test_counts_do_not_depend_on_the_inference_path():
    """The fast path convolves the fusion's shared pixel half once; FLOPs count the network as specified."""
    model = build_model("tiny").eval()
    reference = count_flops(model, (64, 128), "non_key")
    model.flow.decoder.fusion.split = True
    assert count_flops(model, (64, 128), "non_key") == reference
    assert model.flow.decoder.fusion.split  # left as it was


def test_tiny_non_key_costs_at_most_a_fifth_of_a_key_frame():
    model = build_model("tiny")
    key = frame_cost(model, (256, 512), "key")
    non_key = frame_cost(model, (256, 512), "non_key")
    for convention in ("fvcore", "torch"):
        assert 0 < non_key.gflops(convention) <= key.gflops(convention) / 5, convention
    assert key.gflops("torch") > 1.9 * key.gflops("fvcore")  # torch: 2 per MAC, no element-wise ops
    assert count_flops(model, (256, 512), "non_key") == non_key.gflops("fvcore")
    parts = non_key.breakdown()
    assert parts["segmenter"] == 0 and parts["flow"] > 0
    assert parts["total"] == pytest.approx(parts["flow"] + parts["warp + semantic inference"])
    key_parts = key.breakdown()
    assert key_parts["flow"] == 0 and key_parts["segmenter"] > 0.9 * key_parts["total"]


def test_paper_scale_costs_match_the_notes():
    # docs/method-notes.md §2.4 derives ~20.6 G for a VSPW non-key frame (paper Table III: 21.0 G), counted
    # on the meta device (no real forward of the 40 M flow module at 480x853)
    non_key = count_flops("swin_t", (480, 853), "non_key")
    assert 20.0 <= non_key <= 22.0
    key = count_flops("swin_t", (480, 853), "key")
    assert key == pytest.approx(114.4, rel=0.05)  # Table III, Swin-T VSPW key frame
    params = count_parameters("swin_t")
    assert params["flow"] == pytest.approx(40.09e6, rel=0.01)
    assert params["total"] == params["segmenter"] + params["flow"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        count_flops("tiny", (64, 64), "middle")
    with pytest.raises(ValueError):
        flop_count(torch.nn.Identity(), torch.zeros(1), convention="macs")


def test_method_flop_parts_follow_each_cost_rule(tmp_path, monkeypatch):
    from mpvss_core.evaluation.costs import method_flop_parts, method_gflops
    from mpvss_core.evaluation.flops import flop_breakdown

    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))  # the count cache goes beside it
    model, size = build_model("tiny").eval(), (64, 128)

    def parts(method):
        rows = method_flop_parts(model, method, size)
        frames = [r["frame"] for r in rows]
        assert frames == sorted(frames)  # the key frame's rows, then the non-key frame's
        return {(r["frame"], r["part"]): r["gflops"] for r in rows}

    key = {("key", p): v for p, v in flop_breakdown(model, size, "key").items() if p != "total"}
    assert list(key) == [("key", "segmenter"), ("key", "flow"), ("key", "warp + semantic inference")]
    assert parts("copy") == key  # non-key frames copy: no non-key rows
    assert parts("per_frame") == {**key, **{("non-key", p): v for (_, p), v in key.items()}}
    warp = method_gflops(model, "optical_flow", size, 5)["gflops_nonkey_excl_flow"]
    assert warp > 0 and parts("optical_flow") == {**key, ("non-key", "warp + semantic inference"): warp}
    assert parts("bi_optical_flow")[("non-key", "warp + semantic inference")] == pytest.approx(2 * warp)
    one = {("non-key", p): v for p, v in flop_breakdown(model, size, "non_key").items() if p != "total"}
    assert parts("query_flow") == {**key, **one}
    assert parts("bi_pixel_flow") == {**key, **{k: 2 * v for k, v in one.items()}}  # one pass per key
    for method in ("per_frame", "query_flow", "bi_pixel_flow"):  # the parts add up to the summary
        g, p = method_gflops(model, method, size, 5), parts(method)
        assert sum(v for (f, _), v in p.items() if f == "key") == pytest.approx(g["gflops_key"])
        assert sum(v for (f, _), v in p.items() if f == "non-key") == pytest.approx(g["gflops_nonkey"])


def test_flop_cache_keeps_the_two_inference_paths_apart(tmp_path, monkeypatch):
    """The fast path's folded query-flow head is counted as it runs (fewer multiply-adds); the count
    cache must not hand one path's count to the other (regression: it did, by test order)."""
    from mpvss_core.evaluation.costs import frame_gflops

    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))
    model, size = build_model("tiny").eval(), (64, 128)
    as_specified = frame_gflops(model, size, "non_key")
    model.use_fast_path(True)
    folded = frame_gflops(model, size, "non_key")
    assert folded == pytest.approx(count_flops(model, size, "non_key")) and folded < as_specified
    model.use_fast_path(False)
    assert frame_gflops(model, size, "non_key") == as_specified
