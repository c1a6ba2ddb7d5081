"""Class-balanced stage-0 sampling: repeat factors, crops placed on the rarest class, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mpvss_core.errors import InputError
from mpvss_core.train.augment import _offset_containing
from mpvss_core.train.data import (
    AugConfig,
    BalanceConfig,
    FrameDataset,
    _Balance,
    step_rng,
)

K = 18
SIZE = (64, 128)


def test_repeat_factors_on_hand_built_presence():
    # 4 frames; class 0 in all of them, class 1 in one (f = 0.25), class 2 never
    present = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 0]], bool)
    frames = [(0, i) for i in range(4)]
    b = _Balance.from_presence(frames, present, threshold=1.0)
    # r_c = max(1, sqrt(t / f_c)): class 0 -> 1, class 1 -> sqrt(4) = 2, unseen -> 0
    np.testing.assert_allclose(b.class_factor, [1.0, 2.0, 0.0])
    np.testing.assert_allclose(b.probs, np.array([1, 1, 1, 2]) / 5)
    # t below every frequency: uniform
    low = _Balance.from_presence(frames, present, threshold=0.1)
    np.testing.assert_allclose(low.probs, 0.25)


def test_focus_pixel_is_on_the_rarest_class():
    present = np.array([[1, 0], [1, 1]], bool)
    b = _Balance.from_presence([(0, 0), (0, 1)], present, threshold=1.0)
    label = np.zeros((8, 8), np.uint8)
    label[5, 6] = 1
    label[0, 0] = 255  # ignore is never chosen
    for s in range(5):
        assert b.focus_pixel(label, step_rng(0, s)) == (5, 6)
    assert b.focus_pixel(np.full((4, 4), 255, np.uint8), step_rng(0, 0)) is None


@pytest.mark.parametrize("pos", [0.0, 10.0, 99.5, 199.0])
def test_crop_offset_always_contains_the_position(pos):
    for s in range(30):
        off = _offset_containing(step_rng(1, s), pos, 200, 64)
        assert 0 <= off <= 200 - 64 and off <= int(pos) < off + 64


def test_balance_config_rejects_out_of_range_values():
    with pytest.raises(InputError, match="threshold"):
        BalanceConfig(threshold=1.5)
    with pytest.raises(InputError, match="crop"):
        BalanceConfig(focus=-0.1)
    assert not BalanceConfig().active and BalanceConfig(focus=0.5).active


@pytest.fixture(scope="module")
def rare_dataset(tmp_path_factory):
    """Two clips of 6 frames: class 3 everywhere, a 4x4 square of class 7 in one frame only."""
    from mpvss_core.io import write_label_png

    root = tmp_path_factory.mktemp("rare")
    for c in range(2):
        folder = root / "data" / f"clip{c}"
        (folder / "origin").mkdir(parents=True)
        for t in range(6):
            lab = np.full(SIZE, 3, np.uint8)
            if c == 1 and t == 4:
                lab[50:54, 110:114] = 7
            Image.fromarray(np.full((*SIZE, 3), 40 * t, np.uint8)).save(folder / "origin" / f"{t:05d}.png")
            write_label_png(folder / "mask" / f"{t:05d}.png", lab + 1)
    return root


def test_balanced_batches_oversample_and_crop_the_rare_frame(rare_dataset):
    ds = FrameDataset.open(rare_dataset, None, K, cache=True)
    aug = AugConfig(crop=(32, 32), scale=(1.0, 1.0), flip=False, colour=False)
    balance = BalanceConfig(threshold=1.0, focus=1.0)
    stats = ds.balance_stats(1.0)
    # class 7 is in 1 of 12 frames: factor sqrt(12), the other frames 1
    assert stats.probs.max() / stats.probs.min() == pytest.approx(np.sqrt(12))
    hits = 0
    for s in range(40):
        _, labels = ds.frame_batch(step_rng(0, s), 2, aug, balance)
        hits += int((labels == 7).any(dim=(1, 2)).sum())
    # uniform sampling would show the square in ~1/12 of 80 crops, and crops of 32x32 of a 64x128
    # frame often miss it; focused crops always contain it when its frame is drawn (p ~ 0.24)
    assert hits >= 10
    a = ds.frame_batch(step_rng(0, 3), 2, aug, balance)
    b = ds.frame_batch(step_rng(0, 3), 2, aug, balance)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
