"""Your own model and footage: a local Hugging Face Mask2Former folder wherever a model is named, a flow
module trained for it (with labels, or label-free on a folder of videos), and its output folders as
models; built offline from a small random-weight config saved with `save_pretrained`."""

from __future__ import annotations

import json

import pytest
import torch

from mpvss_cli import main
from mpvss_core.config import MPVSSConfig, SegmenterConfig, flow_preset_for, get_preset
from mpvss_core.data.writer import write_split
from mpvss_core.io import write_video
from mpvss_core.labels import CITYSCAPES_CLASSES
from mpvss_core.methods import method_config
from mpvss_core.modeling.segmenter import hf_config_from_segmenter_config
from mpvss_core.spec import resolve_model
from tests.engine_helpers import small_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TRAIN = ["--max-steps", "1", "--batch-size", "2", "--crop", "64x64", "--num-points", "256", "--quiet",
         "--val-split", "", "--threads", "1"]  # fmt: skip


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))


@pytest.fixture(scope="module")
def hf_cityscapes(tmp_path_factory):
    """A Mask2Former 'trained on Cityscapes': 19 classes named in id2label (random weights)."""
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(3)
    seg = SegmenterConfig(num_classes=len(CITYSCAPES_CLASSES))
    cfg = hf_config_from_segmenter_config(seg)
    cfg.id2label = dict(enumerate(CITYSCAPES_CLASSES))
    cfg.label2id = {v: k for k, v in cfg.id2label.items()}
    folder = tmp_path_factory.mktemp("hf") / "m2f_cityscapes"
    Mask2FormerForUniversalSegmentation(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    for split in ("train", "val"):
        write_split(split, root, num_clips=1, num_frames=6, size=(64, 128), progress=False)
    return root


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """A folder of two unlabelled videos (a user's own clips)."""
    folder = tmp_path_factory.mktemp("footage")
    for i, seed in enumerate((900_003, 900_004)):
        write_video(folder / f"walk_{i}.mp4", small_clip(seed, 6).frames, fps=10)
    return folder


def test_the_flow_module_follows_the_segmenter():
    assert flow_preset_for(get_preset("tiny")) == "tiny" and flow_preset_for(get_preset("swin_l")) == "swin_l"
    paper_scale = MPVSSConfig(segmenter=SegmenterConfig(hidden_dim=256), name="hf-m2f")
    assert flow_preset_for(paper_scale) == "swin_t"  # the official flow module for a real checkpoint
    assert flow_preset_for(MPVSSConfig(name="hf-small")) == "tiny"


def test_hf_folder_in_eval_and_infer(hf_cityscapes, synth, footage, tmp_path, capsys):
    out = tmp_path / "o.json"
    argv = ["eval", "--model", str(hf_cityscapes), "--data", "synthetic:val", "--data-root", str(synth),
            "--max-clips", "1",
            "--method", "per_frame,copy", "--quiet", "--no-epe", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "matched by class name: 17 classes" in printed and "water" in printed
    results = json.loads(out.read_text())["results"]
    assert results[0]["reference"] == "labels" and results[0]["class_matching"]["matched"] == 17
    at = argv.index("--method") + 1
    assert main([*argv[:at], "query_flow", *argv[at + 1 :]]) == 2
    err = capsys.readouterr().err
    assert "no flow module" in err and f"--segmenter {hf_cityscapes}" in err
    video = next(footage.glob("*.mp4"))
    assert main(["infer", str(video), "--model", str(hf_cityscapes), "--method", "copy", "--quiet",
                 "--out", str(tmp_path / "over.mp4")]) == 0  # fmt: skip
    assert main(["eval", "--model", str(hf_cityscapes), "--data", str(footage), "--method", "copy",
                 "--quiet", "--json", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["reference"] == "per_frame"  # footage without labels


def test_train_a_flow_module_for_an_hf_segmenter(hf_cityscapes, synth, tmp_path, capsys):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    argv = ["train", "flow", "--segmenter", str(hf_cityscapes), "--data", str(synth),
            "--method", "pixel_flow",
            "--out", str(run), "--export-to", str(bundle), *TRAIN]  # fmt: skip
    assert main(argv) == 0
    # the run's checkpoint and its export are models with the learned method they were trained for
    for spec in (resolve_model(str(run / "last")), resolve_model(str(bundle))):
        assert "pixel_flow" in spec.methods and "bi_pixel_flow" in spec.methods
        assert spec.class_names == CITYSCAPES_CLASSES
        entry = spec.entry("pixel_flow")
        assert set(entry.trained) == {"segmenter", "heads", "flow"} and not entry.untrained
        assert "Hugging Face checkpoint" in entry.trained["segmenter"]
        assert entry.config.flow == method_config("tiny", "pixel_flow").flow  # hidden 128: the tiny flow
        assert entry.config.segmenter.hf_config is not None
    assert "query_flow" in resolve_model(str(bundle)).unavailable


def test_label_free_adaptation_on_a_folder_of_videos(footage, tmp_path):
    run = tmp_path / "adapt"
    argv = ["train", "flow", "--segmenter", "tiny", "--labels", "none", "--data", str(footage),
            "--method", "query_flow", "--out", str(run), *TRAIN]  # fmt: skip
    assert main(argv) == 0
    spec = resolve_model(str(run / "last"))
    assert "query_flow" in spec.methods and spec.entry("query_flow").trained["flow"]
