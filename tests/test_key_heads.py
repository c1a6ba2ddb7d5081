"""Stage-0 key-frame heads (`--key-heads stage0`): key frames of a learned method are exactly
per_frame's, non-key frames exactly the paper recipe's; a separate identity; refused where it has no
meaning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mpvss_cli import main
from mpvss_core.checkpoints.bundle import save_partial, write_bundle_index
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.errors import InputError
from mpvss_core.methods import method_config
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model
from tests.engine_helpers import small_clip

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A bundle whose query_flow variant has heads unlike the segmenter's (as stage 1 leaves them)."""
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("bundle")
    seg = build_model("tiny")
    save_checkpoint(seg, d / "segmenter", trained={"segmenter": "test"})
    model = build_model(method_config("tiny", "query_flow"))
    model.segmenter.load_state_dict(seg.segmenter.state_dict())
    with torch.no_grad():  # "retrained" heads: a large change, so the decoder's queries change too
        for head in (model.segmenter.class_predictor, model.segmenter.mask_embedder):
            for p in head.parameters():
                p.add_(torch.randn_like(p) * p.std().clamp_min(0.05))
    save_partial(model, d / "query_flow", d / "segmenter", dtype=torch.float32)
    write_bundle_index(d, "segmenter", {"query_flow": "query_flow"})
    return d


def _labels(spec, method, clip, k=3):
    p = VideoPredictor(spec, method)
    return [r.labels for r in p.propagate(p.init_video(clip, k))]


def test_key_frames_are_per_frame_and_non_key_frames_the_paper_recipe(bundle):
    clip = small_clip(num_frames=6)
    paper, stage0 = resolve_model(str(bundle)), resolve_model(str(bundle), key_heads="stage0")
    per_frame = _labels(paper, "per_frame", clip)
    retrained = _labels(paper, "query_flow", clip)
    ours = _labels(stage0, "query_flow", clip)
    for i in range(6):
        if i % 3 == 0:  # key frames: bit-identical to per_frame, and the retrained heads differ there
            np.testing.assert_array_equal(ours[i], per_frame[i])
            assert not np.array_equal(retrained[i], per_frame[i])
        else:  # non-key frames propagate the retrained heads' masks, as without the option
            np.testing.assert_array_equal(ours[i], retrained[i])


def test_stage0_key_heads_are_another_model_for_the_cache_and_the_tables(bundle):
    paper, stage0 = resolve_model(str(bundle)), resolve_model(str(bundle), key_heads="stage0")
    assert stage0.method_identity("query_flow") != paper.method_identity("query_flow")
    assert stage0.method_identity("per_frame") == paper.method_identity(
        "per_frame"
    )  # segmenter-only methods are unchanged
    assert "stage-0 heads" in stage0.label and "stage-0" not in paper.label


def test_stage0_key_heads_are_refused_where_there_is_no_stage0_record(tmp_path, bundle):
    with pytest.raises(InputError, match="one of"):
        resolve_model(str(bundle), key_heads="best")
    with pytest.raises(InputError, match="need a model bundle"):
        resolve_model("tiny", key_heads="stage0")
    ckpt = tmp_path / "ckpt"
    save_checkpoint(build_model("tiny"), ckpt)
    with pytest.raises(InputError, match="need a model bundle"):
        resolve_model(str(ckpt), key_heads="stage0")


def test_eval_cli_takes_key_heads(bundle, tmp_path, capsys, monkeypatch):
    from mpvss_core.data.writer import write_split

    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "res"))
    data = tmp_path / "data"
    write_split("val", data, num_clips=1, num_frames=6, size=(64, 128), progress=False)
    argv = ["eval", "--model", str(bundle), "--data", str(data), "--method", "query_flow", "--interval", "3",
            "--no-epe", "--no-tc", "--quiet", "--device", "cpu"]  # fmt: skip
    assert main([*argv, "--key-heads", "stage0"]) == 0
    assert "stage-0 heads" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*argv, "--key-heads", "best"])
