"""ModelSpec: the user's model string, resolved once into what every part of the studio needs.

    spec = resolve_model("default")          # the shipped bundle (assets/models/default)
    spec = resolve_model("next")             # any other bundle shipped in assets/models, by name
    spec = resolve_model("tiny")             # the tiny preset, random weights (seed 0)
    spec = resolve_model("runs/flow/last")   # one of our checkpoints, or a bundle folder
    spec = resolve_model("m2f_cityscapes/")  # a local Hugging Face Mask2Former folder (save_pretrained)
    spec.methods                             # what it can run, in display order
    spec.unavailable["query_flow"]           # why it cannot run the others
    spec.config("query_flow"), spec.key("query_flow"), spec.identity, spec.class_names
    model = spec.load("query_flow", device="cpu")   # the MPVSS that runs the method, in eval()

Nothing downstream re-parses the string: the CLI, the app, the analyses, training and the benchmarks
pass this object. Resolution reads only small JSON files; the identities are content hashes of every
weights AND config file a method runs with (`bundle.file_digest`: computed once per file stat, so
editing a config.json, e.g. its warp mode, changes them while repeated lookups cost nothing).

Kinds:
- "random": a preset name (`tiny`, `swin_t`, ...): every method of the table runs on random weights
  (seeded, so all methods share one segmenter); every number made with it says so.
- "bundle": a folder with bundle.json (`mpvss_core.checkpoints.bundle`): the segmenter-only methods, plus one
  learned method per trained variant (and the methods that reuse a variant's flow module).
- "checkpoint": one of our checkpoint folders: the segmenter-only methods plus the one learned method
  its flow module implements.
- "hf": a local Hugging Face Mask2Former folder (config.json with model_type "mask2former" and
  model.safetensors): the segmenter-only methods; class names from its `id2label`.

Untrained parts are never run as if trained: every checkpoint records which parts were trained
(`build.trained_parts`), and a learned method whose flow module was never trained (a stage-0
checkpoint, a segmenter saved from code) is unavailable with that reason, unless the spec is resolved
with `allow_untrained=True`; then its entry is marked `untrained` and every result made with it says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mpvss_core.checkpoints.bundle import file_digest, is_bundle, read_bundle
from mpvss_core.checkpoints.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    is_hf_mask2former_dir,
    read_checkpoint_config,
    trained_parts,
)
from mpvss_core.config import PRESETS, MPVSSConfig, get_preset
from mpvss_core.errors import CheckpointError, InputError, MethodUnavailableError
from mpvss_core.labels import CITYSCAPES_CLASSES, SYNTH_CLASSES, generic_class_names
from mpvss_core.methods.table import METHODS, method_config, method_of_flow, method_spec

__all__ = ["ASSETS", "DEFAULT_MODEL", "MethodEntry", "ModelSpec", "resolve_model", "shipped_models"]

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_MODEL = "default"  # the shipped bundle, ASSETS / "default"


def shipped_models() -> list[str]:
    """Names of the bundles in assets/models (`default` first): each is a `--model` name."""
    names = sorted(p.name for p in ASSETS.iterdir() if is_bundle(p)) if ASSETS.is_dir() else []
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


@dataclass(frozen=True)
class MethodEntry:
    """How one method runs for a model: its config, the checkpoint folders it loads, their identity,
    the record of its trained parts, and whether it runs an untrained flow module (asked for)."""

    method: str
    config: MPVSSConfig
    folders: tuple[Path, ...]  # (full checkpoint,) or (bundle segmenter, variant); () for random weights
    key: str  # identity of what runs the method (result-cache keys)
    trained: Mapping[str, str] = field(default_factory=dict)  # {part: how it was trained}
    untrained: bool = False  # a learned method whose flow module was never trained (allow_untrained)
    key_heads: Path | None = None  # segmenter folder whose (stage-0) heads segment the key frames


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

    def key(self, method: str) -> str:
        """Identity of the weights and config that run `method` (result-cache keys)."""
        return self.entry(method).key

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
        from mpvss_core.checkpoints.bundle import load_partial
        from mpvss_core.checkpoints.checkpoint import build_model, load_checkpoint

        entry = self.entry(method)
        if self.kind == "random":
            # seeded without touching the caller's random stream: every method of a preset gets the
            # same segmenter (the flow modules differ by variant)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = build_model(entry.config, device=device)
            model.random_init = True
        elif self.kind == "hf":
            model = build_model(entry.config, hf_segmenter_dir=self.path, device=device)
        elif len(entry.folders) == 2:
            model = load_partial(*entry.folders, device=device)
        else:
            model = load_checkpoint(entry.folders[0], device=device)
        if entry.key_heads is not None:
            from mpvss_core.checkpoints.bundle import stage0_key_decoder

            model.use_key_decoder(stage0_key_decoder(model, entry.key_heads))
        return model.eval()


# ---------------------------------------------------------------------------------------------------
# Resolution


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _folder_key(folder: Path) -> str:
    """Content identity of a checkpoint folder: its weights AND its config."""
    return _digest(file_digest(folder / WEIGHTS_NAME), file_digest(folder / CONFIG_NAME))


def _random_entry(preset: str, method: str, seed: int) -> MethodEntry:
    cfg = method_config(preset, method)
    return MethodEntry(method, cfg, (), f"random-{cfg.name}-seed{seed}")


_NOT_TRAINED = (
    "its flow module was never trained{what}; train one with `mpvss train flow --method {flow} "
    "--segmenter {text}`, or ask for it explicitly (--allow-untrained) to see an untrained module"
)


def _untrained_reason(text: str, method: str, what: str) -> str:
    flow = method_spec(method_spec(method).weights or method).name
    return f"model {text!r} cannot run {method!r}: " + _NOT_TRAINED.format(what=what, flow=flow, text=text)


def _class_names(num_classes: int, cfg: MPVSSConfig | None = None) -> tuple[str, ...]:
    """The label space of a model: the `id2label` of a Hugging Face segmenter it carries, else (our
    checkpoints store no names) the label spaces we know by size, else generic names."""
    if cfg is not None and cfg.segmenter.hf_config:
        try:
            id2label = json.loads(cfg.segmenter.hf_config).get("id2label") or {}
            names = {int(k): str(v) for k, v in id2label.items()}
        except (ValueError, TypeError, AttributeError):
            names = {}
        if sorted(names) == list(range(num_classes)):
            return tuple(names[i] for i in range(num_classes))
    for known in (SYNTH_CLASSES, CITYSCAPES_CLASSES):
        if num_classes == len(known):
            return known
    return generic_class_names(num_classes)


def _ordered(entries: dict[str, MethodEntry]) -> dict[str, MethodEntry]:
    order = {name: i for i, name in enumerate(METHODS)}
    return dict(sorted(entries.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _runs_with(method: str, flow_methods: set[str]) -> bool:
    """A learned method runs when the flow module it needs (its own or another's) is trained."""
    spec = method_spec(method)
    return spec.weights is None or method_spec(spec.weights).name in flow_methods


def _from_preset(text: str, seed: int) -> ModelSpec:
    entries = {name: _random_entry(text, name, seed) for name in METHODS}
    cfg = get_preset(text)
    return ModelSpec(text, "random", None, text, seed, _class_names(cfg.segmenter.num_classes),
                     entries, {}, f"random-{text}-seed{seed}")  # fmt: skip


def _from_bundle(text: str, path: Path, allow_untrained: bool, key_heads: str = "retrained") -> ModelSpec:
    index = read_bundle(path)
    seg = path / index["segmenter"]
    seg_cfg, _ = read_checkpoint_config(seg)
    seg_key = _folder_key(seg)
    records = index.get("records") or {}

    def with_command(parts: dict[str, str], entry: str) -> dict[str, str]:
        """Records written before the trained-parts record: the bundle's own record names the command."""
        command = (records.get(entry) or {}).get("command")
        return {k: command if command and "recorded before" in v else v for k, v in parts.items()}

    seg_trained = {k: v for k, v in with_command(trained_parts(seg), "segmenter").items() if k == "segmenter"}
    variants: dict[str, Path] = {}
    for name, folder in index["variants"].items():
        variants[method_spec(name).name] = path / folder
    entries: dict[str, MethodEntry] = {}
    unavailable: dict[str, str] = {}
    names = list(dict.fromkeys([*METHODS, *variants]))
    for name in names:
        spec = method_spec(name)
        if spec.weights is None:
            entries[name] = MethodEntry(name, seg_cfg, (seg,), seg_key, seg_trained)
            continue
        flow_name = method_spec(spec.weights).name
        folder = variants.get(flow_name)
        if folder is None:
            unavailable[name] = (
                f"model {text!r} has no trained weights for method {name!r} (it has "
                f"{', '.join(variants) or 'no flow module'}); train them with "
                f"`mpvss train flow --method {flow_name}`"
            )
            continue
        cfg, _ = read_checkpoint_config(folder)
        own = with_command(trained_parts(folder), flow_name)
        trained = {**seg_trained, **{k: v for k, v in own.items() if k != "segmenter"}}
        entry = MethodEntry(name, cfg, (seg, folder), _digest(seg_key, _folder_key(folder)), trained)
        if key_heads == "stage0":  # a different model: its own identity, so results are cached apart
            entry = dataclasses.replace(entry, key=_digest(entry.key, "key-heads-stage0"), key_heads=seg)
        if "flow" not in trained:
            if not allow_untrained:
                unavailable[name] = _untrained_reason(text, name, f" (bundle entry {folder.name})")
                continue
            entry = dataclasses.replace(entry, untrained=True)
        entries[name] = entry
    identity = _digest(*(e.key for e in entries.values()))
    return ModelSpec(text, "bundle", path, None, 0, _class_names(seg_cfg.segmenter.num_classes, seg_cfg),
                     _ordered(entries), unavailable, identity, allow_untrained, key_heads)  # fmt: skip


def _from_checkpoint(text: str, path: Path, allow_untrained: bool) -> ModelSpec:
    cfg, _ = read_checkpoint_config(path)
    folder = path if path.is_dir() else path.parent
    key = _folder_key(folder)
    trained = trained_parts(folder)
    own = method_of_flow(cfg.flow)
    entries, unavailable = {}, {}
    for name in dict.fromkeys([*METHODS, own]):
        if not _runs_with(name, {own}):
            unavailable[name] = (
                f"checkpoint {text!r} has the flow module of {own!r}; it has none for method {name!r}"
            )
            continue
        entry = MethodEntry(name, cfg, (folder,), key, trained)
        if not method_spec(name).segmenter_only and "flow" not in trained:
            if not allow_untrained:
                what = " (a stage-0 checkpoint)" if "segmenter" in trained else " (no training record)"
                unavailable[name] = _untrained_reason(text, name, what)
                continue
            entry = dataclasses.replace(entry, untrained=True)
        entries[name] = entry
    return ModelSpec(text, "checkpoint", folder, None, 0, _class_names(cfg.segmenter.num_classes, cfg),
                     _ordered(entries), unavailable, key, allow_untrained)  # fmt: skip


def _hf_class_names(path: Path, num_classes: int) -> tuple[str, ...]:
    try:
        data = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
        id2label = {int(k): str(v) for k, v in (data.get("id2label") or {}).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        id2label = {}
    if sorted(id2label) == list(range(num_classes)):
        return tuple(id2label[i] for i in range(num_classes))
    return _class_names(num_classes)


def _from_hf(text: str, path: Path) -> ModelSpec:
    from transformers import Mask2FormerConfig

    from mpvss_core.modeling.segmenter import segmenter_config_from_hf

    if not (path / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{path}: a Hugging Face Mask2Former folder without {WEIGHTS_NAME} "
                              "(only safetensors weights are loaded)")  # fmt: skip
    try:
        hf_cfg = Mask2FormerConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable Mask2Former config: {exc}") from exc
    seg_cfg = segmenter_config_from_hf(hf_cfg)
    base = get_preset("tiny")
    cfg = MPVSSConfig(segmenter=seg_cfg, flow=base.flow, warp_mode=base.warp_mode, name=f"hf-{path.name}")
    key = _digest(file_digest(path / WEIGHTS_NAME), file_digest(path / CONFIG_NAME))
    trained = {part: f"Hugging Face checkpoint {path}" for part in ("segmenter", "heads")}
    entries, unavailable = {}, {}
    for name, spec in METHODS.items():
        if spec.segmenter_only:
            entries[name] = MethodEntry(name, cfg, (path,), key, trained)
        else:
            unavailable[name] = (
                f"a Hugging Face Mask2Former folder has no flow module for {name!r}; train one with "
                f"`mpvss train flow --method {method_spec(spec.weights or name).name} --segmenter {text}`"
            )
    names = _hf_class_names(path, seg_cfg.num_classes)
    return ModelSpec(text, "hf", path, None, 0, names, _ordered(entries), unavailable, key)


def resolve_model(
    text: str | os.PathLike, seed: int = 0, allow_untrained: bool = False, key_heads: str = "retrained"
) -> ModelSpec:
    """Resolve `--model` once: `default`, a preset name, a bundle / checkpoint / Hugging Face folder.

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
    if key_heads == "stage0":
        spec = resolve_model(text, seed, allow_untrained)
        if spec.kind != "bundle":
            raise InputError(
                f"stage-0 key-frame heads need a model bundle (its segmenter entry holds them); {text!r} "
                f"is a {spec.kind} model. Export it into one with `mpvss train ... --export-to DIR`"
            )
        return _from_bundle(text, spec.path, allow_untrained, key_heads)
    if text == DEFAULT_MODEL:
        path = ASSETS / DEFAULT_MODEL
        if not is_bundle(path):
            raise InputError(
                f"no shipped model bundle at {path}: train one (`mpvss train ...`) or pass --model tiny "
                "for random weights"
            )
        return _from_bundle(text, path, allow_untrained)
    if text in PRESETS:
        return _from_preset(text, seed)
    path = Path(text)
    if not path.exists() and text in shipped_models():  # a folder of that name here comes first
        return _from_bundle(text, ASSETS / text, allow_untrained)
    if not path.exists():
        shipped = ", ".join(shipped_models()) or "none"
        raise InputError(
            f"model {text!r} does not exist: give a shipped bundle ({shipped}), a preset "
            f"({', '.join(sorted(PRESETS))}) or a bundle, checkpoint or Hugging Face Mask2Former folder"
        )
    if is_bundle(path):
        return _from_bundle(text, path, allow_untrained)
    if path.is_dir() and is_hf_mask2former_dir(path):
        return _from_hf(text, path)
    if path.is_file() and path.suffix != ".safetensors":
        raise InputError(f"'{text}' is a file: give the checkpoint or bundle folder")
    return _from_checkpoint(text, path, allow_untrained)
