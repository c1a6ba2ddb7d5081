"""Exact-flow supervision (our optional addition to stage 1): chained pair flows equal rendered ones,
augmentation moves the flow with the frame, the mask-weighted loss is exact on hand-built cases, and a
training step with it sends gradient into the flow module."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mpvss_cli import main
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.data.synthetic import SyntheticRender
from mpvss_core.data.writer import write_split
from mpvss_core.errors import InputError
from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion
from mpvss_core.modeling.flow_loss import dense_flow_loss, flow_supervision_loss, pool_flow
from mpvss_core.spec import resolve_model
from mpvss_core.train.common import DataConfig
from mpvss_core.train.data import AugConfig, FrameDataset, augment, step_rng
from mpvss_core.train.flow import FlowStep, FlowTrainConfig, build_stage1_model, train_flow
from mpvss_core.train.loop import LoopConfig, OptimConfig
from mpvss_core.train.pair_flow import chain_flows
from mpvss_core.train.pretrain import FlowPretrainStep, init_flow_from

K = 18  # synthetic classes
SIZE = (64, 128)
FAST = CriterionConfig(num_points=256)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A written synthetic train split: 2 clips of 6 frames at 64x128, with per-frame flow files."""
    root = tmp_path_factory.mktemp("synth")
    write_split("train", root, num_clips=2, num_frames=6, size=SIZE, progress=False)
    return root


def _epe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=-1)


def test_chained_flows_equal_the_rendered_flow_of_the_pair():
    render = SyntheticRender(100_000, 6, SIZE)
    for target, key in [(5, 4), (5, 2), (5, 0)]:
        flow, valid = chain_flows([render.flow(t, t - 1) for t in range(target, key, -1)])
        exact, exact_valid = render.flow(target, key)
        ours = flow.permute(1, 2, 0).numpy()
        both = valid.numpy() & exact_valid
        assert both.mean() > 0.6
        err = _epe(ours, exact)[both]
        # bilinear chaining is exact inside surfaces; a few pixels on motion boundaries blend two motions
        assert np.percentile(err, 95) < 0.01 and (err > 1.0).mean() < 0.01  # px
        assert (valid.numpy() & ~exact_valid).mean() < 0.01  # chaining never invents visible points
    assert torch.equal(
        chain_flows([render.flow(3, 2)])[0], torch.from_numpy(render.flow(3, 2)[0]).permute(2, 0, 1)
    )


def test_written_split_pairs_carry_the_exact_flow(synth):
    ds = FrameDataset.open(synth, "train", K)
    assert ds.has_flow
    render = SyntheticRender(100_000, 6, SIZE)
    flow, valid = ds.pair_flow(0, 1, 4)
    exact, exact_valid = render.flow(4, 1)
    both = valid.numpy() & exact_valid
    err = _epe(flow.permute(1, 2, 0).numpy(), exact)[both]
    assert np.percentile(err, 95) < 0.05 and (err > 1.0).mean() < 0.01  # KITTI PNG keeps 1/64 px
    batch = ds.pair_batch(step_rng(0, 0), 3, AugConfig(crop=(64, 96)), max_gap=4, with_flow=True)
    assert batch.flow.shape == (3, 2, 64, 96) and batch.flow_valid.shape == (3, 64, 96)
    assert batch.flow_valid.dtype == torch.bool and torch.isfinite(batch.flow).all()
    plain = ds.pair_batch(step_rng(0, 0), 3, AugConfig(crop=(64, 96)), max_gap=4)
    assert plain.flow is None and torch.equal(plain.targets, batch.targets)  # same samples either way
    # the key AFTER the target (--reverse-pairs): the exact flow comes from the clip's scene
    flow, valid = ds.pair_flow(0, 4, 1)
    exact, exact_valid = render.flow(1, 4)
    assert np.abs(flow.permute(1, 2, 0).numpy() - exact).max() < 1e-4 and np.array_equal(valid, exact_valid)
    rng = step_rng(0, 1)
    pairs = [ds.sample_pair(rng, max_gap=4, reverse=1.0) for _ in range(20)]
    assert all(1 <= k - t <= 4 for _, k, t in pairs)
    # reverse=0 draws nothing extra: the official stream, pair for pair
    a, b = step_rng(0, 2), step_rng(0, 2)
    assert [ds.sample_pair(a, 4) for _ in range(10)] == [ds.sample_pair(b, 4, reverse=0.0) for _ in range(10)]
    mixed = ds.pair_batch(step_rng(0, 3), 8, AugConfig(crop=(64, 96)), max_gap=4, with_flow=True, reverse=0.5)
    assert torch.isfinite(mixed.flow).all() and mixed.flow_valid.any()


def test_augmentation_rescales_and_flips_the_flow():
    img = np.zeros((*SIZE, 3), np.uint8)
    flow = torch.stack((torch.full(SIZE, 3.0), torch.full(SIZE, -2.0)))
    valid = torch.ones(SIZE, dtype=torch.bool)
    valid[:, :8] = False  # the left edge: after a flip it is the right edge
    kw = {"crop": SIZE, "colour": False}
    _, _, (f, v) = augment(
        [img], None, AugConfig(scale=(2.0, 2.0), flip=False, **kw), step_rng(0, 0), (flow, valid)
    )
    assert torch.allclose(f[0], torch.tensor(6.0)) and torch.allclose(f[1], torch.tensor(-4.0))
    flipped = AugConfig(scale=(1.0, 1.0), flip=True, **kw)
    for s in range(20):  # find a draw that flips
        _, _, (f, v) = augment([img], None, flipped, step_rng(0, s), (flow, valid))
        if not v[:, -1].any():
            break
    assert not v[:, -8:].any() and v[:, :-8].all()
    assert torch.equal(f[0], torch.full(SIZE, -3.0)) and torch.equal(f[1], torch.full(SIZE, -2.0))


def test_pool_flow_averages_valid_pixels_in_coarse_pixels():
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0, :4, :4] = 8.0
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    valid[0, 4:, :4] = False
    coarse, cvalid = pool_flow(flow, valid, 4)
    assert torch.equal(coarse[0, 0], torch.tensor([[2.0, 0.0], [0.0, 0.0]]))
    assert torch.equal(cvalid[0], torch.tensor([[True, True], [False, True]]))


def test_flow_loss_is_the_mask_weighted_end_point_error():
    h, w = 4, 8  # flow grid; masks at 8x16; frame 32x64
    gt = torch.zeros(1, 2, 32, 64)
    gt[:, 0] = 8.0  # 1 px of the flow grid to the right
    valid = torch.ones(1, 32, 64, dtype=torch.bool)
    classes = torch.tensor([[[5.0, 0.0, -5.0], [5.0, 0.0, -5.0]]])  # two object queries
    masks = torch.full((1, 2, 2 * h, 2 * w), -30.0)
    masks[:, 0] = 30.0  # query 0 covers the frame, query 1 covers nothing
    right = torch.zeros(1, 2, 2, h, w)
    right[:, :, 0] = 1.0
    assert flow_supervision_loss(right, gt, valid, classes, masks) < 1e-4
    wrong_elsewhere = right.clone()
    wrong_elsewhere[:, 1] = 5.0  # query 1's flow is wrong, but it has no segment: no cost
    assert flow_supervision_loss(wrong_elsewhere, gt, valid, classes, masks) < 1e-4
    zero = torch.zeros(1, 2, 2, h, w)
    assert flow_supervision_loss(zero, gt, valid, classes, masks) == pytest.approx(1.0, abs=1e-4)
    invalid = torch.zeros_like(valid)
    invalid[:, :, :32] = True  # only the left half counts
    half = zero.clone()
    half[..., w // 2 :] = 7.0
    assert flow_supervision_loss(half, gt, invalid, classes, masks) == pytest.approx(1.0, abs=1e-4)
    no_object = classes.clone()
    no_object[0, 0] = torch.tensor([-9.0, -9.0, 9.0])
    masks_swapped = masks.flip(1)  # query 1 covers the frame but is "no object": near-zero weight
    assert flow_supervision_loss(right, gt, valid, no_object, masks_swapped) < 1e-3 + 1e-4


def test_flow_supervised_step_trains_the_flow_module(synth):
    torch.manual_seed(0)
    model = build_stage1_model(build_model("tiny"), "query_flow")
    model.freeze_segmenter().train()
    batch = FrameDataset.open(synth, "train", K).pair_batch(
        step_rng(0, 0), 2, AugConfig(crop=(64, 96)), max_gap=4, with_flow=True
    )
    step = FlowStep(model, SetCriterion(K, FAST), None, flow_loss_weight=1.0)
    torch.manual_seed(0)
    loss, parts = step(batch.keys, batch.targets, batch.labels, batch.flow, batch.flow_valid)
    assert "loss_flow" in parts and np.isfinite(parts["loss_flow"]) and parts["loss_flow"] > 0
    torch.manual_seed(0)
    seg_only, _ = FlowStep(model, SetCriterion(K, FAST), None)(batch.keys, batch.targets, batch.labels)
    assert float(loss.detach()) == pytest.approx(float(seg_only.detach()) + parts["loss_flow"], rel=1e-5)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None and torch.isfinite(g).all() for n, g in grads.items() if n.startswith("flow."))
    assert grads["flow.decoder.fusion.conv.weight"].abs().sum() > 0
    # the fusion starts at weight 0: only the direct branch terms reach the branches on the first step
    for branch in ("flow.decoder.query_flow_head.", "flow.decoder.pixel_decoder."):
        assert sum(float(g.abs().sum()) for n, g in grads.items() if n.startswith(branch)) > 0, branch
    with pytest.raises(ValueError, match="exact flow"):
        step(batch.keys, batch.targets, batch.labels)


def test_flow_supervision_needs_flow_files(synth, tmp_path, capsys):
    ckpt = tmp_path / "seg"
    save_checkpoint(build_model("tiny"), ckpt)
    cfg = FlowTrainConfig(
        method="query_learned",
        segmenter=str(ckpt),
        flow_loss_weight=0.5,
        data=DataConfig(root=str(synth), val_split="", batch_size=1, aug=AugConfig(crop=(64, 96))),
        criterion=FAST,
        loop=LoopConfig(out_dir=str(tmp_path / "run"), max_steps=2, progress=False),
    )
    summary = train_flow(cfg)
    assert summary["steps"] == 2 and summary["flow_loss_weight"] == 0.5
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].split(",").count("loss_flow") == 1 and all(line.split(",")[6] for line in log[1:])
    no_flow = tmp_path / "noflow"
    write_split("train", no_flow, num_clips=1, num_frames=3, size=SIZE, progress=False)
    for f in (no_flow / "data").glob("*/flow/*.png"):
        f.unlink()
    with pytest.raises(InputError, match="flow files"):
        train_flow(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(no_flow))))
    args = ["train", "flow", "--segmenter", str(ckpt), "--data", str(no_flow), "--out", str(tmp_path / "o")]
    assert main([*args, "--flow-loss-weight", "1", "--quiet"]) == 2
    assert "flow files" in capsys.readouterr().err
    assert main([*args, "--flow-loss-weight", "-1", "--quiet"]) == 2


# --- FlowNet-style flow pre-training (our addition) and --init-flow -------------------------------------


def load_for_method(model, method):
    return resolve_model(str(model)).load(method)


def test_dense_flow_loss_is_the_mean_end_point_error_of_the_valid_cells():
    gt = torch.stack((torch.full((16, 32), 8.0), torch.full((16, 32), -16.0))).unsqueeze(0)  # image px
    valid = torch.ones(1, 16, 32, dtype=torch.bool)
    zero = torch.zeros(1, 2, 2, 4)  # the flow grid is 1/8: (8, -16) px there is (1, -2)
    assert dense_flow_loss(zero, gt, valid) == pytest.approx(5**0.5, abs=1e-5)
    assert dense_flow_loss(torch.tensor([1.0, -2.0]).view(1, 2, 1, 1).expand(1, 2, 2, 4), gt, valid) < 1e-4
    left = valid.clone()
    left[..., 16:] = False  # the right half does not count, whatever is predicted there
    half = zero.clone()
    half[..., 2:] = 7.0
    assert dense_flow_loss(half, gt, left) == pytest.approx(5**0.5, abs=1e-5)
    # an unpadded flow (12x30 of a 16x32 padded frame): the padding is invalid, not zero motion
    assert dense_flow_loss(zero, gt[..., :12, :30], valid[..., :12, :30]) == pytest.approx(5**0.5, abs=1e-5)


def test_flow_pretraining_trains_only_the_pixel_flow_and_starts_stage1(synth, tmp_path, capsys):
    ckpt = tmp_path / "seg"
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), ckpt)
    cfg = FlowTrainConfig(
        method="pixel_flow",
        segmenter=str(ckpt),
        pretrain_flow=True,
        data=DataConfig(root=str(synth), val_split="", batch_size=2, aug=AugConfig(crop=(64, 96))),
        optim=OptimConfig(lr=1e-3, warmup_steps=0),
        loop=LoopConfig(out_dir=str(tmp_path / "pre"), max_steps=3, progress=False),
    )
    summary = train_flow(cfg)
    assert summary["steps"] == 3 and summary["pretrain_flow"]
    losses = [float(r.split(",")[2]) for r in (tmp_path / "pre" / "log.csv").read_text().splitlines()[1:4]]
    assert np.isfinite(losses).all()
    before = load_for_method(ckpt, "per_frame").state_dict()
    after = load_for_method(summary["checkpoint"], "pixel_flow").state_dict()
    # the segmenter, heads included, is untouched; every flow tensor moved
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("segmenter."))
    start = build_stage1_model(load_for_method(ckpt, "per_frame"), "pixel_flow").state_dict()
    moved = [k for k in after if k.startswith("flow.") and after[k].dtype.is_floating_point]
    assert moved and all(not torch.equal(after[k], start[k]) for k in moved if "pixel_mean" not in k)
    trained = resolve_model(summary["checkpoint"]).entry("pixel_flow").trained
    assert trained["flow"] == summary["command"]  # the flow module is recorded trained, by this run

    # --init-flow: whole submodules whose shapes fit
    base = load_for_method(ckpt, "per_frame")
    for method, fits in (("pixel_flow", ["encoder", "pixel_decoder"]), ("query_flow", ["encoder"])):
        model = build_stage1_model(base, method)
        fresh = {k: v.clone() for k, v in model.state_dict().items()}
        loaded, kept = init_flow_from(model, method, summary["checkpoint"])
        assert loaded == fits and "encoder" not in kept
        now = model.state_dict()
        for k, v in now.items():
            if k.startswith("flow.encoder."):
                assert torch.equal(v, after[k])
            elif k.startswith("flow.decoder.") and method == "query_flow":
                assert torch.equal(v, fresh[k])  # transformer, query head, its own pixel decoder, fusion
    with pytest.raises(InputError, match="no trained flow module"):
        init_flow_from(build_stage1_model(base, "query_flow"), "query_flow", str(ckpt))
    with pytest.raises(InputError, match="QueryFlowPretrainStep"):
        FlowPretrainStep(build_stage1_model(base, "query_flow"))
    args = ["train", "flow", "--segmenter", str(ckpt), "--data", str(synth), "--val-split", ""]
    out = str(tmp_path / "o")
    assert main([*args, "--method", "query_flow", "--pretrain-flow", "--aug-pool", "-1", "--out", out]) == 2
    assert "--aug-pool and --key-cache-mb must be >= 0" in capsys.readouterr().err
    assert main([*args, "--method", "pixel_flow", "--reverse-pairs", "1.5", "--out", out, "--quiet"]) == 2
    assert "--reverse-pairs must be between 0 and 1" in capsys.readouterr().err
    init = ["--init-flow", str(tmp_path / "pre" / "last"), "--max-steps", "1", "--batch-size", "1"]
    assert main([*args, "--method", "query_learned", *init, "--crop", "64x96", "--out", out, "--quiet"]) == 0
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["config"]["init_flow"] == str(tmp_path / "pre" / "last")
    # the bundle record keeps the pre-training's own record (command, steps) beside the entry's
    from mpvss_core.train.export import export_flow_run, export_segmenter

    export_segmenter(str(ckpt), tmp_path / "bundle")
    export_flow_run(out + "/last", tmp_path / "bundle")
    rec = json.loads((tmp_path / "bundle" / "bundle.json").read_text())["records"]["query_learned"]
    assert rec["steps"] == 1 and rec["init_flow_from"]["steps"] == 3
    assert rec["init_flow_from"]["command"] == summary["command"]
