"""The model load path: every JSON file of a folder is parsed once per resolve, a folder resolved again
with unchanged files is not read at all (a changed stat re-reads it), the stage-0 key heads are a
transform of the resolved spec, and methods that run the same model share its identity."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

import mpvss_core.checkpoints.checkpoint as checkpoint_module
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.errors import InputError
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model
from tests.engine_helpers import tiny_bundle

SEGMENTER_ONLY = ("per_frame", "copy", "optical_flow", "bi_optical_flow")


@pytest.fixture()
def bundle(tmp_path):
    return tiny_bundle(tmp_path, "pixel_flow")


@pytest.fixture()
def reads(monkeypatch):
    """{file: how many times it was read} for every .json file read with Path.read_text."""
    counts: collections.Counter[str] = collections.Counter()
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if self.suffix == ".json":
            counts[f"{self.parent.name}/{self.name}"] += 1
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return counts


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_bundle_is_read_once_per_resolve(bundle, reads):
    spec = resolve_model(str(bundle))
    # bundle.json, the segmenter's config and the variant's, though two methods run the variant
    assert "bi_pixel_flow" in spec.methods and "pixel_flow" in spec.methods
    assert dict(reads) == {
        f"{bundle.name}/bundle.json": 1,
        "segmenter/config.json": 1,
        "pixel_flow/config.json": 1,
    }


def test_a_checkpoint_folder_is_read_once_per_resolve(tmp_path, reads):
    folder = save_checkpoint(build_model("tiny"), tmp_path / "ckpt")
    reads.clear()
    resolve_model(str(folder))
    assert dict(reads) == {"ckpt/config.json": 1}  # the sniff and the read share one parse


def test_a_second_resolve_reads_nothing_until_a_file_changes(bundle, reads):
    first = resolve_model(str(bundle))
    reads.clear()
    assert resolve_model(str(bundle)) is first and not reads
    stage0 = resolve_model(str(bundle), key_heads="stage0")
    assert not reads and stage0.key_heads == "stage0"
    _touch(bundle / "pixel_flow" / "config.json")  # a new modification time: read again
    again = resolve_model(str(bundle))
    assert again is not first and reads["pixel_flow/config.json"] == 1
    assert again.identity == first.identity  # the same bytes: the same content identity
    reads.clear()
    assert resolve_model(str(bundle)) is again and not reads
    # a file that appears counts too: a trainer_state.json could change the trained-parts record
    (bundle / "segmenter" / "trainer_state.json").write_text("{}")
    assert resolve_model(str(bundle)) is not again
    # other options are other specs
    assert resolve_model(str(bundle), allow_untrained=True) is not resolve_model(str(bundle))


def test_stage0_key_heads_are_a_transform_of_the_resolved_spec(bundle, reads):
    spec = resolve_model(str(bundle))
    reads.clear()
    stage0 = spec.with_key_heads("stage0")
    assert not reads  # nothing is read
    via_cli = resolve_model(str(bundle), key_heads="stage0")
    assert stage0.identity == via_cli.identity and stage0.label == via_cli.label
    assert stage0.method_identity("pixel_flow") == via_cli.method_identity("pixel_flow")
    assert stage0.method_identity("pixel_flow") != spec.method_identity("pixel_flow")
    assert stage0.entry("pixel_flow").key_heads == bundle / "segmenter"
    for m in SEGMENTER_ONLY:
        assert stage0.entry(m) is spec.entry(m)
    assert spec.with_key_heads("retrained") is spec and stage0.with_key_heads("stage0") is stage0
    with pytest.raises(ValueError, match="retrained"):
        stage0.with_key_heads("retrained")
    with pytest.raises(InputError, match="one of"):
        spec.with_key_heads("best")
    with pytest.raises(InputError, match="need a model bundle"):
        resolve_model("tiny").with_key_heads("stage0")


def test_methods_that_run_the_segmenter_share_one_identity_and_a_loaded_model(bundle, monkeypatch):
    spec = resolve_model(str(bundle))
    assert len({spec.method_identity(m) for m in SEGMENTER_ONLY}) == 1
    assert spec.method_identity("pixel_flow") not in {spec.method_identity(m) for m in SEGMENTER_ONLY}
    loads = []

    def counting(*args, **kwargs):
        loads.append(args)
        return checkpoint_module.load_checkpoint(*args, **kwargs)

    monkeypatch.setattr("mpvss_core.spec.load_checkpoint", counting)
    model = spec.load("per_frame", device="cpu")
    predictors = [VideoPredictor(spec, m, device="cpu", model=model) for m in SEGMENTER_ONLY]
    assert len(loads) == 1 and all(p.model is model for p in predictors)
    assert [p.method for p in predictors] == list(SEGMENTER_ONLY)
    # the inference path is set by a method of the model (`MPVSS.use_fast_path`), for all who share it
    assert model.flow.encoder.split and model.flow.decoder.fusion.split
    VideoPredictor(spec, "copy", model=model, path="reference")
    assert not model.flow.encoder.split and not model.flow.decoder.fusion.split
    assert model.use_fast_path() is model and model.flow.encoder.split


def test_build_model_loads_no_files():
    with pytest.raises(TypeError):
        build_model("tiny", checkpoint="runs/x")  # the spec path is the one way to load a folder
