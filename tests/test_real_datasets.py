"""Real-dataset layouts at full resolution: a Cityscapes root (1024x2048, sparse labels) written from
synthetic clips, read by `--data`, scored at the labels' own size, trained on with sparse labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mpvss_cli import main
from mpvss_core.data.readers.cityscapes import labelid_lut
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.evaluation.evaluate import evaluate
from mpvss_core.labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELID_TO_TRAINID,
    match_label_spaces,
    resize_nearest,
)
from mpvss_core.metrics import ConfusionMatrix
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model
from mpvss_core.train.data import FrameDataset, step_rng
from tests.engine_helpers import small_clip

FULL = (1024, 2048)
SNIPPET, LABELLED = 8, 5  # frames per snippet; the labelled one (Cityscapes: the 20th of 30)
TRAIN_TO_LABEL = {t: lid for lid, t in CITYSCAPES_LABELID_TO_TRAINID.items()}


def _write_snippet(root, split, city, seq, clip, half_and_half: bool):
    """Frames upsampled to 1024x2048 as leftImg8bit PNGs; one gtFine labelIds map (frame LABELLED)."""
    img_dir = root / "leftImg8bit_sequence" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    for t in range(SNIPPET):
        big = Image.fromarray(clip.frames[t]).resize((FULL[1], FULL[0]), Image.BILINEAR)
        big.save(img_dir / f"{city}_{seq}_{t:06d}_leftImg8bit.png", compress_level=1)
    train_ids = np.zeros(FULL, np.uint8)  # road
    if half_and_half:
        train_ids[:, FULL[1] // 2 :] = 10  # sky: a 50/50 column pattern
    label_ids = np.vectorize(TRAIN_TO_LABEL.get)(train_ids).astype(np.uint8)
    Image.fromarray(label_ids).save(gt_dir / f"{city}_{seq}_{LABELLED:06d}_gtFine_labelIds.png")


@pytest.fixture(scope="module")
def cityscapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    clip = small_clip(900_000, SNIPPET)
    _write_snippet(root, "val", "frankfurt", "000000", clip, half_and_half=True)
    _write_snippet(root, "val", "lindau", "000001", small_clip(900_001, SNIPPET), half_and_half=False)
    return root


def test_labelid_lut_maps_to_train_ids():
    lut = labelid_lut()
    assert lut[7] == 0 and lut[23] == 10 and lut[33] == 18 and lut[0] == 255
    assert labelid_lut(18)[33] == 255  # a train id the model has no class for is ignored


def test_cityscapes_root_at_full_resolution(cityscapes):
    data = resolve_data(str(cityscapes), split="val")
    assert data.names == ["frankfurt_000000", "lindau_000001"]
    clip = data.entries[0].load()
    # frames are capped for the model (longer side 1280), labels are not touched
    assert clip.size == (640, 1280) and clip.label_size == FULL
    assert clip.class_names == CITYSCAPES_CLASSES and clip.labelled.tolist() == [
        t == LABELLED for t in range(8)
    ]
    counts = np.bincount(clip.labels[LABELLED].ravel(), minlength=256)
    assert counts[0] == counts[10] == FULL[0] * FULL[1] // 2  # the 50/50 pattern stays 50/50
    assert any("labels kept at 2048x1024" in n for n in clip.notes)


def test_eval_scores_at_the_label_size(cityscapes):
    tiny = resolve_model("tiny")  # 18 synthetic classes: matched by name with Cityscapes' 19
    predictor = VideoPredictor(tiny, "copy", device="cpu")
    data = resolve_data(str(cityscapes), split="val")
    result = evaluate(predictor, data, 5, flow_epe_metric=False, tc=False, keep_labels=True)
    s = result.summary
    assert s["reference"] == "labels" and s["num_labelled_frames"] == 2 and s["num_frames"] == 2 * SNIPPET
    assert s["class_matching"]["unmatched_data_classes"] == ["train", "motorcycle"]
    assert s["class_matching"]["unmatched_model_classes"] == ["water"]
    # the same scores by hand: each labelled prediction (640x1280) brought to 1024x2048, mapped by name
    match = match_label_spaces(tiny.class_names, CITYSCAPES_CLASSES)
    cm = ConfusionMatrix(19)
    for e in data.entries:
        clip = e.load()
        pred = result.labels[clip.name][LABELLED]
        assert pred.shape == clip.size == (640, 1280)
        cm.update(resize_nearest(match.pred_to_data[pred], FULL), clip.labels[LABELLED])
    assert int(cm.gt_pixels.sum()) == 2 * FULL[0] * FULL[1]  # every label pixel, at its own size
    assert np.array_equal(cm.matrix, result.confusion)


def test_eval_cli_before_labelled_and_the_mean_over_distances(cityscapes, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))
    out = tmp_path / "o.json"
    argv = ["eval", "--model", "tiny", "--data", str(cityscapes), "--split", "val", "--method", "copy",
            "--interval", "3", "--before-labelled", "all", "--quiet", "--no-tc",
            "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["before_labelled"] for r in rows] == [0, 1, 2, "0..K-1 (mean)"]
    assert [r["num_frames"] for r in rows[:3]] == [2, 2, 2]  # only the labelled frames are predicted
    assert rows[3]["miou"] == pytest.approx(np.mean([r["miou"] for r in rows[:3]]))


def test_sparse_labels_never_crash_stage_one(cityscapes):
    ds = FrameDataset.open(cityscapes, "val", num_classes=19)
    assert [c.labelled for c in ds.clips] == [[LABELLED], [LABELLED]]
    for s in range(300):
        c, key, target = ds.sample_pair(step_rng(0, s), max_gap=10)
        assert target == LABELLED and 1 <= target - key <= LABELLED
    image, label = ds.read(0, LABELLED)
    assert image.shape == (*FULL, 3) and set(np.unique(label)) == {0, 10}


def test_mixed_dense_and_sparse_clips(cityscapes, tmp_path):
    from mpvss_core.data.writer import write_split

    write_split("val", tmp_path / "synth", num_clips=1, num_frames=6, size=(64, 128), progress=False)
    dense = FrameDataset.open(tmp_path / "synth", "val", 18)
    sparse = FrameDataset.open(cityscapes, "val", 18)
    mixed = FrameDataset([*dense.clips, *sparse.clips], 18)
    seen = set()
    for s in range(200):
        c, key, target = mixed.sample_pair(step_rng(1, s))
        assert key < target and mixed.clips[c].masks[target] is not None
        seen.add(c)
    assert seen == {0, 1, 2}


def test_train_flow_on_sparse_cityscapes_labels(cityscapes, tmp_path):
    argv = ["train", "flow", "--segmenter", "tiny", "--data", str(cityscapes), "--split", "val",
            "--val-split", "",
            "--out", str(tmp_path / "run"), "--max-steps", "2", "--batch-size", "2", "--crop", "64x64",
            "--scale", "0.1,0.12", "--num-points", "256", "--quiet", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "run" / "last" / "model.safetensors").is_file()
