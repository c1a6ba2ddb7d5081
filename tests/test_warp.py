"""Backward warping: pixel convention, flow resizing, compat vs exact normaliser, gradients."""

from __future__ import annotations

import pytest
import torch

from mpvss_core.modeling.warp import backward_warp, resize_flow


def _const_flow(n: int, h: int, w: int, dx: float, dy: float) -> torch.Tensor:
    flow = torch.zeros(n, 2, h, w)
    flow[:, 0] = dx
    flow[:, 1] = dy
    return flow


@pytest.mark.parametrize("mode", ["exact", "compat"])
def test_zero_flow_is_identity_in_exact_mode_only(mode):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 13)
    out = backward_warp(x, torch.zeros(2, 2, 9, 13), mode=mode)
    assert out.shape == x.shape
    if mode == "exact":
        torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    else:  # compat shifts everything but the top-left pixel
        assert torch.allclose(out[..., 0, 0], x[..., 0, 0], atol=1e-5)
        assert not torch.allclose(out, x, atol=1e-3)


@pytest.mark.parametrize(("dx", "dy"), [(2, -1), (-3, 2), (0, 1)])
def test_integer_flow_is_a_shift_in_the_interior(dx, dy):
    torch.manual_seed(1)
    x = torch.randn(1, 2, 12, 16)
    out = backward_warp(x, _const_flow(1, 12, 16, dx, dy))
    # out[y, x] = x[y + dy, x + dx] wherever the source lies inside the frame
    ys = slice(max(0, -dy), 12 - max(0, dy))
    xs = slice(max(0, -dx), 16 - max(0, dx))
    src_ys = slice(ys.start + dy, ys.stop + dy)
    src_xs = slice(xs.start + dx, xs.stop + dx)
    torch.testing.assert_close(out[..., ys, xs], x[..., src_ys, src_xs], atol=1e-5, rtol=0)


def test_out_of_frame_samples_copy_the_border():
    x = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 4, 10).contiguous()
    out = backward_warp(x, _const_flow(1, 4, 10, 50.0, 0.0))
    torch.testing.assert_close(out, torch.full_like(x, 9.0))


def test_fractional_flow_interpolates_bilinearly():
    x = torch.arange(10.0).view(1, 1, 1, 10).expand(1, 1, 3, 10).contiguous()  # horizontal ramp
    out = backward_warp(x, _const_flow(1, 3, 10, 0.25, 0.0))
    torch.testing.assert_close(out[..., :9], x[..., :9] + 0.25, atol=1e-5, rtol=0)


def test_low_resolution_flow_is_upsampled_and_scaled():
    torch.manual_seed(2)
    x = torch.randn(3, 1, 16, 20)
    # 1 px of a half-resolution grid == 2 px of the full-resolution grid
    half = backward_warp(x, _const_flow(3, 8, 10, 1.0, 1.0))
    full = backward_warp(x, _const_flow(3, 16, 20, 2.0, 2.0))
    torch.testing.assert_close(half, full, atol=1e-5, rtol=0)
    torch.testing.assert_close(half[..., :14, :18], x[..., 2:, 2:], atol=1e-5, rtol=0)


def test_resize_flow_scales_each_axis_by_its_own_ratio():
    flow = _const_flow(1, 4, 5, 1.5, -0.5)
    big = resize_flow(flow, (16, 10))  # H x4, W x2
    torch.testing.assert_close(big[:, 0], torch.full((1, 16, 10), 3.0))
    torch.testing.assert_close(big[:, 1], torch.full((1, 16, 10), -2.0))
    assert resize_flow(flow, (4, 5)) is flow


def test_compat_mode_shifts_toward_top_left_growing_to_one_pixel():
    height, width = 8, 40
    ramp_x = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width).expand(1, 1, height, width)
    ramp_y = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1).expand(1, 1, height, width)
    x = torch.cat((ramp_x, ramp_y), dim=1).contiguous()
    zero = torch.zeros(1, 2, height, width)
    exact = backward_warp(x, zero, mode="exact")
    compat = backward_warp(x, zero, mode="compat")
    torch.testing.assert_close(exact, x, atol=1e-4, rtol=0)
    # compat samples coordinate p at p * (W-1) / W: a shift of p / W toward the left (and top)
    shift_x = (exact - compat)[0, 0]
    shift_y = (exact - compat)[0, 1]
    expected_x = torch.arange(width, dtype=torch.float32) / width
    expected_y = torch.arange(height, dtype=torch.float32) / height
    torch.testing.assert_close(shift_x, expected_x.expand(height, width), atol=1e-4, rtol=0)
    torch.testing.assert_close(shift_y, expected_y.view(height, 1).expand(height, width), atol=1e-4, rtol=0)
    assert shift_x[:, 0].abs().max() < 1e-5  # 0 at the left edge
    assert shift_x[:, -1].min() > 0.95  # ~1 px at the right edge
    assert shift_y[-1].min() > (height - 1) / height - 1e-4


def test_gradients_reach_the_flow_through_grid_sample():
    torch.manual_seed(3)
    x = torch.randn(2, 1, 10, 12, requires_grad=True)
    flow = (0.3 * torch.randn(2, 2, 5, 6)).requires_grad_(True)
    backward_warp(x, flow).square().sum().backward()
    assert flow.grad is not None and torch.isfinite(flow.grad).all() and flow.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_bad_shapes_and_modes_are_rejected():
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError):
        backward_warp(x, torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError):
        backward_warp(x, torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError):
        backward_warp(x, torch.zeros(2, 2, 4, 4), mode="nearest")


def test_compat_mode_equals_the_official_formula():
    """mmtracking `flow_warp_feats` as docs/method-notes.md §1.9 describes it, written out independently."""
    torch.manual_seed(4)
    x = torch.randn(3, 1, 12, 20)
    flow = 2.0 * torch.randn(3, 2, 6, 10)
    scale = x.shape[-1] / flow.shape[-1]
    up = (
        torch.nn.functional.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False)
        * scale
    )
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(20.0), indexing="ij")
    gx = (xs + up[:, 0]) / 20 * 2 - 1
    gy = (ys + up[:, 1]) / 12 * 2 - 1
    grid = torch.stack((gx, gy), dim=-1)
    official = torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    torch.testing.assert_close(backward_warp(x, flow, mode="compat"), official)


def test_a_warp_under_fake_tensors_leaves_no_fake_grid_behind():
    """FLOP counting runs the model under FakeTensorMode; the cached pixel grid must stay real."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode() as mode:
        backward_warp(mode.from_tensor(torch.zeros(1, 1, 7, 9)), mode.from_tensor(torch.zeros(1, 2, 7, 9)))
    out = backward_warp(torch.ones(1, 1, 7, 9), torch.zeros(1, 2, 7, 9))
    assert type(out) is torch.Tensor and torch.equal(out, torch.ones(1, 1, 7, 9))
