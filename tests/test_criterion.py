"""Mask2Former set loss: targets from label maps, matching-invariant behaviour, weights, deep supervision."""

from __future__ import annotations

import re

import pytest
import torch

from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion, semantic_targets

K = 5


def _labels() -> torch.Tensor:
    lab = torch.zeros(2, 32, 32, dtype=torch.long)
    lab[0, :, 16:] = 3
    lab[0, :4] = 255
    lab[1, :16] = 1
    lab[1, 16:] = 4
    return lab


def test_semantic_targets_one_mask_per_present_class_ignore_excluded():
    masks, classes = semantic_targets(_labels(), K)
    assert classes[0].tolist() == [0, 3] and classes[1].tolist() == [1, 4]
    assert masks[0].shape == (2, 32, 32) and masks[0].dtype == torch.float32
    assert masks[0][:, :4].sum() == 0  # ignored rows belong to no target mask
    assert torch.equal(masks[1].sum(0), torch.ones(32, 32))


def test_semantic_targets_all_ignore_gives_no_masks():
    masks, classes = semantic_targets(torch.full((1, 8, 8), 255), K)
    assert masks[0].shape == (0, 8, 8) and classes[0].numel() == 0


def _perfect_logits(labels: torch.Tensor, queries: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Class/mask logits that predict `labels` exactly with one query per present class."""
    b = labels.shape[0]
    cls = torch.full((b, queries, K + 1), -10.0)
    cls[..., K] = 10.0  # unused queries say no-object
    masks = torch.full((b, queries, 8, 8), -10.0)
    small = labels[:, ::4, ::4]
    for i in range(b):
        for q, c in enumerate(semantic_targets(labels[i : i + 1], K)[1][0].tolist()):
            cls[i, q] = -10.0
            cls[i, q, c] = 10.0
            masks[i, q] = torch.where(small[i] == c, 10.0, -10.0)
    return cls, masks


def test_perfect_prediction_has_lower_loss_than_random():
    torch.manual_seed(0)
    labels = _labels()
    masks, classes = semantic_targets(labels, K)
    crit = SetCriterion(K, CriterionConfig(num_points=256))
    cls, mask_logits = _perfect_logits(labels)
    good, parts = crit(cls, mask_logits, masks, classes)
    bad, _ = crit(torch.randn_like(cls), torch.randn_like(mask_logits), masks, classes)
    assert torch.isfinite(good) and good < 0.2 * bad
    assert set(parts) == {"loss_cross_entropy", "loss_mask", "loss_dice"}


def test_loss_is_invariant_to_query_order():
    """Hungarian matching: permuting the queries does not change the loss."""
    labels = _labels()
    masks, classes = semantic_targets(labels, K)
    crit = SetCriterion(K, CriterionConfig(num_points=256))
    cls, mask_logits = torch.randn(2, 6, K + 1), torch.randn(2, 6, 8, 8)
    perm = torch.randperm(6)
    torch.manual_seed(1)
    a, _ = crit(cls, mask_logits, masks, classes)
    torch.manual_seed(1)
    b, _ = crit(cls[:, perm], mask_logits[:, perm], masks, classes)
    # point coordinates are drawn per matched mask in matching order, so allow sampling noise
    assert a.item() == pytest.approx(b.item(), rel=0.05)


def test_weights_and_deep_supervision():
    torch.manual_seed(0)
    labels = _labels()
    masks, classes = semantic_targets(labels, K)
    cls, mask_logits = torch.randn(2, 6, K + 1, requires_grad=True), torch.randn(2, 6, 8, 8)
    aux_c = (torch.randn(2, 6, K + 1), torch.randn(2, 6, K + 1))
    aux_m = (torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8))
    crit = SetCriterion(K, CriterionConfig(num_points=128))
    total, parts = crit(cls, mask_logits, masks, classes, aux_c, aux_m)
    assert {"loss_dice_0", "loss_mask_1", "loss_cross_entropy_1"} <= set(parts)
    weights = {"loss_cross_entropy": 2.0, "loss_mask": 5.0, "loss_dice": 5.0}
    expected = sum(v * weights[re.sub(r"_\d+$", "", k)] for k, v in parts.items())
    assert total.item() == pytest.approx(expected, rel=1e-5)
    total.backward()
    assert cls.grad is not None and cls.grad.abs().sum() > 0
    no_aux = SetCriterion(K, CriterionConfig(num_points=128, deep_supervision=False))
    _, parts2 = no_aux(cls, mask_logits, masks, classes, aux_c, aux_m)
    assert set(parts2) == {"loss_cross_entropy", "loss_mask", "loss_dice"}


def test_no_object_weight_applies_to_unmatched_queries():
    labels = _labels()
    masks, classes = semantic_targets(labels, K)
    cls, mask_logits = _perfect_logits(labels)
    cls[:, -1, K] = -10.0  # an unmatched query now claims class 0 instead of no-object
    cls[:, -1, 0] = 10.0
    low = SetCriterion(K, CriterionConfig(num_points=128, no_object_weight=0.1))
    high = SetCriterion(K, CriterionConfig(num_points=128, no_object_weight=1.0))
    assert (
        low(cls, mask_logits, masks, classes)[1]["loss_cross_entropy"]
        < high(cls, mask_logits, masks, classes)[1]["loss_cross_entropy"]
    )
