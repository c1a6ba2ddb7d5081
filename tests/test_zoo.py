"""Model bundles: a shared segmenter plus partial (flow + heads) checkpoints per method."""

from __future__ import annotations

import pytest
import torch

from mpvss_core.build import build_model, save_checkpoint
from mpvss_core.config import variant
from mpvss_core.errors import InputError
from mpvss_core.zoo import (
    MethodUnavailableError,
    available_methods,
    load_for_method,
    method_of,
    model_key,
    save_partial,
    trainable_state,
    write_bundle_index,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("bundle")
    seg = build_model("tiny")
    save_checkpoint(seg, d / "segmenter")
    model = build_model(variant("tiny", "pixel_flow"))
    model.segmenter.load_state_dict(seg.segmenter.state_dict())
    save_partial(model, d / "pixel_flow", d / "segmenter", dtype=torch.float32)
    write_bundle_index(d, "segmenter", {"pixel_flow": "pixel_flow"})
    return d, model.eval()


def test_partial_checkpoint_holds_only_what_stage_one_trains(bundle):
    _, model = bundle
    keys = set(trainable_state(model))
    assert keys and all(k.startswith("flow.") or "class_predictor" in k or "mask_embedder" in k for k in keys)
    model.freeze_segmenter()
    assert set(model.trainable_parameter_names()) <= keys


def test_bundle_round_trip_reproduces_the_variant(bundle):
    d, model = bundle
    loaded = load_for_method(str(d), "pixel_flow")
    assert method_of(loaded.cfg) == "pixel_flow"
    x = torch.rand(1, 3, 64, 128) * 255
    with torch.no_grad():
        a = model.propagate(model.segment_key(x), x).mask_logits
        b = loaded.propagate(loaded.segment_key(x), x).mask_logits
    assert torch.equal(a, b)
    assert available_methods(str(d)) == ["per_frame", "copy", "optical_flow", "bi_optical_flow", "pixel_flow"]
    assert model_key(str(d), "pixel_flow") != model_key(str(d), "copy")


def test_missing_variant_refuses_clearly(bundle):
    d, _ = bundle
    with pytest.raises(MethodUnavailableError, match="no trained weights for method 'query_flow'"):
        load_for_method(str(d), "query_flow")
    assert load_for_method(str(d), "copy").cfg.name == "tiny"  # segmenter-only methods always run


def test_random_preset_is_marked_and_unknown_spec_refused(tmp_path):
    m = load_for_method("tiny", "query_learned")
    assert m.random_init and method_of(m.cfg) == "query_learned"
    with pytest.raises(InputError, match="not 'default', a preset"):
        load_for_method(str(tmp_path / "nope"), "query_flow")
