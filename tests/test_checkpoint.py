"""Checkpoints: safetensors + JSON round trip, strict loading, pickle refusal, local HF folders."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from mpvss_core.checkpoints.checkpoint import (
    build_model,
    load_checkpoint,
    load_hf_segmenter,
    read_checkpoint_config,
    save_checkpoint,
)
from mpvss_core.config import get_preset
from mpvss_core.errors import CheckpointError
from mpvss_core.methods import method_config
from mpvss_core.modeling.segmenter import hf_config_from_segmenter_config
from mpvss_core.spec import resolve_model


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("tiny").eval()


@pytest.fixture()
def saved(tiny, tmp_path):
    return save_checkpoint(tiny, tmp_path / "ckpt", extra_meta={"step": 12, "note": "test"})


def _frames(seed: int) -> torch.Tensor:
    return torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(seed)) * 255


def test_round_trip_is_bit_exact(tiny, saved):
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_checkpoint(saved).eval()
    assert loaded.cfg == tiny.cfg
    a, b = tiny.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        ka, kb = tiny.segment_key(_frames(1)), loaded.segment_key(_frames(1))
        pa, pb = tiny.propagate(ka, _frames(2)), loaded.propagate(kb, _frames(2))
    assert torch.equal(ka.mask_logits, kb.mask_logits) and torch.equal(pa.mask_logits, pb.mask_logits)
    cfg, meta = read_checkpoint_config(saved)
    assert cfg == tiny.cfg and meta["step"] == 12 and meta["num_parameters"] > 0
    # the weights file alone (config.json beside it) and the model spec work too
    assert load_checkpoint(saved / "model.safetensors").cfg == tiny.cfg
    assert resolve_model(str(saved)).load("copy").cfg == tiny.cfg  # the checkpoint's config wins


def test_variant_config_round_trips(tmp_path):
    torch.manual_seed(1)
    model = build_model(method_config("tiny", "pixel_flow"))
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "pf"))
    assert loaded.cfg == model.cfg and loaded.cfg.flow.use_query_flow is False


def _rewrite(folder, edit):
    path = folder / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_wrong_shape_is_named(saved):
    key = "flow.decoder.fusion.conv.weight"
    _rewrite(saved, lambda s: s.__setitem__(key, torch.zeros(3, 4, 3, 3)))
    with pytest.raises(CheckpointError, match="shape mismatches 1") as err:
        load_checkpoint(saved)
    assert key in str(err.value) and "(3, 4, 3, 3)" in str(err.value) and "(2, 4, 3, 3)" in str(err.value)


def test_missing_and_unexpected_keys_are_named_with_counts(saved):
    gone = [k for k in load_file(str(saved / "model.safetensors")) if k.startswith("flow.encoder.")]

    def edit(state):
        for k in gone:
            del state[k]
        state["flow.extra.weight"] = torch.zeros(2)

    _rewrite(saved, edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(saved)
    msg = str(err.value)
    assert f"missing keys {len(gone)}:" in msg and gone[0] in msg and "more)" in msg
    assert "unexpected keys 1: flow.extra.weight" in msg


def test_config_problems_are_checkpoint_errors(saved):
    (saved / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CheckpointError, match="JSON"):
        load_checkpoint(saved)
    payload = {
        "format": "mpvss-studio-checkpoint",
        "format_version": 1,
        "config": {"segmenter": {"wings": 2}},
    }
    (saved / "config.json").write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(CheckpointError, match="wings"):
        load_checkpoint(saved)
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        load_checkpoint(saved)


def test_pickle_files_are_refused_without_unpickling(tmp_path, saved):
    # a pickle that would run code if it were ever loaded
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    blob = pickle.dumps(Boom(), protocol=4)
    for name in ("model.pt", "weights.pth", "pytorch_model.bin", "last.ckpt"):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(path)
    only_pickle = tmp_path / "folder"
    only_pickle.mkdir()
    (only_pickle / "model.pth").write_bytes(blob)
    with pytest.raises(CheckpointError, match="pickle"):
        resolve_model(str(only_pickle))
    # pickle bytes or a torch.save zip disguised as model.safetensors
    for payload in (blob, b"PK\x03\x04" + b"\x00" * 64):
        (saved / "model.safetensors").write_bytes(payload)
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(saved)
    (saved / "model.safetensors").write_bytes(b"garbage that is not safetensors")
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(saved)


def test_missing_path_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(tmp_path / "empty")


def test_local_hf_mask2former_folder_loads_as_segmenter(tmp_path):
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(2)
    hf = Mask2FormerForUniversalSegmentation(
        hf_config_from_segmenter_config(get_preset("tiny").segmenter)
    ).eval()
    folder = tmp_path / "m2f"
    hf.save_pretrained(folder)  # config.json (model_type mask2former) + model.safetensors, offline
    for model in (
        resolve_model(str(folder)).load("per_frame"),
        load_hf_segmenter(folder, get_preset("tiny")),
    ):
        model.eval()
        seg_state = model.segmenter.mask2former.state_dict()
        assert all(torch.equal(v, seg_state[k]) for k, v in hf.state_dict().items())
        assert model.cfg.segmenter.hf_config is not None and model.cfg.name == "hf-m2f"
        with torch.no_grad():
            key = model.segment_key(_frames(3))
            ref = hf(pixel_values=model.segmenter.preprocess(_frames(3)))
            model.propagate(key, _frames(4))
        torch.testing.assert_close(key.class_logits, ref.class_queries_logits)
    # an MPVSS checkpoint of it rebuilds the same architecture from the stored HF config
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "mpvss"))
    assert loaded.cfg == model.cfg
    # an HF folder is not mistaken for an MPVSS checkpoint by the strict loader
    with pytest.raises(CheckpointError, match="Hugging Face"):
        load_checkpoint(folder)
    # an HF folder with pickle weights only is refused
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        resolve_model(str(folder))
