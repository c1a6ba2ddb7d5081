"""What each checkpoint format runs: a folder read once into one `MethodEntry` per method.

    model = read_folder("runs/flow/last", Path("runs/flow/last"), allow_untrained=False)  # FolderModel
    model.entries["query_flow"].config, model.entries["query_flow"].identity, model.unavailable

The one folder sniffer (`read_folder`): a folder with bundle.json is a model bundle (`bundle.py`), a
folder whose config.json says model_type "mask2former" a Hugging Face segmenter, anything else one of
our checkpoints (`checkpoint.py`, which refuses what it cannot load). Every JSON file is parsed once;
`FolderModel.files` lists what the result depends on, so a caller can tell when to read it again.
`mpvss_core.spec.resolve_model` turns a model string into a folder and the result into a ModelSpec.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpvss_core.checkpoints.bundle import BUNDLE_NAME, file_digest, is_bundle, read_bundle
from mpvss_core.checkpoints.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    hf_weights,
    is_hf_mask2former_config,
    read_checkpoint,
    read_config_json,
)
from mpvss_core.config import MPVSSConfig, get_preset
from mpvss_core.errors import CheckpointError, InputError
from mpvss_core.labels import CITYSCAPES_CLASSES, SYNTH_CLASSES, generic_class_names
from mpvss_core.methods.table import METHODS, method_of_flow, method_spec

__all__ = ["FolderModel", "MethodEntry", "class_names", "digest", "read_folder"]


@dataclass(frozen=True)
class MethodEntry:
    """How one method runs for a model: its config, the checkpoint folders it loads, their identity,
    the record of its trained parts, and whether it runs an untrained flow module (asked for)."""

    method: str
    config: MPVSSConfig
    folders: tuple[Path, ...]  # (full checkpoint,) or (bundle segmenter, variant); () for random weights
    identity: str  # content hash of the model that runs it: its weights, config and key heads
    trained: Mapping[str, str] = field(default_factory=dict)  # {part: how it was trained}
    untrained: bool = False  # a learned method whose flow module was never trained (allow_untrained)
    key_heads: Path | None = None  # segmenter folder whose (stage-0) heads segment the key frames


@dataclass(frozen=True)
class FolderModel:
    """A checkpoint folder read once (`read_folder`): what `ModelSpec` holds of it.

    Attributes:
        kind: "bundle", "checkpoint" or "hf"; path: the folder.
        class_names, entries (runnable methods in display order), unavailable ({method: why not}),
        identity (content hash of every file the model runs with), allow_untrained (as asked; False
        for a Hugging Face folder, which has no flow module), records (a bundle's records, else {}),
        files (what the result depends on: `_files`).
    """

    kind: str
    path: Path
    class_names: tuple[str, ...]
    entries: Mapping[str, MethodEntry]
    unavailable: Mapping[str, str]
    identity: str
    allow_untrained: bool = False
    records: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


def digest(*parts: str) -> str:
    """Short sha256 of the parts (identities are built from file digests)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _folder_key(folder: Path) -> str:
    """Content identity of a checkpoint folder: its weights AND its config."""
    return digest(file_digest(folder / WEIGHTS_NAME), file_digest(folder / CONFIG_NAME))


_NOT_TRAINED = (
    "its flow module was never trained{what}; train one with `mpvss train flow --method {flow} "
    "--segmenter {text}`, or ask for it explicitly (--allow-untrained) to see an untrained module"
)


def _untrained_reason(text: str, method: str, what: str) -> str:
    flow = method_spec(method_spec(method).weights or method).name
    return f"model {text!r} cannot run {method!r}: " + _NOT_TRAINED.format(what=what, flow=flow, text=text)


def _hf_id2label(data: Any) -> Mapping[Any, Any]:
    """The `id2label` of a parsed Hugging Face config (a dict or its JSON text), {} when there is none."""
    try:
        data = json.loads(data) if isinstance(data, str) else data
        return dict(data.get("id2label") or {})
    except (ValueError, TypeError, AttributeError):
        return {}


def class_names(num_classes: int, id2label: Mapping[Any, Any] | None = None) -> tuple[str, ...]:
    """The label space of a model: the `id2label` of a Hugging Face segmenter it carries, else (our
    checkpoints store no names) the label spaces we know by size, else generic names."""
    try:
        names = {int(k): str(v) for k, v in (id2label or {}).items()}
    except (ValueError, TypeError):
        names = {}
    if sorted(names) == list(range(num_classes)):
        return tuple(names[i] for i in range(num_classes))
    for known in (SYNTH_CLASSES, CITYSCAPES_CLASSES):
        if num_classes == len(known):
            return known
    return generic_class_names(num_classes)


def _cfg_class_names(cfg: MPVSSConfig) -> tuple[str, ...]:
    return class_names(cfg.segmenter.num_classes, _hf_id2label(cfg.segmenter.hf_config))


def _ordered(entries: dict[str, MethodEntry]) -> dict[str, MethodEntry]:
    order = {name: i for i, name in enumerate(METHODS)}
    return dict(sorted(entries.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def _runs_with(method: str, flow_methods: set[str]) -> bool:
    """A learned method runs when the flow module it needs (its own or another's) is trained."""
    spec = method_spec(method)
    return spec.weights is None or method_spec(spec.weights).name in flow_methods


def _files(*folders: Path) -> tuple[Path, ...]:
    """What a folder's resolution depends on: the files it reads, and those whose appearance would
    change what it is (a bundle.json, a legacy trainer_state.json)."""
    names = (BUNDLE_NAME, CONFIG_NAME, WEIGHTS_NAME, "trainer_state.json")
    return tuple(folder / name for folder in dict.fromkeys(folders) for name in names)


def _from_bundle(text: str, path: Path, allow_untrained: bool) -> FolderModel:
    index = read_bundle(path)
    records = index["records"]
    seg = read_checkpoint(path / index["segmenter"])
    seg_key = _folder_key(seg.folder)

    def with_command(parts: Mapping[str, str], entry: str) -> dict[str, str]:
        """Records written before the trained-parts record: the bundle's own record names the command."""
        command = (records.get(entry) or {}).get("command")
        return {k: command if command and "recorded before" in v else v for k, v in parts.items()}

    seg_trained = {k: v for k, v in with_command(seg.trained, "segmenter").items() if k == "segmenter"}
    # each variant's config.json is read once, even when several methods run its flow module
    variants = {method_spec(name).name: read_checkpoint(path / f) for name, f in index["variants"].items()}
    entries: dict[str, MethodEntry] = {}
    unavailable: dict[str, str] = {}
    names = list(dict.fromkeys([*METHODS, *variants]))
    for name in names:
        spec = method_spec(name)
        if spec.weights is None:
            entries[name] = MethodEntry(name, seg.config, (seg.folder,), seg_key, seg_trained)
            continue
        flow_name = method_spec(spec.weights).name
        variant = variants.get(flow_name)
        if variant is None:
            unavailable[name] = (
                f"model {text!r} has no trained weights for method {name!r} (it has "
                f"{', '.join(variants) or 'no flow module'}); train them with "
                f"`mpvss train flow --method {flow_name}`"
            )
            continue
        own = with_command(variant.trained, flow_name)
        trained = {**seg_trained, **{k: v for k, v in own.items() if k != "segmenter"}}
        identity = digest(seg_key, _folder_key(variant.folder))
        entry = MethodEntry(name, variant.config, (seg.folder, variant.folder), identity, trained)
        if "flow" not in trained:
            if not allow_untrained:
                unavailable[name] = _untrained_reason(text, name, f" (bundle entry {variant.folder.name})")
                continue
            entry = dataclasses.replace(entry, untrained=True)
        entries[name] = entry
    identity = digest(*(e.identity for e in entries.values()))
    files = _files(path, seg.folder, *(v.folder for v in variants.values()))
    return FolderModel("bundle", path, _cfg_class_names(seg.config), _ordered(entries), unavailable, identity,
                       allow_untrained, records, files)  # fmt: skip


def _from_checkpoint(text: str, path: Path, allow_untrained: bool, payload: Any) -> FolderModel:
    record = read_checkpoint(path, payload)
    cfg, folder, trained = record.config, record.folder, dict(record.trained)
    key = _folder_key(folder)
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
    return FolderModel("checkpoint", folder, _cfg_class_names(cfg), _ordered(entries), unavailable, key,
                       allow_untrained, files=_files(folder))  # fmt: skip


def _from_hf(text: str, path: Path, payload: dict[str, Any]) -> FolderModel:
    from transformers import Mask2FormerConfig

    from mpvss_core.modeling.segmenter import segmenter_config_from_hf

    hf_weights(path)
    try:
        hf_cfg = Mask2FormerConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable Mask2Former config: {exc}") from exc
    seg_cfg = segmenter_config_from_hf(hf_cfg)
    base = get_preset("tiny")
    cfg = MPVSSConfig(segmenter=seg_cfg, flow=base.flow, warp_mode=base.warp_mode, name=f"hf-{path.name}")
    key = digest(file_digest(path / WEIGHTS_NAME), file_digest(path / CONFIG_NAME))
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
    names = class_names(seg_cfg.num_classes, _hf_id2label(payload))
    return FolderModel("hf", path, names, _ordered(entries), unavailable, key, files=_files(path))


def read_folder(text: str, path: Path, allow_untrained: bool) -> FolderModel:
    """The one folder sniffer (see the module docstring); `text` names the model in messages.

    Raises:
        InputError (CheckpointError): a file that is not a checkpoint, or files that are unusable.
    """
    if is_bundle(path):
        return _from_bundle(text, path, allow_untrained)
    if path.is_file() and path.suffix != ".safetensors":
        raise InputError(f"'{text}' is a file: give the checkpoint or bundle folder")
    payload = read_config_json(path) if path.is_dir() else None  # parsed once, for the sniff and the read
    if is_hf_mask2former_config(payload):
        return _from_hf(text, path, payload)
    return _from_checkpoint(text, path, allow_untrained, payload)
