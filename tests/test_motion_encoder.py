"""The flow network's input preparation: the official `prepare_imgs` formula, in either order."""

import torch
import torch.nn.functional as F

from mpvss_core.modeling.motion_encoder import prepare_flow_image, prepare_flow_input
from mpvss_core.modeling.segmenter import pad_to_multiple


def _official(current, key, mean, scale=0.5):
    """concat, x / 255 - mean, zero padding to a multiple of 32, bilinear resize.

    The official order, docs/method-notes.md §1.4."""
    x = torch.cat((current, key), 1) / 255.0 - mean.view(1, 6, 1, 1)
    x = pad_to_multiple(x, 32)
    size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def test_prepare_flow_input_equals_the_official_formula_with_and_without_padding():
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor([0.41, 0.43, 0.45, 0.41, 0.43, 0.45])
    for height, width in ((64, 96), (50, 70)):  # no padding (resize first), padding (normalise first)
        current = torch.randint(0, 256, (2, 3, height, width), generator=g).float()
        key = torch.randint(0, 256, (2, 3, height, width), generator=g).float()
        ours = prepare_flow_input(current, key, mean)
        ref = _official(current, key, mean)
        assert ours.shape == ref.shape == (2, 6, -(-height // 32) * 16, -(-width // 32) * 16)
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)  # rounding only
        # the padded rows/columns are zeros of the normalised image, not -mean
        if height % 32:
            assert ours[:, :, -1].abs().max() < 1e-6
        # one image's half is the same whether prepared alone (a key frame's, reused) or in the pair
        assert torch.equal(ours[:, 3:], prepare_flow_image(key, mean[3:]))


def test_split_conv1_and_folded_query_flow_head_equal_the_official_layers():
    """The fast path's two re-associations (conv1's key half once per key frame; MLP_scale's last
    layer folded into the queries) give the official values up to rounding, also for a batch."""
    from mpvss_core.checkpoints.checkpoint import build_model

    torch.manual_seed(0)
    model = build_model("tiny").eval()
    g = torch.Generator().manual_seed(1)
    key = torch.randint(0, 256, (1, 3, 64, 96), generator=g).float()
    frames = torch.randint(0, 256, (3, 3, 64, 96), generator=g).float()
    with torch.no_grad():
        state = model.segment_key(key)
        ref = model.propagate(state, frames, return_flows=True)
        encoder, head = model.flow.encoder, model.flow.decoder.query_flow_head
        encoder.split = head.fold = True
        state.flow_input = None  # re-prepared with conv1's key part
        fast = model.propagate(state, frames, return_flows=True)
    assert state.flow_input.conv1 is not None
    torch.testing.assert_close(fast.query_flow, ref.query_flow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.flow, ref.flow, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast.mask_logits, ref.mask_logits, atol=1e-4, rtol=1e-4)
    # with gradients (training) the official layers run, whatever the flags say: the reference exactly
    trained = model.propagate(state, frames, return_flows=True)
    assert torch.equal(trained.flow.detach(), ref.flow)
