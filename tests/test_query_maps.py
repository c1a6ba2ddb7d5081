"""query_maps: numpy per-query views agree with the engine's torch conventions (frame_result.winner_flow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mpvss_core.data.synthetic import render_clip
from mpvss_core.modeling.warp import resize_flow
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model
from mpvss_core.viz.query_maps import (
    grid_flow_to_frame,
    query_mask_probs,
    query_table,
    sigmoid,
    winner_queries,
)


def test_grid_flow_matches_resize_flow_and_crops_padding() -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(2, 9, 17)).astype(np.float32)  # grid of a frame padded to 72x136
    size = (70, 130)
    ours = grid_flow_to_frame(flow, size)
    ref = resize_flow(torch.from_numpy(flow)[None], (72, 136))[0, :, :70, :130].permute(1, 2, 0).numpy()
    assert ours.shape == (70, 130, 2)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_constant_grid_flow_is_scaled_by_the_grid_step() -> None:
    flow = np.stack([np.full((4, 8), 1.5), np.full((4, 8), -0.5)]).astype(np.float32)
    out = grid_flow_to_frame(flow, (32, 64))
    np.testing.assert_allclose(out[..., 0], 12.0, atol=1e-5)
    np.testing.assert_allclose(out[..., 1], -4.0, atol=1e-5)
    with pytest.raises(ValueError):
        grid_flow_to_frame(flow, (40, 64))  # the grid does not cover the frame


def test_query_table_sorts_by_area_then_class() -> None:
    winner = np.array([[0, 0, 2], [2, 2, 2]])
    probs = np.array([[0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.7, 0.2, 0.1]])  # Q=3, K=2 (+ no object)
    table = query_table(winner, probs, ["road", "car"])
    assert table["query"].tolist() == [2, 0]  # query 1 wins nothing
    assert table["area"].tolist() == [4, 2]
    assert table["category"].tolist() == ["road", "car"]
    assert table["area_pct"].sum() == pytest.approx(100.0)


def test_winner_flow_of_a_learned_method_is_reproduced() -> None:
    torch.manual_seed(0)
    clip = render_clip(900000, 3, (64, 128))
    predictor = VideoPredictor(resolve_model("tiny"), "query_flow", device="cpu")
    results = list(predictor.propagate(predictor.init_video(clip, 3), diagnostics=True))
    r = results[1]
    assert not r.is_key
    winner = winner_queries(r.mask_logits, r.class_probs, r.labels)
    per_query = np.stack([grid_flow_to_frame(f, r.labels.shape) for f in r.fused_flow])  # QxHxWx2
    rebuilt = np.take_along_axis(per_query, winner[None, ..., None], axis=0)[0]
    agree = np.isclose(rebuilt, r.flow, atol=1e-3).all(-1).mean()
    assert agree > 0.99  # ties between equal scores may pick another query at a few pixels
    probs = query_mask_probs(r.mask_logits, r.labels.shape)
    assert probs.shape == (r.mask_logits.shape[0], 64, 128) and 0 <= probs.min() <= probs.max() <= 1


def test_mask_probabilities_of_extreme_logits_raise_no_overflow_warning() -> None:
    # warped mask logits far from a segment reach -1e4 and beyond: 1 + exp(-x) overflowed float32
    logits = np.array([[[-1e6, -1e4, -100.0, 0.0], [100.0, 1e4, 1e6, -88.0]]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow in exp) fails the test
        probs = query_mask_probs(np.repeat(np.repeat(logits, 8, 1), 8, 2), (64, 128))
        exact = sigmoid(np.linspace(-30, 30, 61, dtype=np.float32))
    assert probs.min() == 0.0 and probs.max() == 1.0 and np.isfinite(probs).all()
    np.testing.assert_allclose(exact, 1 / (1 + np.exp(-np.linspace(-30, 30, 61))), rtol=1e-5, atol=1e-7)
