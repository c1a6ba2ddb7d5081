"""Query-branch pre-training on exact flow (`mpvss train flow --method query_flow --pretrain-flow`): the
loss reaches the whole flow module and nothing else, key-frame outputs are cached and read back exactly,
the augmentation pool makes key frames repeat, and a run records how it was made; stage 1 with the
segmenter's heads frozen trains the flow module alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.data.writer import write_split
from mpvss_core.spec import resolve_model
from mpvss_core.train.augment import pooled_rng
from mpvss_core.train.common import DataConfig
from mpvss_core.train.data import AugConfig
from mpvss_core.train.flow import FlowTrainConfig, build_stage1_model, train_flow
from mpvss_core.train.loop import LoopConfig, OptimConfig
from mpvss_core.train.query_pretrain import KeyOutputCache, QueryFlowPretrainStep

SIZE = (64, 128)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_split("train", root, num_clips=2, num_frames=6, size=SIZE, progress=False)
    return root


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seg") / "seg"
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), folder)
    return folder


def _pair(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    keys = torch.rand(2, 3, 64, 96, generator=g) * 255
    targets = torch.rand(2, 3, 64, 96, generator=g) * 255
    flow = torch.randn(2, 2, 64, 96, generator=g) * 3
    return keys, targets, flow, torch.ones(2, 64, 96, dtype=torch.bool)


def test_the_loss_reaches_every_flow_branch_and_never_the_segmenter(segmenter):
    base = resolve_model(str(segmenter)).load("per_frame")
    model = build_stage1_model(base, "query_flow")
    model.freeze_segmenter()
    model.segmenter.requires_grad_(False)
    step = QueryFlowPretrainStep(model)
    loss, parts = step(*_pair())
    assert torch.isfinite(loss) and {"loss_fused", "loss_query", "loss_pixel", "loss_flow"} <= set(parts)
    assert parts["loss_flow"] == pytest.approx(
        parts["loss_fused"] + parts["loss_query"] + parts["loss_pixel"]
    )
    loss.backward()
    decoder = model.flow.decoder
    # the fusion conv starts at weight 0, so the branches need their own terms to get any gradient
    for name, part in [("encoder", model.flow.encoder), ("transformer", decoder.transformer),
                       ("query_flow_head", decoder.query_flow_head), ("pixel_decoder", decoder.pixel_decoder),
                       ("fusion", decoder.fusion)]:  # fmt: skip
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), name
    assert all(p.grad is None for p in model.segmenter.parameters())


def test_cached_key_outputs_give_the_same_loss_and_skip_the_segmenter(segmenter, monkeypatch):
    base = resolve_model(str(segmenter)).load("per_frame")
    model = build_stage1_model(base, "query_flow").eval()
    cache = KeyOutputCache(64 << 20)
    step = QueryFlowPretrainStep(model, cache)
    ids = [(0, 1, 0), (1, 3, 2)]
    first, _ = step(*_pair(), key_ids=ids)
    calls = []
    real = model.segment_key
    monkeypatch.setattr(model, "segment_key", lambda x, **kw: calls.append(len(x)) or real(x, **kw))
    again, parts = step(*_pair(), key_ids=ids)
    assert calls == [] and torch.equal(first, again) and parts["key_cache_hit"] == 0.5
    step(*_pair(), key_ids=[(0, 1, 0), (0, 2, 0)])  # one new key frame: the segmenter sees only it
    assert calls == [1] and len(cache) == 3
    small = KeyOutputCache(cache.bytes // 3 * 2)  # room for two entries: the least recently used goes
    for k, item in zip([(0, 0, 0), (0, 1, 0), (0, 2, 0)], cache._items.values(), strict=True):
        small.put(k, item)
    assert (
        small.get((0, 0, 0)) is None and small.get((0, 2, 0)) is not None and small.bytes <= small.max_bytes
    )


def test_pooled_draws_repeat_per_key_frame():
    rng = np.random.default_rng(7)
    draws = [pooled_rng(3, 1, 4, rng, 2) for _ in range(20)]
    assert {d for _, d in draws} == {0, 1}
    by_draw = {}
    for gen, d in draws:
        by_draw.setdefault(d, set()).add(float(gen.uniform()))
    assert all(len(v) == 1 for v in by_draw.values())  # the same draw: the same augmentation
    other, _ = pooled_rng(3, 1, 5, np.random.default_rng(7), 2)  # another key frame: another draw
    assert float(other.uniform()) not in by_draw[draws[0][1]] | by_draw.get(1 - draws[0][1], set())


def test_a_query_flow_pretraining_run_trains_only_the_flow_module(synth, segmenter, tmp_path):
    cfg = FlowTrainConfig(
        method="query_flow",
        segmenter=str(segmenter),
        pretrain_flow=True,
        aug_pool=1,
        data=DataConfig(root=str(synth), val_split="", batch_size=2, aug=AugConfig(crop=(64, 96))),
        optim=OptimConfig(lr=1e-3, warmup_steps=0),
        loop=LoopConfig(out_dir=str(tmp_path / "pre"), max_steps=4, progress=False),
    )
    summary = train_flow(cfg)
    assert summary["steps"] == 4 and summary["pretrain_flow"] and summary["aug_pool"] == 1
    log = (tmp_path / "pre" / "log.csv").read_text().splitlines()
    header = log[0].split(",")
    assert "key_cache_hit" in header and "loss_query" in header
    before = resolve_model(str(segmenter)).load("per_frame").state_dict()
    after = resolve_model(summary["checkpoint"]).load("query_flow").state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("segmenter."))
    start = build_stage1_model(resolve_model(str(segmenter)).load("per_frame"), "query_flow").state_dict()
    moved = [k for k in after if k.startswith("flow.decoder.") and after[k].dtype.is_floating_point]
    assert moved and sum(not torch.equal(after[k], start[k]) for k in moved) > len(moved) // 2
    assert resolve_model(summary["checkpoint"]).entry("query_flow").trained["flow"] == summary["command"]


def test_stage1_with_frozen_heads_trains_only_the_flow_module(synth, segmenter, tmp_path):
    cfg = FlowTrainConfig(
        method="query_flow",
        segmenter=str(segmenter),
        freeze_heads=True,
        data=DataConfig(root=str(synth), val_split="", batch_size=1, aug=AugConfig(crop=(64, 96))),
        criterion=dataclasses.replace(FlowTrainConfig().criterion, num_points=256),
        optim=OptimConfig(lr=1e-3, warmup_steps=0),
        loop=LoopConfig(out_dir=str(tmp_path / "s1"), max_steps=2, progress=False),
    )
    summary = train_flow(cfg)
    before = resolve_model(str(segmenter)).load("per_frame").state_dict()
    spec = resolve_model(summary["checkpoint"])
    after = spec.load("query_flow").state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("segmenter."))
    trained = spec.entry("query_flow").trained
    assert trained["flow"] == summary["command"] and trained.get("heads") != summary["command"]
    assert summary["freeze_heads"] is True
