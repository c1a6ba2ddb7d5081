"""Model structure: presets, variants, shapes, freezing, attention maps, determinism, switches."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.config import PAPER_PRESETS, PRESETS, MPVSSConfig, get_preset
from mpvss_core.errors import InputError
from mpvss_core.evaluation.flops import count_parameters
from mpvss_core.labels import SYNTH_CLASSES
from mpvss_core.methods import METHODS, method_config
from mpvss_core.modeling.mpvss import MPVSS, semantic_inference

H, W = 64, 128  # tiny test frames; padded size = the same, masks 16x32, flows 8x16


def _frames(seed: int, n: int = 2, size: tuple[int, int] = (H, W)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, *size, generator=g) * 255


def _build(cfg: MPVSSConfig | str = "tiny", seed: int = 0) -> MPVSS:
    torch.manual_seed(seed)
    return build_model(cfg)


def _randomise_fusion(model: MPVSS, seed: int = 0) -> None:
    """The fusion conv starts at weight 0 (constant flow); give it weights so every branch matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        conv = model.flow.decoder.fusion.conv
        conv.weight.copy_(0.05 * torch.randn(conv.weight.shape, generator=g))


# --- configs -------------------------------------------------------------------------------------


def test_tiny_is_the_synthetic_label_space_and_the_default():
    assert get_preset("tiny") == MPVSSConfig()
    assert get_preset("tiny").segmenter.num_classes == len(SYNTH_CLASSES)


def test_unknown_preset_and_method_are_explained():
    with pytest.raises(KeyError, match="tiny"):
        get_preset("swin_xl")
    with pytest.raises(InputError, match="query_flow"):
        method_config("tiny", "raft")


def test_config_json_round_trip():
    for name, cfg in PRESETS.items():
        assert MPVSSConfig.from_dict(cfg.to_dict()) == cfg, name
    with pytest.raises(ValueError, match="bogus"):
        MPVSSConfig.from_dict({**MPVSSConfig().to_dict(), "bogus": 1})


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_scale_presets_on_meta(name):
    cfg = get_preset(name)
    assert cfg.segmenter.num_queries == 100 and cfg.segmenter.decoder_layers == 10
    assert cfg.segmenter.num_classes == 124 and cfg.flow.num_layers == 9
    model = build_model(name, device="meta")
    counts = count_parameters(model)
    # official flow module: ~40.09 M (docs/method-notes.md §1.11)
    assert counts["flow"] == pytest.approx(40.09e6, rel=0.01)
    # HF Mask2Former = the official segmenter: 9 masked-attention layers -> 10 predictions
    assert len(model.segmenter.mask2former.model.transformer_module.decoder.layers) == 9
    # Mask2Former sizes: Swin-T ~47 M, Swin-S ~69 M, Swin-B ~107 M, Swin-L ~216 M (124 classes)
    expected = {"swin_t": 47e6, "swin_s": 69e6, "swin_b": 107e6, "swin_l": 216e6}[name]
    assert counts["segmenter"] == pytest.approx(expected, rel=0.03)


def test_flow_module_parameter_budget_by_part():
    model = build_model("swin_t", device="meta")
    flow = model.flow

    def n(module):
        return sum(p.numel() for p in module.parameters())

    dec = flow.decoder
    assert n(flow.encoder) == 24_050_752  # FlowNetS conv1..conv6
    layers = sum(n(layer) for layer in dec.transformer.layers)
    assert layers + n(dec.query_flow_head.query_norm) == pytest.approx(11.84e6, rel=1e-3)
    assert n(dec.query_flow_head.query_mlp) + n(dec.query_flow_head.motion_mlp) == pytest.approx(
        1.12e6, rel=1e-2
    )
    assert n(dec.pixel_decoder) == pytest.approx(2.53e6, rel=1e-3)
    assert isinstance(dec.transformer.query_input_proj, torch.nn.Identity)  # 256 == 256: no projection


# --- variants ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        "query_flow",
        "query_learned",
        "pixel_flow",
        "query_flow_noinit",
        "stages_1",
        "stages_2",
        "stages_4",
        "compat",
    ],
)
def test_every_variant_builds_and_runs(method):
    if method == "compat":  # the official /W warping normaliser
        cfg = dataclasses.replace(get_preset("tiny"), warp_mode="compat")
        method = "query_flow"
    else:
        cfg = method_config("tiny", method)
    model = _build(cfg).eval()
    key_frames, frames = _frames(1), _frames(2)
    with torch.no_grad():
        key = model.segment_key(key_frames, return_aux=True)
        prop = model.propagate(key, frames, return_flows=True, return_attention=True, all_stages=True)
        scores = model.semantic_inference(prop.class_logits, prop.mask_logits, (H, W))
    q, k = cfg.segmenter.num_queries, cfg.segmenter.num_classes
    assert key.class_logits.shape == (2, q, k + 1)
    assert key.mask_logits.shape == prop.mask_logits.shape == (2, q, H // 4, W // 4)
    assert key.query_features.shape == (2, q, cfg.segmenter.hidden_dim)
    assert prop.flow.shape == (2, q, 2, H // 8, W // 8)
    assert len(prop.aux_mask_logits) == cfg.segmenter.decoder_layers - 1
    assert scores.shape == (2, k, H, W)
    assert torch.equal(prop.class_logits, key.class_logits)  # classes come from the key frame
    for t in (prop.mask_logits, prop.flow, scores, *prop.aux_mask_logits):
        assert torch.isfinite(t).all()
    if method == "pixel_flow":
        assert prop.query_flow is None and prop.attention is None
        assert prop.pixel_flow.shape == prop.flow.shape
    else:
        assert prop.query_flow.shape == prop.flow.shape
        assert len(prop.attention) == cfg.flow.num_layers
    if method == "query_learned":
        assert prop.pixel_flow is None
        torch.testing.assert_close(prop.flow, prop.query_flow)


def test_segmenter_only_methods_keep_the_preset():
    for method in ("per_frame", "copy", "optical_flow", "bi_optical_flow", "query_flow", "stages_3"):
        assert method_config("tiny", method) == get_preset("tiny")
    assert method_config("tiny", "bi_pixel_flow") == method_config("tiny", "pixel_flow")  # its flow module
    assert set(METHODS) >= {"query_flow", "query_learned", "pixel_flow", "query_flow_noinit"}


def test_pixel_flow_variant_has_no_query_flow_parameters():
    model = _build(method_config("tiny", "pixel_flow")).train()
    names = [n for n, _ in model.flow.named_parameters()]
    assert not [n for n in names if any(s in n for s in ("transformer", "query", "fusion", "motion_mlp"))]
    key = model.segment_key(_frames(1))
    model.propagate(key, _frames(2)).mask_logits.square().mean().backward()
    for name, p in model.flow.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name  # every flow parameter is used


# --- segmenter -------------------------------------------------------------------------------


def test_segmenter_matches_the_hf_heads_and_pads_to_32():
    model = _build().eval()
    images = _frames(3, n=1, size=(60, 100))  # padded to 64x128
    seg = model.segmenter
    with torch.no_grad():
        out = seg(images, return_aux=True)
        hf = seg.mask2former(pixel_values=seg.preprocess(images), output_hidden_states=True)
        ln_q = seg.decoder_layernorm(hf.transformer_decoder_last_hidden_state)
    assert seg.preprocess(images).shape == (1, 3, 64, 128)
    assert out.mask_logits.shape == (1, 32, 16, 32)
    torch.testing.assert_close(out.class_logits, hf.class_queries_logits)
    torch.testing.assert_close(out.mask_logits, hf.masks_queries_logits)
    # Q_O^k is the LayerNorm-ed last state (the HF field is the state before the norm)
    torch.testing.assert_close(out.query_features, ln_q)
    torch.testing.assert_close(seg.class_predictor(out.query_features), out.class_logits)


def test_semantic_inference_crops_the_padding():
    torch.manual_seed(4)
    cls = torch.randn(1, 5, 4)
    masks = torch.randn(1, 5, 16, 32)
    full = semantic_inference(cls, masks, (64, 128))
    cropped = semantic_inference(cls, masks, (60, 100))
    assert full.shape == (1, 3, 64, 128) and cropped.shape == (1, 3, 60, 100)
    torch.testing.assert_close(cropped, full[..., :60, :100])
    # spatially constant masks upsample exactly: scores = sum_q softmax(cls)[q, c] * sigmoid(mask[q])
    level = torch.randn(1, 5, 1, 1)
    flat = semantic_inference(cls, level.expand(1, 5, 16, 32), (60, 100))
    expected = torch.einsum("bqc,bq->bc", cls.softmax(-1)[..., :-1], level.flatten(1).sigmoid())
    torch.testing.assert_close(flat, expected.view(1, 3, 1, 1).expand(1, 3, 60, 100))


# --- training setup ----------------------------------------------------------------------------


def test_frozen_segmenter_only_flow_and_heads_get_gradients():
    model = _build()
    model.freeze_segmenter().train()
    _randomise_fusion(model)  # with the zero-init fusion conv, upstream flow gradients are exactly 0
    seg = model.segmenter
    assert not seg.training and not seg.mask2former.model.training  # frozen parts stay in eval()
    assert seg.class_predictor.training and seg.mask_embedder.training
    key = model.segment_key(_frames(1), return_aux=True)
    prop = model.propagate(key, _frames(2), all_stages=True)
    scores = model.semantic_inference(prop.class_logits, prop.mask_logits, (H, W))
    loss = scores.square().mean() + sum(m.square().mean() for m in prop.aux_mask_logits)
    loss.backward()

    head_prefixes = (
        "segmenter.mask2former.class_predictor.",
        "segmenter.mask2former.model.transformer_module.decoder.mask_predictor.mask_embedder.",
    )
    expected = {n for n, _ in model.named_parameters() if n.startswith(("flow.", *head_prefixes))}
    assert set(model.trainable_parameter_names()) == expected
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    assert got == expected
    for name, p in model.named_parameters():
        if name in expected:
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # eval() then train() again: the frozen segmenter never flips back to train mode
    model.eval().train()
    assert not seg.mask2former.model.pixel_level_module.training


# --- switches ---------------------------------------------------------------------------------


def test_fusion_init_gives_constant_plus_one_flow():
    model = _build().eval()
    with torch.no_grad():
        prop = model.propagate(model.segment_key(_frames(1)), _frames(2), return_flows=True)
    assert torch.equal(prop.flow, torch.ones_like(prop.flow))
    assert not torch.equal(prop.query_flow, torch.ones_like(prop.query_flow))  # branches are live


def test_zero_fusion_bias_propagates_the_key_masks_unchanged():
    cfg = get_preset("tiny")
    cfg = dataclasses.replace(cfg, flow=dataclasses.replace(cfg.flow, fuse_bias_init=0.0))
    model = _build(cfg).eval()
    with torch.no_grad():
        key = model.segment_key(_frames(1))
        prop = model.propagate(key, _frames(2))
    torch.testing.assert_close(prop.mask_logits, key.mask_logits, atol=1e-4, rtol=0)


def test_query_init_switch_changes_the_output():
    with_init = _build(seed=5).eval()
    without = _build(method_config("tiny", "query_flow_noinit"), seed=5).eval()
    missing, unexpected = without.load_state_dict(with_init.state_dict(), strict=False)
    # the only difference in parameters: the 128 -> 64 projection of Q_O^k, unused without init
    assert not missing and all("query_input_proj" in k for k in unexpected) and unexpected
    _randomise_fusion(with_init)
    _randomise_fusion(without)
    key_frames, frames = _frames(1), _frames(2)
    with torch.no_grad():
        key = with_init.segment_key(key_frames)
        a = with_init.propagate(key, frames, return_flows=True)
        b = without.propagate(key, frames, return_flows=True)
        # without init, Q_O^k has no influence at all
        key_other = dataclasses.replace(key, query_features=torch.randn_like(key.query_features))
        b_other = without.propagate(key_other, frames, return_flows=True)
    assert not torch.allclose(a.query_flow, b.query_flow)
    assert not torch.allclose(a.mask_logits, b.mask_logits)
    assert torch.equal(b.query_flow, b_other.query_flow)


def test_determinism_bit_exact_on_cpu():
    outs = []
    for _ in range(2):
        model = _build(seed=7).eval()
        _randomise_fusion(model, seed=8)
        with torch.no_grad():
            key = model.segment_key(_frames(1))
            outs.append(model.propagate(key, _frames(2), return_flows=True))
    assert torch.equal(outs[0].mask_logits, outs[1].mask_logits)
    assert torch.equal(outs[0].query_flow, outs[1].query_flow)
    assert torch.equal(outs[0].pixel_flow, outs[1].pixel_flow)


def test_propagate_rejects_a_frame_of_another_size():
    model = _build().eval()
    with torch.no_grad():
        key = model.segment_key(_frames(1))
        with pytest.raises(ValueError, match="shape"):
            model.propagate(key, _frames(2, size=(H, W + 32)))
        with pytest.raises(ValueError, match="return_aux"):
            model.propagate(key, _frames(2), all_stages=True)


# --- attention maps ------------------------------------------------------------------------------


def test_attention_maps_are_normalised_per_scale():
    size = (128, 256)  # half res 64x128: conv4 4x8, conv5 2x4, conv6 1x2
    model = _build().eval()
    _randomise_fusion(model)
    key_frames, frames = _frames(1, size=size), _frames(2, size=size)
    with torch.no_grad():
        key = model.segment_key(key_frames)
        with_maps = model.propagate(key, frames, return_attention=True)
        fast = model.propagate(key, frames)
    expected_hw = {"conv6": (1, 2), "conv5": (2, 4), "conv4": (4, 8)}
    attention = with_maps.attention
    assert [a.scale for a in attention] == ["conv6", "conv5", "conv4"] * 3
    assert [a.stage for a in attention] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for a in attention:
        assert a.maps.shape == (2, 32, *expected_hw[a.scale])
        assert a.motion_mass.shape == (2, 32)
        assert (a.maps >= 0).all()
        torch.testing.assert_close(a.maps.sum((-2, -1)), torch.ones(2, 32))
        assert ((a.motion_mass > 0) & (a.motion_mass <= 1 + 1e-6)).all()
    assert fast.attention is None
    # the explicit-weights path computes the same propagation as the fused one
    torch.testing.assert_close(with_maps.mask_logits, fast.mask_logits, atol=1e-4, rtol=1e-4)


def test_attention_maps_equal_a_manual_softmax():
    model = _build().eval()
    layer = model.flow.decoder.transformer.layers[0]
    torch.manual_seed(9)
    x = torch.randn(1, 32 + 6, 64)
    with torch.no_grad():
        _, weights = layer(x, need_weights=True)
        attn = layer.self_attn
        q, k, _ = torch.nn.functional.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        heads = attn.num_heads
        q = q.view(1, -1, heads, 64 // heads).transpose(1, 2)
        k = k.view(1, -1, heads, 64 // heads).transpose(1, 2)
        manual = ((q @ k.transpose(-1, -2)) / (64 // heads) ** 0.5).softmax(-1).mean(1)
    torch.testing.assert_close(weights, manual, atol=1e-5, rtol=1e-4)


def test_fast_semantic_labels_equal_the_reference_on_random_inputs(monkeypatch):
    """`semantic_labels` (by cells from bounds, and every pixel: channels-last upsampling, banded,
    first-argmax) = argmax of the reference scores, for one part and a weighted pair (the
    bi-directional fusion), frames of odd sizes, bands and chunks, masks from flat to sharp."""
    from mpvss_core.modeling import semantic
    from mpvss_core.modeling.mpvss import first_argmax, semantic_labels

    # random masks leave most cells undecided: keep the cell path (corners gathered) even then
    monkeypatch.setattr(semantic, "UNDECIDED_DENSE", 1.0)

    g = torch.Generator().manual_seed(0)
    for size in ((64, 128), (61, 100), (30, 45)):
        hp, wp = -(-size[0] // 32) * 32, -(-size[1] // 32) * 32
        for scale in (0.5, 4.0, 30.0):
            c1, c2 = (torch.randn(2, 12, 6, generator=g) * 3 for _ in range(2))
            m1, m2 = (torch.randn(2, 12, hp // 4, wp // 4, generator=g) * scale for _ in range(2))
            ref = semantic_inference(c1, m1, size).argmax(1)
            fused = 0.25 * semantic_inference(c1, m1, size) + 0.75 * semantic_inference(c2, m2, size)
            fused = fused.argmax(1)
            for cells in (True, False):
                assert torch.equal(semantic_labels([(c1, m1, 1.0)], size, cells=cells).long(), ref)
                bands = semantic_labels([(c1, m1, 1.0)], size, tile_elements=5000, cells=cells)
                assert torch.equal(bands.long(), ref)
                pair = semantic_labels([(c1, m1, 0.25), (c2, m2, 0.75)], size, cells=cells)
                assert torch.equal(pair.long(), fused)
    ties = torch.tensor([[1.0, 2.0, 2.0], [2.0, 2.0, 0.0], [0.0, 2.0, 2.0]])
    assert first_argmax(ties).tolist() == ties.argmax(0).tolist() == [1, 0, 0]  # argmax's tie rule


def test_cells_decide_smooth_masks_from_bounds_and_stay_exact():
    """Masks that vary slowly (as trained ones do inside segments) are decided 16 pixels at a time from
    the corners' bounds; only the cells at a boundary are scored pixel by pixel, and the labels are
    the reference's."""
    from mpvss_core.modeling.semantic import decided_fraction, semantic_labels

    g = torch.Generator().manual_seed(1)
    size = (128, 256)
    coarse = torch.randn(1, 10, 4, 8, generator=g) * 8
    masks = F.interpolate(coarse, size=(32, 64), mode="bilinear", align_corners=False)  # smooth
    classes = torch.randn(1, 10, 8, generator=g) * 4
    parts = [(classes, masks, 1.0)]
    assert 0.6 < decided_fraction(parts, size) < 1.0
    ref = semantic_inference(classes, masks, size).argmax(1)
    assert torch.equal(semantic_labels(parts, size).long(), ref)
    # masks that change sign from pixel to pixel leave most cells undecided: the pixel path serves them
    noisy = torch.randn(1, 10, 32, 64, generator=g) * 30
    assert decided_fraction([(classes, noisy, 1.0)], size) < 0.5
    ref = semantic_inference(classes, noisy, size).argmax(1)
    assert torch.equal(semantic_labels([(classes, noisy, 1.0)], size).long(), ref)
    # two queries, two classes, a sharp vertical edge: only the cell column on the edge is undecided
    edge = torch.full((1, 2, 16, 32), -10.0)
    edge[0, 0, :, :16], edge[0, 1, :, 16:] = 10.0, 10.0
    cls = torch.tensor([[[5.0, -5.0, -5.0], [-5.0, 5.0, -5.0]]])
    parts = [(cls, edge, 1.0)]
    assert decided_fraction(parts, (64, 128)) == pytest.approx(1 - 1 / 33)  # cell 16 of 0..32 meets both
    labels = semantic_labels(parts, (64, 128))[0]
    assert (labels[:, :62] == 0).all() and (labels[:, 66:] == 1).all()
    assert torch.equal(labels.long(), semantic_inference(cls, edge, (64, 128)).argmax(1)[0])
