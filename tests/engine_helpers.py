"""Shared helpers of the engine tests (methods, predictor, evaluation, CLI)."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.config import NUM_SYNTH_CLASSES
from mpvss_core.data.synthetic import render_clip
from mpvss_core.methods import method_config, method_spec
from mpvss_core.methods.runners import build_propagator
from mpvss_core.modeling.segmenter import SegmenterOutput, pad_to_multiple
from mpvss_core.predictor import VideoPredictor

SIZE = (64, 128)


class ColourSegmenter(nn.Module):
    """Deterministic stand-in for the key-frame segmenter whose labels follow the image content.

    A randomly initialised Mask2Former predicts one class everywhere, which would make "equals copy"
    or "uses the next key frame" hold trivially; here each query's mask logit is linear in the local
    colour, so labels change wherever the picture does. Same output contract as KeyFrameSegmenter.
    """

    def __init__(self, num_queries: int = 32, hidden_dim: int = 128, num_classes: int = NUM_SYNTH_CLASSES):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.colour = nn.Parameter(torch.randn(num_queries, 3, generator=g) * 12)
        self.bias = nn.Parameter(torch.randn(num_queries, generator=g))
        self.cls = nn.Parameter(torch.randn(num_queries, num_classes + 1, generator=g) * 4)
        self.feat = nn.Parameter(torch.randn(num_queries, hidden_dim, generator=g))
        self.num_queries, self.hidden_dim, self.num_classes = num_queries, hidden_dim, num_classes

    def forward(self, images: torch.Tensor, return_aux: bool = False) -> SegmenterOutput:
        x = F.avg_pool2d(pad_to_multiple(images / 255.0 - 0.5), 4)
        mask = torch.einsum("qc,bchw->bqhw", self.colour, x) + self.bias[:, None, None]
        b = images.shape[0]
        return SegmenterOutput(
            class_logits=self.cls.expand(b, -1, -1),
            mask_logits=mask,
            query_features=self.feat.expand(b, -1, -1),
        )


@cache
def stub_model(method: str = "query_flow"):
    """The tiny model of `method`'s flow module (random, seed 0) with the ColourSegmenter."""
    torch.manual_seed(0)
    model = build_model(method_config("tiny", method))
    model.segmenter = ColourSegmenter()
    return model.eval()


def stub_method(name: str):
    """The propagator of method `name` on its stub model (segmenter-only methods share query_flow's)."""
    spec = method_spec(name)
    return build_propagator(name, stub_model(spec.weights or "query_flow"))


def stub_predictor(name: str) -> VideoPredictor:
    """A VideoPredictor around `stub_method(name)`."""
    return VideoPredictor.from_propagator(stub_method(name))


@cache
def small_clip(seed: int = 900_000, num_frames: int = 6):
    return render_clip(seed, num_frames=num_frames, size=SIZE)


def run_labels(method, frames, schedule) -> list[np.ndarray]:
    return [r.labels for r in method.run(frames, schedule)]


def tiny_bundle(path, method: str = "query_flow"):
    """A model bundle of the tiny preset in `path`: a segmenter and one `method` variant (random weights,
    recorded as trained by the test), for the load-path and app tests."""
    from mpvss_core.checkpoints.bundle import save_partial, write_bundle_index
    from mpvss_core.checkpoints.checkpoint import save_checkpoint

    torch.manual_seed(0)
    seg = build_model("tiny")
    save_checkpoint(seg, path / "segmenter", trained={"segmenter": "test"})
    model = build_model(method_config("tiny", method))
    model.segmenter.load_state_dict(seg.segmenter.state_dict())
    save_partial(model, path / method, path / "segmenter", dtype=torch.float32)
    write_bundle_index(path, "segmenter", {method: method})
    return path
