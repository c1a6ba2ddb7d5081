"""Training: a step lowers the loss, frozen parts stay frozen, resume continues the same run,
label-free mode, trainer checkpoints load through the model spec, the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from mpvss_cli import main
from mpvss_core.checkpoints.bundle import trainable_state
from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.errors import InputError
from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion
from mpvss_core.spec import resolve_model
from mpvss_core.train.common import DataConfig
from mpvss_core.train.data import AugConfig, FrameDataset, augment, step_rng
from mpvss_core.train.flow import FlowStep, FlowTrainConfig, build_stage1_model, pseudo_labels, train_flow
from mpvss_core.train.loop import LoopConfig, OptimConfig, amp_dtype, build_optimizer, lr_factor
from mpvss_core.train.segmenter import BACKBONE_PREFIX, SegmenterStep, SegmenterTrainConfig, train_segmenter
from mpvss_core.train.state import load_run_checkpoint


def load_for_method(model, method):
    return resolve_model(str(model)).load(method)


K = 18
SIZE = (64, 128)
CROP = (64, 96)
FAST = CriterionConfig(num_points=256)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_clip(folder, seed: int, frames: int = 8, labelled: bool = True) -> None:
    """A moving-stripes clip: class = column band, shifted one pixel per frame."""
    from mpvss_core.io import write_label_png

    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 255, (K, 3))
    (folder / "origin").mkdir(parents=True)
    for t in range(frames):
        cls = ((np.arange(SIZE[1]) + t) // 16 + seed) % 4 * 3  # 4 classes per clip
        lab = np.broadcast_to(cls, SIZE).astype(np.uint8)
        img = colours[lab].astype(np.uint8)
        Image.fromarray(img).save(folder / "origin" / f"{t:05d}.png")
        if labelled:
            write_label_png(folder / "mask" / f"{t:05d}.png", lab + 1)  # raw VSPW ids: class + 1


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("vspw")
    names = {"train": ["a", "b"], "val": ["c"]}
    for split, clips in names.items():
        for i, name in enumerate(clips):
            _write_clip(root / "data" / name, seed=i + (10 if split == "val" else 0))
        (root / f"{split}.txt").write_text("\n".join(clips) + "\n")
    return root


def _data(root, **kw) -> DataConfig:
    return DataConfig(
        root=str(root),
        batch_size=2,
        val_clips=1,
        val_frames=6,
        aug=AugConfig(crop=CROP, scale=(1.0, 1.25)),
        **kw,
    )


def _loss(module, *batch, seed=0):
    torch.manual_seed(seed)
    return module(*batch)[0]


# --- data --------------------------------------------------------------------------------------------


def test_pairs_are_forward_within_the_gap_and_share_augmentation(dataset):
    ds = FrameDataset.open(dataset, "train", K)
    for s in range(50):
        c, key, target = ds.sample_pair(step_rng(0, s), max_gap=3)
        assert 1 <= target - key <= 3
    img = np.tile(np.arange(SIZE[1], dtype=np.uint8)[None, :, None], (SIZE[0], 1, 3))
    (a, b), _, _ = augment([img, img.copy()], None, AugConfig(crop=CROP), step_rng(0, 1))
    assert a.shape == (3, *CROP) and torch.equal(a, b)


def test_step_rng_is_a_pure_function_of_seed_step_rank():
    assert step_rng(3, 5, 0).random() == step_rng(3, 5, 0).random() != step_rng(3, 5, 1).random()


def test_poly_schedule_with_warmup_and_time_budget():
    cfg = OptimConfig(warmup_steps=10)
    assert lr_factor(0, cfg, 100) == pytest.approx(0.1)
    assert lr_factor(50, cfg, 100) == pytest.approx(0.5**0.9)
    assert lr_factor(10, cfg, 100, time_fraction=1.0) == 0.0


# --- one step on a fixed batch -------------------------------------------------------------------------


def test_stage0_step_lowers_loss_on_fixed_batch(dataset):
    torch.manual_seed(0)
    model = build_model("tiny")
    images, labels = FrameDataset.open(dataset, "train", K).frame_batch(
        step_rng(0, 0), 2, AugConfig(crop=CROP)
    )
    step = SegmenterStep(model.segmenter, SetCriterion(K, FAST)).eval()  # eval: no drop-path noise
    opt = build_optimizer(list(model.segmenter.named_parameters()), OptimConfig(lr=1e-3))
    before = _loss(step, images, labels)
    before.backward()
    opt.step()
    with torch.no_grad():
        after = _loss(step, images, labels)
    assert after < before


def test_stage1_step_lowers_loss_and_keeps_frozen_parts_bit_identical(dataset):
    torch.manual_seed(0)
    model = build_stage1_model(build_model("tiny"), "query_flow")
    model.freeze_segmenter().train()
    pairs = FrameDataset.open(dataset, "train", K).pair_batch(step_rng(0, 0), 2, AugConfig(crop=CROP))
    keys, targets, labels = pairs.keys, pairs.targets, pairs.labels
    step = FlowStep(model, SetCriterion(K, FAST), None)
    heads = set(trainable_state(model)) - {k for k in trainable_state(model) if k.startswith("flow.")}
    frozen = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith("segmenter.") and k not in heads
    }
    trained = {k: v.clone() for k, v in model.state_dict().items() if k not in frozen}
    opt = build_optimizer(list(model.named_parameters()), OptimConfig(lr=1e-3, clip_grad=0))
    assert all(p.requires_grad == (n in trained) for n, p in model.named_parameters())
    before = _loss(step, keys, targets, labels)
    before.backward()
    opt.step()
    with torch.no_grad():
        after = _loss(step, keys, targets, labels)
    assert after < before
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())  # parameters and buffers
    assert not model.segmenter.training and model.segmenter.class_predictor.training
    changed = {
        k.split(".")[0] + ("/head" if k in heads else "")
        for k, v in trained.items()
        if not torch.equal(state[k], v)
    }
    assert changed == {"flow", "segmenter/head"}


# --- resume -------------------------------------------------------------------------------------------


def _seg_cfg(root, out, **loop) -> SegmenterTrainConfig:
    return SegmenterTrainConfig(
        threads=None,
        data=_data(root, val_split=""),
        criterion=FAST,
        optim=OptimConfig(lr=5e-4, warmup_steps=2),
        loop=LoopConfig(out_dir=str(out), max_steps=4, log_every=1, val_every=0, progress=False, **loop),
    )


def _losses(out) -> list[float]:
    with open(out / "log.csv") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh) if r["loss"]]


def test_resume_continues_the_same_run(dataset, tmp_path):
    whole = train_segmenter(_seg_cfg(dataset, tmp_path / "whole"))
    first = train_segmenter(_seg_cfg(dataset, tmp_path / "split", stop_after=2))
    assert first["steps"] == 2
    # as if the run had logged a step after its last checkpoint and then been killed: the resumed run
    # drops that row and logs the step again
    with open(tmp_path / "split" / "log.csv", "a") as fh:
        fh.write("3,1e-4,99.0,,,,,,,\n")
    second = train_segmenter(_seg_cfg(dataset, tmp_path / "split", resume=True))
    assert second["resumed"] and second["steps"] == 4
    assert _losses(tmp_path / "split") == _losses(tmp_path / "whole")
    a, b = whole["model"].state_dict(), second["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = build_model("tiny")
    opt = build_optimizer(list(model.segmenter.named_parameters()), OptimConfig(), BACKBONE_PREFIX)
    state, settings = load_run_checkpoint(tmp_path / "split" / "last", model, opt)
    assert state.step == 4 and settings["stage"] == "segmenter"
    assert opt.state_dict()["state"][0]["step"].item() == 4


def test_prefetched_batches_train_the_same_run(dataset, tmp_path):
    cfg = _seg_cfg(dataset, tmp_path / "threads")
    plain = train_segmenter(_seg_cfg(dataset, tmp_path / "plain"))
    threaded = train_segmenter(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, threads=2)))
    assert _losses(tmp_path / "threads") == _losses(tmp_path / "plain")
    a, b = plain["model"].state_dict(), threaded["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prefetcher_returns_each_steps_own_batch_in_any_order():
    from mpvss_core.train.prefetch import Prefetcher

    p = Prefetcher(lambda rng: rng.random(), seed=3, rank=1, threads=2)
    try:
        got = [p.get(s) for s in (0, 1, 2, 7, 3)]  # a jump (resume) drops the batches made ahead
    finally:
        p.close()
    assert got == [step_rng(3, s, 1).random() for s in (0, 1, 2, 7, 3)]


def test_amp_modes_resolve_per_device_and_reject_bad_ones():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype("auto", cpu) is None and amp_dtype("off", cuda) is None
    assert amp_dtype("auto", cuda) == amp_dtype("bf16", cpu) == torch.bfloat16
    assert amp_dtype("fp16", cuda) == amp_dtype("on", cuda) == torch.float16
    with pytest.raises(ValueError, match="CUDA"):
        amp_dtype("fp16", cpu)
    with pytest.raises(ValueError, match="amp must be"):
        amp_dtype("half", cpu)


def test_bf16_autocast_trains_and_keeps_float32_weights(dataset, tmp_path):
    """The GPU run's bf16 path, exercised on the CPU: autocast is really on (the losses differ from
    float32's by rounding, not more), and the weights stay float32."""
    fp32 = train_segmenter(_seg_cfg(dataset, tmp_path / "fp32", amp="off"))
    bf16 = train_segmenter(_seg_cfg(dataset, tmp_path / "bf16", amp="bf16"))
    a, b = np.array(_losses(tmp_path / "fp32")), np.array(_losses(tmp_path / "bf16"))
    assert bf16["steps"] == 4 and np.isfinite(b).all()
    assert not np.array_equal(a, b) and np.allclose(a, b, rtol=0.1)
    w32, w16 = fp32["model"].state_dict(), bf16["model"].state_dict()
    assert all(v.dtype == w32[k].dtype for k, v in w16.items())


# --- stage 1 runs, label-free mode, loading through the model spec ---------------------------------------


@pytest.fixture(scope="module")
def stage0(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg")
    cfg = _seg_cfg(dataset, out)
    return train_segmenter(dataclasses.replace(cfg, loop=dataclasses.replace(cfg.loop, max_steps=1)))


def test_label_free_targets_are_the_stage0_segmenter_argmax(dataset, stage0):
    model = build_stage1_model(stage0["model"], "query_learned").eval()
    teacher = build_stage1_model(stage0["model"], "query_learned").segmenter.eval()
    step = FlowStep(model, SetCriterion(K, FAST), teacher)
    images = torch.rand(1, 3, *CROP) * 255
    with torch.no_grad():
        out = model.segmenter(images)
        argmax = model.semantic_inference(out.class_logits, out.mask_logits, CROP).argmax(1)
        torch.nn.init.normal_(model.segmenter.class_predictor.weight)  # heads train in stage 1 ...
    assert torch.equal(step.targets(images, None), argmax)  # ... the targets do not drift
    assert torch.equal(pseudo_labels(teacher, images), argmax)


def test_label_free_training_runs_on_unlabelled_clips(stage0, tmp_path):
    root = tmp_path / "footage"
    _write_clip(root / "data" / "x", seed=3, labelled=False)
    cfg = FlowTrainConfig(
        method="pixel_flow",
        segmenter=stage0["checkpoint"],
        labels="none",
        data=_data(root, split="", val_split=""),  # no split files: every clip (a missing one is refused)
        criterion=FAST,
        loop=LoopConfig(out_dir=str(tmp_path / "flow"), max_steps=2, progress=False),
    )
    summary = train_flow(cfg)
    assert summary["steps"] == 2 and summary["labels"] == "none"
    assert np.isfinite(_losses(tmp_path / "flow")).all()


def test_trainer_checkpoint_and_export_load_through_the_model_spec(dataset, stage0, tmp_path):
    from mpvss_core.train.export import export_flow, export_flow_run, export_segmenter

    bundle = tmp_path / "bundle"
    export_segmenter(stage0["checkpoint"], bundle)
    cfg = FlowTrainConfig(
        method="stages_1",
        segmenter=str(bundle),
        data=_data(dataset),
        criterion=FAST,
        loop=LoopConfig(out_dir=str(tmp_path / "flow"), max_steps=1, progress=False),
    )
    summary = train_flow(cfg)
    assert 0.0 <= summary["val"]["val_miou"] <= 100.0
    direct = load_for_method(summary["checkpoint"], "stages_1")
    export_flow(summary, bundle)
    shipped = load_for_method(bundle, "stages_1")
    # the same from the run folder alone (a run resumed or stopped without --export-to)
    again = tmp_path / "again"
    export_segmenter(stage0["checkpoint"], again)
    export_flow_run(summary["checkpoint"], again)
    a_state, b_state = load_for_method(again, "stages_1").state_dict(), shipped.state_dict()
    assert a_state.keys() == b_state.keys() and all(torch.equal(v, b_state[k]) for k, v in a_state.items())
    rec = json.loads((again / "bundle.json").read_text())["records"]["stages_1"]
    assert rec["steps"] == 1 and rec["command"] == summary["command"]
    with pytest.raises(InputError, match="not a stage-1 run"):
        export_flow_run(stage0["checkpoint"], again)
    assert shipped.cfg == direct.cfg
    x = torch.rand(1, 3, *SIZE) * 255
    with torch.no_grad():
        a = direct.propagate(direct.segment_key(x), x).mask_logits
        b = shipped.propagate(shipped.segment_key(x), x).mask_logits
    assert torch.allclose(a, b, atol=0.05)  # float16 storage
    # which parts were trained, and by which command, travels with every checkpoint
    stage0_spec = resolve_model(stage0["checkpoint"])
    assert "stage-0" in stage0_spec.unavailable["query_flow"]  # its flow module is random: refused
    assert set(stage0_spec.entry("copy").trained) == {"segmenter", "heads"}
    run_spec = resolve_model(summary["checkpoint"])
    assert set(run_spec.entry("stages_1").trained) == {"segmenter", "heads", "flow"}
    assert run_spec.entry("stages_1").trained["flow"] == summary["command"]  # this run's command
    shipped_parts = resolve_model(str(bundle)).entry("stages_1").trained
    assert shipped_parts["flow"] == summary["command"] and shipped_parts["segmenter"] == stage0["command"]
    records = json.loads((bundle / "bundle.json").read_text())["records"]
    assert records["stages_1"]["steps"] == 1 and records["segmenter"]["steps"] == 1
    assert load_for_method(bundle, "per_frame").cfg.name == "tiny"
    stored = load_file(str(bundle / "segmenter" / "model.safetensors"))
    assert stored and not any(k.startswith("flow.") for k in stored)  # the base keeps no random flow
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = load_for_method(bundle, "per_frame"), load_for_method(bundle, "copy")
    assert torch.equal(torch.rand(3), before)  # loading leaves the caller's RNG stream alone
    fa, fb = a.flow.state_dict(), b.flow.state_dict()
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    export_segmenter(stage0["checkpoint"], bundle)  # same segmenter again: the variant stays
    assert "stages_1" in json.loads((bundle / "bundle.json").read_text())["variants"]


def test_cli_reports_bad_input_with_status_2(tmp_path, capsys):
    assert (
        main(["train", "segmenter", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "flow", "--segmenter", "x", "--method", "warp_it", "--out", str(tmp_path)]) == 2
    assert "--method" in capsys.readouterr().err


def test_eval_results_are_recorded_next_to_a_bundle_entry(stage0, tmp_path):
    from mpvss_core.train.export import export_segmenter, record_eval

    bundle = tmp_path / "bundle"
    export_segmenter(stage0["checkpoint"], bundle)
    result = {"method": "per_frame", "interval": 5, "miou": 41.234, "data": "synthetic:val", "num_frames": 9}
    other = {**result, "method": "query_flow", "miou": 30.0}  # one file may hold several methods
    (tmp_path / "eval.json").write_text(json.dumps({"results": [result, other]}))
    assert main(["train", "record", "--to", str(bundle), "--entry", "segmenter",
                 "--eval-json", str(tmp_path / "eval.json")]) == 0  # fmt: skip
    record_eval(bundle, "segmenter", tmp_path / "eval.json")  # the same result again replaces it
    evals = json.loads((bundle / "bundle.json").read_text())["records"]["segmenter"]["eval"]
    assert len(evals) == 1 and evals[0]["miou"] == 41.23
    assert (
        main(
            [
                "train",
                "record",
                "--to",
                str(bundle),
                "--entry",
                "query_flow",
                "--eval-json",
                str(tmp_path / "eval.json"),
            ]
        )
        == 2
    )  # fmt: skip  (no such entry)
    (tmp_path / "flows.json").write_text(json.dumps(other))  # a one-method eval file is the result itself
    with pytest.raises(InputError, match="no results of"):
        record_eval(bundle, "segmenter", tmp_path / "flows.json")
    (tmp_path / "single.json").write_text(json.dumps({**result, "interval": 10}))
    assert len(record_eval(bundle, "segmenter", tmp_path / "single.json")["eval"]) == 2
    # an entry keeps the results of every method that runs its weights (bi_pixel_flow runs pixel_flow's)
    from mpvss_core.checkpoints.bundle import write_bundle_index
    from mpvss_core.train.export import read_bundle_index

    index = read_bundle_index(bundle)
    write_bundle_index(bundle, index["segmenter"], index["variants"], {**index["records"], "pixel_flow": {}})
    flows = [{**result, "method": m} for m in ("pixel_flow", "bi_pixel_flow", "query_flow")]
    (tmp_path / "pf.json").write_text(json.dumps({"results": flows}))
    kept = record_eval(bundle, "pixel_flow", tmp_path / "pf.json")["eval"]
    assert sorted(e["method"] for e in kept) == ["bi_pixel_flow", "pixel_flow"]
