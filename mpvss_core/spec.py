"""ModelSpec: the user's model string, resolved once into what every part of the studio needs.

    spec = resolve_model("default")          # the shipped bundle (assets/models/default)
    spec = resolve_model("mine")             # any other bundle folder put in assets/models, by name
    spec = resolve_model("tiny")             # the tiny preset, random weights (seed 0)
    spec = resolve_model("runs/flow/last")   # one of our checkpoints, or a bundle folder
    spec = resolve_model("m2f_cityscapes/")  # a local Hugging Face Mask2Former folder (save_pretrained)
    spec.methods                             # what it can run, in display order
    spec.unavailable["query_flow"]           # why it cannot run the others
    spec.config("query_flow"), spec.method_identity("query_flow"), spec.identity, spec.class_names
    spec.with_key_heads("stage0")            # the same model, key frames by the stage-0 heads (bundles)
    model = spec.load("query_flow", device="cpu")   # the MPVSS that runs the method, in eval()

Nothing downstream re-parses the string: the CLI, the app, the analyses, training and the benchmarks
pass this object. Resolution reads only small JSON files, each once (`checkpoints.checkpoint.
read_checkpoint`); the identities are content hashes of every weights AND config file a method runs
with (`checkpoints.bundle.file_digest`: computed once per file stat, so editing a config.json, e.g. its
warp mode, changes them while repeated lookups cost nothing). A folder resolved again while none of its
files changed (size, modification time, inode of `ModelSpec.files`) gives the same ModelSpec without
reading anything: an app rerun costs a few stat calls.

Kinds:
- "random": a preset name (`tiny`, `swin_t`, ...): every method of the table runs on random weights
  (seeded, so all methods share one segmenter); every number made with it says so.
- "bundle": a folder with bundle.json (`checkpoints.bundle`): the segmenter-only methods, plus one
  learned method per trained variant (and the methods that reuse a variant's flow module).
- "checkpoint": one of our checkpoint folders: the segmenter-only methods plus the one learned method
  its flow module implements.
- "hf": a local Hugging Face Mask2Former folder (config.json with model_type "mask2former" and
  model.safetensors): the segmenter-only methods; class names from its `id2label`.

Untrained parts are never run as if trained: every checkpoint records which parts were trained
(`checkpoints.checkpoint.trained_parts`), and a learned method whose flow module was never trained (a
stage-0 checkpoint, a segmenter saved from code) is unavailable with that reason, unless the spec is
resolved with `allow_untrained=True`; then its entry is marked `untrained` and every result made with
it says so.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mpvss_core.checkpoints.bundle import is_bundle, load_partial, stage0_key_decoder
from mpvss_core.checkpoints.checkpoint import build_model, load_checkpoint, load_hf_segmenter
from mpvss_core.checkpoints.entries import MethodEntry, class_names, digest, read_folder
from mpvss_core.config import PRESETS, MPVSSConfig, get_preset
from mpvss_core.errors import InputError, MethodUnavailableError
from mpvss_core.methods.table import METHODS, method_config, method_spec

__all__ = ["ASSETS", "DEFAULT_MODEL", "MethodEntry", "ModelSpec", "resolve_model", "shipped_models"]

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL = "default"  # the shipped bundle, ASSETS / "default"


def shipped_models() -> list[str]:
    """Names of the bundles in assets/models (`default` first): each is a `--model` name."""
    names = sorted(p.name for p in ASSETS.iterdir() if is_bundle(p)) if ASSETS.is_dir() else []
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


KEY_HEADS = ("retrained", "stage0")


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A resolved `--model` (see the module docstring).

    Attributes:
        text: what the user wrote.
        kind: "random", "bundle", "checkpoint" or "hf".
        path: the folder (None for presets).
        preset: the preset name of a random model, else None.
        seed: seed of a random model's weights.
        class_names: the label space the model predicts.
        entries: the runnable methods, in display order.
        unavailable: {method: why it cannot run} for the table's other methods.
        identity: content hash of every file the model runs with (or the preset and seed).
        allow_untrained: untrained flow modules were asked for (their entries say `untrained`).
        key_heads: "retrained" (the paper: key frames use the heads stage 1 retrained with the flow
            module) or "stage0" (key frames use the segmenter's own heads; non-key frames still
            propagate the retrained heads' masks). Not the paper's recipe; bundles only.
        records: a bundle's training and evaluation records (bundle.json "records"), else {}.
        files: every file the resolution depends on (read, or whose absence counts): it is resolved
            again only when one of them changes.
    """

    text: str
    kind: str
    path: Path | None
    preset: str | None
    seed: int
    class_names: tuple[str, ...]
    entries: Mapping[str, MethodEntry]
    unavailable: Mapping[str, str]
    identity: str
    allow_untrained: bool = False
    key_heads: str = "retrained"
    records: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()

    # --- what it is --------------------------------------------------------------------------------------
    @property
    def random_init(self) -> bool:
        """Random weights: scores mean nothing (shapes, costs and timings are real)."""
        return self.kind == "random"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def label(self) -> str:
        """How the model is named in tables and pages."""
        return self.text + (" [key frames: stage-0 heads]" if self.key_heads == "stage0" else "")

    @property
    def methods(self) -> list[str]:
        """The methods it can run, in the method table's order."""
        return list(self.entries)

    def __repr__(self) -> str:
        return f"ModelSpec({self.text!r}, kind={self.kind!r}, methods={self.methods})"

    # --- one method ------------------------------------------------------------------------------------
    def entry(self, method: str) -> MethodEntry:
        """How `method` runs (aliases and any `stages_S` resolve through the method table).

        Raises:
            InputError: unknown method.
            MethodUnavailableError: the model cannot run it (the message says why).
        """
        name = method_spec(method).name
        if name in self.entries:
            return self.entries[name]
        if self.kind == "random":  # any stages_S of a preset
            return _random_entry(self.preset or "", name, self.seed)
        raise MethodUnavailableError(
            self.unavailable.get(name) or f"model {self.text!r} has no trained weights for method {name!r}"
        )

    def config(self, method: str) -> MPVSSConfig:
        return self.entry(method).config

    def method_identity(self, method: str) -> str:
        """Content identity of the model that runs `method` (result-cache keys; methods that run the
        same loaded model share it, e.g. every segmenter-only method of a model)."""
        return self.entry(method).identity

    def with_key_heads(self, key_heads: str) -> ModelSpec:
        """This model with its key frames segmented by `key_heads` (see the class docstring): a
        transform of the resolved spec, nothing is read. With "stage0" the learned methods are other
        models (their own identities, so results are cached apart); segmenter-only ones are unchanged.

        Raises:
            InputError: unknown key heads, or "stage0" for a model that is not a bundle.
        """
        if key_heads not in KEY_HEADS:
            raise InputError(f"key heads must be one of {', '.join(KEY_HEADS)}, got {key_heads!r}")
        if key_heads == self.key_heads:
            return self
        if self.key_heads != "retrained":
            raise ValueError("with_key_heads transforms a spec resolved with the retrained heads")
        if self.kind != "bundle":
            raise InputError(
                "stage-0 key-frame heads need a model bundle (its segmenter entry holds them); "
                f"{self.text!r} is a {self.kind} model. Export it into one with "
                "`mpvss train ... --export-to DIR`"
            )
        # a learned entry runs (bundle segmenter, variant): the segmenter checkpoint holds the stage-0 heads
        entries = {
            name: dataclasses.replace(
                e, identity=digest(e.identity, "key-heads-stage0"), key_heads=e.folders[0]
            )
            if len(e.folders) == 2
            else e
            for name, e in self.entries.items()
        }
        identity = digest(*(e.identity for e in entries.values()))
        return dataclasses.replace(self, entries=entries, identity=identity, key_heads=key_heads)

    def can_run(self, method: str) -> bool:
        try:
            self.entry(method)
        except InputError:
            return False
        return True

    def load(self, method: str, device: str | torch.device | None = None):
        """The MPVSS model that runs `method`, in eval() mode, on `device`.

        Raises:
            MethodUnavailableError / CheckpointError: the method cannot run, or the files are unusable.
        """
        entry = self.entry(method)
        if self.kind == "random":
            # seeded without touching the caller's random stream: every method of a preset gets the
            # same segmenter (the flow modules differ by variant)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = build_model(entry.config, device=device)
            model.random_init = True
        elif self.kind == "hf":
            model = load_hf_segmenter(self.path, entry.config)
            model = model if device is None else model.to(device)
        elif len(entry.folders) == 2:
            model = load_partial(*entry.folders, device=device)
        else:
            model = load_checkpoint(entry.folders[0], device=device)
        if entry.key_heads is not None:
            model.use_key_decoder(stage0_key_decoder(model, entry.key_heads))
        return model.eval()


# ---------------------------------------------------------------------------------------------------
# Resolution


def _random_entry(preset: str, method: str, seed: int) -> MethodEntry:
    cfg = method_config(preset, method)
    return MethodEntry(method, cfg, (), f"random-{cfg.name}-seed{seed}")


def _from_preset(text: str, seed: int) -> ModelSpec:
    entries = {name: _random_entry(text, name, seed) for name in METHODS}
    cfg = get_preset(text)
    return ModelSpec(text, "random", None, text, seed, class_names(cfg.segmenter.num_classes),
                     entries, {}, f"random-{text}-seed{seed}")  # fmt: skip


def _model_folder(text: str) -> Path:
    """The folder (or checkpoint file) a model string names that is not a preset."""
    if text == DEFAULT_MODEL:
        path = ASSETS / DEFAULT_MODEL
        if not is_bundle(path):
            raise InputError(
                f"no shipped model bundle at {path}: train one (`mpvss train ...`) or pass --model tiny "
                "for random weights"
            )
        return path
    path = Path(text)
    if not path.exists() and text in shipped_models():  # a folder of that name here comes first
        return ASSETS / text
    if not path.exists():
        shipped = ", ".join(shipped_models()) or "none"
        raise InputError(
            f"model {text!r} does not exist: give a shipped bundle ({shipped}), a preset "
            f"({', '.join(sorted(PRESETS))}) or a bundle, checkpoint or Hugging Face Mask2Former folder"
        )
    return path


def _stamp(files: tuple[Path, ...]) -> tuple:
    def one(f: Path):
        try:
            st = f.stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino

    return tuple(one(f) for f in files)


# resolved folders: (text, folder, allow_untrained) -> (stamp of spec.files, spec); least recent out first
_RESOLVED: OrderedDict[tuple[str, str, bool], tuple[tuple, ModelSpec]] = OrderedDict()
_RESOLVED_SIZE = 16


def _resolved(text: str, allow_untrained: bool) -> ModelSpec:
    path = _model_folder(text)
    key = (text, str(path.absolute()), allow_untrained)
    hit = _RESOLVED.get(key)
    if hit is not None and hit[0] == _stamp(hit[1].files):
        _RESOLVED.move_to_end(key)
        return hit[1]
    m = read_folder(text, path, allow_untrained)
    spec = ModelSpec(text, m.kind, m.path, None, 0, m.class_names, m.entries, m.unavailable, m.identity,
                     m.allow_untrained, records=m.records, files=m.files)  # fmt: skip
    _RESOLVED[key] = (_stamp(spec.files), spec)
    while len(_RESOLVED) > _RESOLVED_SIZE:
        _RESOLVED.popitem(last=False)
    return spec


def resolve_model(
    text: str | os.PathLike, seed: int = 0, allow_untrained: bool = False, key_heads: str = "retrained"
) -> ModelSpec:
    """Resolve `--model` once: `default`, a preset name, a bundle / checkpoint / Hugging Face folder.

    A folder whose files did not change since it was last resolved is not read again (the module
    docstring); `key_heads` is `ModelSpec.with_key_heads` of the resolved spec.

    Args:
        text: the model string.
        seed: seed of a preset's random weights.
        allow_untrained: offer learned methods whose flow module was never trained (marked untrained).
        key_heads: "retrained" or "stage0" (`ModelSpec.key_heads`; "stage0" needs a model bundle).
    Raises:
        InputError (CheckpointError): nothing usable by that name; the message says what was expected.
    """
    text = str(text)
    if key_heads not in KEY_HEADS:
        raise InputError(f"key heads must be one of {', '.join(KEY_HEADS)}, got {key_heads!r}")
    spec = _from_preset(text, seed) if text in PRESETS else _resolved(text, allow_untrained)
    return spec.with_key_heads(key_heads)
