"""The model spec (every kind of string, every refusal, identities) and the bundle format it reads."""

from __future__ import annotations

import json

import pytest
import torch

import mpvss_core.spec as spec_module
from mpvss_core.checkpoints.bundle import (
    file_digest,
    load_partial,
    save_partial,
    trainable_state,
    write_bundle_index,
)
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.config import get_preset
from mpvss_core.errors import CheckpointError, InputError, MethodUnavailableError
from mpvss_core.labels import SYNTH_CLASSES
from mpvss_core.methods import ALL_METHODS, METHODS, method_config, method_of_flow
from mpvss_core.modeling.segmenter import hf_config_from_segmenter_config
from mpvss_core.spec import ASSETS, resolve_model, shipped_models


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("bundle")
    seg = build_model("tiny")
    save_checkpoint(seg, d / "segmenter")
    model = build_model(method_config("tiny", "pixel_flow"))
    model.segmenter.load_state_dict(seg.segmenter.state_dict())
    save_partial(model, d / "pixel_flow", d / "segmenter", dtype=torch.float32)
    write_bundle_index(d, "segmenter", {"pixel_flow": "pixel_flow"})
    return d, model.eval()


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(2)
    cfg = hf_config_from_segmenter_config(get_preset("tiny").segmenter)
    cfg.id2label = {i: f"thing{i}" for i in range(cfg.num_labels)}
    cfg.label2id = {v: k for k, v in cfg.id2label.items()}
    folder = tmp_path_factory.mktemp("hf") / "m2f"
    Mask2FormerForUniversalSegmentation(cfg).save_pretrained(folder)
    return folder


def test_partial_checkpoint_holds_only_what_stage_one_trains(bundle):
    _, model = bundle
    keys = set(trainable_state(model))
    assert keys and all(k.startswith("flow.") or "class_predictor" in k or "mask_embedder" in k for k in keys)
    model.freeze_segmenter()
    assert set(model.trainable_parameter_names()) <= keys


def test_bundle_spec_runs_its_variants_and_says_why_not_the_others(bundle):
    d, model = bundle
    spec = resolve_model(str(d))
    assert spec.kind == "bundle" and spec.class_names == SYNTH_CLASSES and not spec.random_init
    # segmenter-only methods, the trained variant, and the method that reuses its flow module
    assert spec.methods == [
        "per_frame",
        "copy",
        "optical_flow",
        "bi_optical_flow",
        "pixel_flow",
        "bi_pixel_flow",
    ]
    assert "mpvss train flow --method query_flow" in spec.unavailable["query_flow"]
    assert "query_learned" in spec.unavailable and "stages_3" not in spec.unavailable  # an alias
    with pytest.raises(MethodUnavailableError, match="no trained weights for method 'query_flow'"):
        spec.load("query_flow")
    with pytest.raises(MethodUnavailableError, match="no trained weights for method 'query_flow'"):
        spec.load("stages_3")  # the alias resolves to the same entry
    loaded = spec.load("pixel_flow")
    assert method_of_flow(loaded.cfg.flow) == "pixel_flow" and not loaded.training
    x = torch.rand(1, 3, 64, 128) * 255
    with torch.no_grad():
        a = model.propagate(model.segment_key(x), x).mask_logits
        b = loaded.propagate(loaded.segment_key(x), x).mask_logits
    assert torch.equal(a, b)
    assert spec.load("copy").cfg.name == "tiny"  # segmenter-only methods always run
    # identities: per method; one flow module for pixel_flow and bi_pixel_flow
    assert (
        spec.method_identity("pixel_flow")
        == spec.method_identity("bi_pixel_flow")
        != spec.method_identity("copy")
        == spec.method_identity("per_frame")
    )


def test_identity_follows_weights_and_config(tmp_path):
    torch.manual_seed(0)
    folder = save_checkpoint(build_model("tiny"), tmp_path / "ckpt")
    before = resolve_model(str(folder))
    assert before.kind == "checkpoint" and before.method_identity("copy") == resolve_model(
        str(folder)
    ).method_identity("copy")
    # editing only config.json (here: the warp mode) changes the identity: no stale cached results
    cfg = json.loads((folder / "config.json").read_text())
    cfg["config"]["warp_mode"] = "compat"
    (folder / "config.json").write_text(json.dumps(cfg))
    after = resolve_model(str(folder))
    assert after.config("copy").warp_mode == "compat" and after.method_identity(
        "copy"
    ) != before.method_identity("copy")
    assert after.identity != before.identity
    # digests are cached by file stat: the same file is hashed once
    assert file_digest(folder / "model.safetensors") == file_digest(folder / "model.safetensors")


def test_checkpoint_spec_runs_its_own_flow_module(tmp_path):
    torch.manual_seed(0)
    trained = {"segmenter": "cmd0", "heads": "cmd1", "flow": "cmd1"}
    folder = save_checkpoint(build_model(method_config("tiny", "stages_2")), tmp_path / "s2", trained=trained)
    spec = resolve_model(str(folder))
    assert spec.entry("stages_2").trained == trained and not spec.entry("stages_2").untrained
    assert "stages_2" in spec.methods and "query_flow" not in spec.methods
    assert "has the flow module of 'stages_2'" in spec.unavailable["query_flow"]
    assert spec.load("stages_2").cfg.flow.num_stages == 2


@pytest.mark.parametrize("record", [None, {"segmenter": "mpvss train segmenter ...", "heads": "same"}])
def test_an_untrained_flow_module_is_refused_unless_asked_for(tmp_path, record):
    """A model saved from code (no record) or a stage-0 checkpoint: its flow module is random."""
    torch.manual_seed(0)
    folder = save_checkpoint(build_model("tiny"), tmp_path / "ckpt", trained=record)
    spec = resolve_model(str(folder))
    assert spec.methods == ["per_frame", "copy", "optical_flow", "bi_optical_flow"]
    why = spec.unavailable["query_flow"]
    assert "flow module was never trained" in why and "--allow-untrained" in why
    assert ("stage-0" in why) == (record is not None)
    with pytest.raises(MethodUnavailableError, match="never trained"):
        spec.load("query_flow")
    asked = resolve_model(str(folder), allow_untrained=True)
    assert "query_flow" in asked.methods and asked.entry("query_flow").untrained
    assert not asked.entry("copy").untrained and asked.allow_untrained
    assert asked.load("query_flow").cfg.name == "tiny"


def test_random_preset_runs_every_method_on_one_seeded_segmenter():
    tiny = resolve_model("tiny")
    assert tiny.random_init and tiny.kind == "random" and set(tiny.methods) == set(METHODS)
    state = torch.random.get_rng_state()
    a, b = tiny.load("query_learned"), tiny.load("pixel_flow")
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is untouched
    assert a.random_init and method_of_flow(a.cfg.flow) == "query_learned"
    sa, sb = a.segmenter.state_dict(), b.segmenter.state_dict()
    assert all(torch.equal(v, sb[k]) for k, v in sa.items())
    assert tiny.config("stages_7").flow.num_stages == 7  # any S, not only the table's
    assert tiny.method_identity("copy") != resolve_model("tiny", seed=1).method_identity("copy")


def test_hf_folder_is_a_model_spec(hf_folder):
    spec = resolve_model(str(hf_folder))
    assert spec.kind == "hf" and spec.class_names[:2] == ("thing0", "thing1") and spec.num_classes == 18
    assert spec.methods == ["per_frame", "copy", "optical_flow", "bi_optical_flow"]
    assert "--segmenter" in spec.unavailable["query_flow"]
    model = spec.load("per_frame")
    assert model.cfg.segmenter.hf_config is not None and model.cfg.name == "hf-m2f"


def test_shipped_bundles_are_model_names(tmp_path, monkeypatch):
    # every bundle folder in assets/models is a model name, the default first: a second bundle is
    # staged beside the shipped one (a link, so nothing is copied)
    (tmp_path / "default").symlink_to(ASSETS / "default")
    (tmp_path / "second").symlink_to(ASSETS / "default")
    (tmp_path / "not_a_bundle").mkdir()
    monkeypatch.setattr(spec_module, "ASSETS", tmp_path)
    assert shipped_models() == ["default", "second"]
    spec = resolve_model("second")
    assert spec.kind == "bundle" and spec.path == tmp_path / "second" and spec.label == "second"
    assert "per_frame" in spec.methods


def test_every_kind_of_bad_string_is_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist: give a shipped bundle \\(default"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        resolve_model(str(tmp_path / "file.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors|config.json"):
        resolve_model(str(tmp_path / "empty"))
    bad = tmp_path / "bad_bundle"
    bad.mkdir()
    (bad / "bundle.json").write_text('{"format": "something else"}')
    with pytest.raises(CheckpointError, match="not an MPVSS model bundle"):
        resolve_model(str(bad))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "model.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError, match="pickle"):
        resolve_model(str(pickled))
    with pytest.raises(InputError, match="unknown method"):
        resolve_model("tiny").entry("raft")


def test_load_partial_reads_only_the_base_tensors(bundle):
    d, model = bundle
    loaded = load_partial(d / "segmenter", d / "pixel_flow")
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())


def test_all_methods_excludes_only_the_ablations():
    assert set(ALL_METHODS) == {m for m, s in METHODS.items() if s.group != "ablation"}
