"""FlowNetS-style motion encoder on the [current, key] image pair (docs/method-notes.md §1.3-1.4).

Input preparation follows the official `prepare_imgs`: concatenate current then key frame (6 channels),
FlowNet normalisation `x/255 - mean` (not ImageNet), zero padding bottom/right to a multiple of 32 (so
nothing beyond the original size is non-zero), then a bilinear resize by `input_scale` (0.5). The encoder
is the FlowNetS / mmtracking `FlowNetSimple` layer table: plain convs with bias and LeakyReLU(0.1), no
normalisation, the first conv of every stage with stride 2.

Strides w.r.t. the padded frame (input_scale 0.5): conv1 /4, conv2 /8, conv3 /16, conv4 /32, conv5 /64,
conv6 /128. conv2 is the source of the per-pixel motion embedding and of the flow grid (1/8 of the
padded frame, half the mask-logit grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import FlowConfig
from .segmenter import pad_to_multiple, padded_size

__all__ = ["KeyHalf", "MotionEncoder", "prepare_flow_image", "prepare_flow_input"]

LEAKY_SLOPE = 0.1


def prepare_flow_image(
    image: Tensor, pixel_mean: Tensor, input_scale: float = 0.5, multiple: int = 32
) -> Tensor:
    """One Bx3xHxW image (RGB 0..255) -> its three normalised, padded, resized channels of the pair.

    Every step is per channel, so `prepare_flow_input(current, key)` is the concatenation of the two
    images' halves, and a key frame's half is prepared once for all the frames propagated from it
    (`KeyState.flow_input`).

    When no padding is needed the resize comes first: normalisation is per-channel affine and bilinear
    weights sum to one, so the order changes only the rounding, and the normalisation then touches a
    quarter of the pixels (input_scale 0.5). With padding it must come after, as the padded zeros are
    zeros of the normalised image.
    """
    x = image.to(pixel_mean.dtype)
    mean = pixel_mean.reshape(1, 3, 1, 1)
    height, width = x.shape[-2:]
    padded = padded_size(height, width, multiple)
    size = (round(padded[0] * input_scale), round(padded[1] * input_scale))
    if (height, width) == padded:
        if input_scale != 1.0:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return (x / 255.0).sub_(mean)
    x = pad_to_multiple(x / 255.0 - mean, multiple)
    if input_scale != 1.0:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


def prepare_flow_input(
    current: Tensor, key: Tensor, pixel_mean: Tensor, input_scale: float = 0.5, multiple: int = 32
) -> Tensor:
    """Bx3xHxW current + Bx3xHxW key (RGB 0..255) -> Bx6x(Hp*s)x(Wp*s) normalised flow-net input.

    The official `prepare_imgs`: concatenate, `x / 255 - mean`, zero padding after normalisation (the
    official "zero rows/columns beyond the original size"), bilinear resize; each image's half by
    `prepare_flow_image`.

    Args:
        current: the frame being predicted (first three channels, as the official order).
        key: the key frame (last three channels).
        pixel_mean: 6-vector (or broadcastable 1x6x1x1) subtracted after dividing by 255.
        input_scale: bilinear resize factor applied after padding (official 0.5).
        multiple: pad size (official 32, detectron2's size divisibility).
    """
    if current.shape != key.shape or current.dim() != 4 or current.shape[1] != 3:
        raise ValueError(
            f"expected two Bx3xHxW images of one size, got {tuple(current.shape)}, {tuple(key.shape)}"
        )
    mean = pixel_mean.reshape(6)
    return torch.cat(
        (
            prepare_flow_image(current, mean[:3], input_scale, multiple),
            prepare_flow_image(key, mean[3:], input_scale, multiple),
        ),
        dim=1,
    )


@dataclass
class KeyHalf:
    """A key frame's half of the encoder input, kept for all the frames propagated from it.

    Attributes:
        prepared: Bx3xhxw `prepare_flow_image(key)`.
        conv1: BxC1x(h/2)x(w/2) conv1's key-channel part plus its bias, on the fast inference path
            (`MotionEncoder.split`), else None.
    """

    prepared: Tensor
    conv1: Tensor | None = None


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=True),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    )


class MotionEncoder(nn.Module):
    """FlowNetS encoder: Bx6xhxw prepared pair -> [conv2, conv3, conv4, conv5, conv6] feature maps."""

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__()
        self.register_buffer(
            "pixel_mean", torch.tensor(cfg.pixel_mean * 2, dtype=torch.float32), persistent=False
        )
        self.input_scale = cfg.input_scale
        stages = []
        in_ch = 6
        for out_ch, kernel, n_convs in zip(
            cfg.encoder_channels, cfg.encoder_kernels, cfg.encoder_convs, strict=True
        ):
            layers = [_conv(in_ch, out_ch, kernel, stride=2)]
            layers += [_conv(out_ch, out_ch, 3, stride=1) for _ in range(n_convs - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)  # conv1 .. conv6
        self.out_channels = tuple(cfg.encoder_channels[1:])  # conv2 .. conv6
        self.split = False  # conv1's key part computed once per key frame (inference; see forward)
        self._init_weights()

    def _init_weights(self) -> None:
        # MSRA init for LeakyReLU, zero bias (FlowNetS); the official code loads no FlowNet weights
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)

    def prepare(self, image: Tensor) -> KeyHalf:
        """One key image's half of the encoder input (`prepare_flow_image`), with conv1's key part when
        `split` is on."""
        half = prepare_flow_image(image, self.pixel_mean[:3], self.input_scale)
        if not self.split:
            return KeyHalf(half)
        conv = self.stages[0][0][0]  # conv1 (then its LeakyReLU)
        return KeyHalf(half, F.conv2d(half, conv.weight[:, 3:], conv.bias, conv.stride, conv.padding))

    def forward(self, current: Tensor, key: Tensor, key_prepared: KeyHalf | None = None) -> list[Tensor]:
        """Encode the pair.

        conv1 is linear in its six input channels, so conv1([current; key]) = conv1_current(current) +
        conv1_key(key) + bias: with `split` on (the fast inference path) the key's part, the same for
        every frame of the key, comes computed in `key_prepared.conv1` and only the current frame's three
        channels are convolved (the same values up to rounding). Off (the default, and always in
        training) it is the one conv over the concatenation, as the official code.

        Args:
            current: Bx3xHxW frame being predicted, RGB 0..255.
            key: Bx3xHxW key frame, RGB 0..255.
            key_prepared: `prepare(key)` when already computed (it is reused for a key's frames).
        Returns:
            [conv2, conv3, conv4, conv5, conv6], conv_i of shape BxC_ix(h/2^i)x(w/2^i) for the prepared
            input size hxw (ceil division at the odd sizes of conv5/conv6).
        """
        feats: list[Tensor] = []
        if key_prepared is None:
            x = prepare_flow_input(current, key, self.pixel_mean, self.input_scale)
        else:
            cur = prepare_flow_image(current, self.pixel_mean[:3], self.input_scale)
            if key_prepared.conv1 is not None and self.split and not torch.is_grad_enabled():
                conv, act = self.stages[0][0]
                x = F.conv2d(cur, conv.weight[:, :3], None, conv.stride, conv.padding)
                x = x.add_(key_prepared.conv1)
                x = self.stages[0][1:](act(x))  # the rest of stage 1
                feats.append(x)
            else:
                x = torch.cat((cur, key_prepared.prepared.expand(cur.shape[0], -1, -1, -1)), dim=1)
        for stage in self.stages[len(feats) :]:
            x = stage(x)
            feats.append(x)
        return feats[1:]
