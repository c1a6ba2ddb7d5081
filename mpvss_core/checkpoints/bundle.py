"""The model bundle format: one trained segmenter plus a trained flow module per method variant.

The analyses need many variants of the same model (query_flow, S = 1..4, query_learned, pixel_flow,
query_flow_noinit) that share a stage-0 segmenter. Storing each as a full checkpoint would repeat the
segmenter, so a bundle stores it once and each variant stores only what stage 1 trains (the flow module
and the segmenter's class and mask heads):

    <bundle>/bundle.json               {"format": "mpvss-model-bundle", "format_version": 1,
                                        "segmenter": "segmenter", "variants": {method: folder},
                                        "records": {entry: how it was trained and evaluated}}
    <bundle>/segmenter/                a full checkpoint (`checkpoint.py` format): the stage-0 model
    <bundle>/<folder>/                 a *partial* checkpoint: config.json of the variant, and
                                        model.safetensors with only the flow.* and head tensors

Weights may be stored in float16 to keep the shipped bundle small; they are loaded as float32.
Which string names which bundle, and which method runs with which files, is `mpvss_core.spec`'s job.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mpvss_core.checkpoints.checkpoint import (
    WEIGHTS_NAME,
    check_state_dict,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
)
from mpvss_core.errors import CheckpointError
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.segmenter import KeyDecoder

__all__ = [
    "BUNDLE_NAME",
    "file_digest",
    "is_bundle",
    "load_partial",
    "read_bundle",
    "save_partial",
    "trainable_state",
    "write_bundle_index",
]

BUNDLE_FORMAT = "mpvss-model-bundle"
BUNDLE_VERSION = 1
BUNDLE_NAME = "bundle.json"

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike, length: int = 16) -> str:
    """Short sha256 of a file's bytes, computed once per (path, size, modification time) in a process."""
    path = Path(path)
    st = path.stat()
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if stamp not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _DIGESTS[stamp] = h.hexdigest()
    return _DIGESTS[stamp][:length]


def is_bundle(path: str | os.PathLike) -> bool:
    return (Path(path) / BUNDLE_NAME).is_file()


def read_bundle(path: str | os.PathLike) -> dict[str, Any]:
    """The bundle index (format checked): {"segmenter": folder, "variants": {...}, "records": {...}}."""
    path = Path(path)
    try:
        data = json.loads((path / BUNDLE_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path / BUNDLE_NAME}: unreadable: {exc}") from exc
    if (
        not isinstance(data, dict)
        or data.get("format") != BUNDLE_FORMAT
        or data.get("format_version") != BUNDLE_VERSION
    ):
        raise CheckpointError(f"{path / BUNDLE_NAME}: not an MPVSS model bundle (v{BUNDLE_VERSION})")
    if not isinstance(data.get("segmenter"), str) or not isinstance(data.get("variants", {}), dict):
        raise CheckpointError(f"{path / BUNDLE_NAME}: needs a 'segmenter' folder and a 'variants' map")
    data.setdefault("variants", {})
    data.setdefault("records", {})
    return data


def write_bundle_index(
    path: str | Path, segmenter: str, variants: dict[str, str], records: dict | None = None
) -> Path:
    """Create or update `bundle.json` (training writes one entry per trained variant). Other top-level
    keys already in the file (e.g. the `protocol` of scripts/equal_budget.py) are kept."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    index = path / BUNDLE_NAME
    kept = json.loads(index.read_text(encoding="utf-8")) if index.is_file() else {}
    data = {**kept, "format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "segmenter": segmenter,
            "variants": dict(sorted(variants.items())), "records": records or {}}  # fmt: skip
    index.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return index


def trainable_state(model: MPVSS) -> dict[str, torch.Tensor]:
    """The tensors stage 1 trains: the flow module and the segmenter's class and mask heads."""
    heads = [
        f"segmenter.{n}"
        for n, _ in model.segmenter.named_modules()
        if n.endswith(("class_predictor", "mask_embedder"))
    ]
    return {
        k: v for k, v in model.state_dict().items() if k.startswith("flow.") or k.startswith(tuple(heads))
    }


def save_partial(
    model: MPVSS,
    folder: str | Path,
    base: str | Path,
    dtype: torch.dtype = torch.float16,
    extra_meta: dict[str, Any] | None = None,
    trained: dict[str, str] | None = None,
) -> Path:
    """Write a variant's partial checkpoint (flow module + heads) next to its base segmenter.

    `trained` records how its parts were trained (`checkpoint.save_checkpoint`); a variant written without
    one counts as trained by stage 1 (`checkpoint.trained_parts`).
    """
    folder = Path(folder)
    base_digest = file_digest(Path(base) / WEIGHTS_NAME)
    meta = {"partial": True, "base_sha256": base_digest, **(extra_meta or {})}
    save_checkpoint(model, folder, extra_meta=meta, trained=trained)
    state = {k: v.detach().cpu().to(dtype if v.is_floating_point() else v.dtype).contiguous().clone()
             for k, v in trainable_state(model).items()}  # fmt: skip
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "partial": "1"})
    return folder


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: cannot load: {exc}") from exc


def load_partial(base: Path, folder: Path, device: str | torch.device | None = None) -> MPVSS:
    """Base segmenter checkpoint + a variant's partial checkpoint -> the variant's full model.

    Only the base's `segmenter.*` tensors are read (no model is built for the base).
    """
    cfg, meta = read_checkpoint_config(folder)
    if not meta.get("partial"):
        return load_checkpoint(folder, device=device)
    read_checkpoint_config(base)  # a readable checkpoint config, or a clear error
    seg_state = {
        k: v for k, v in _load_tensors(Path(base) / WEIGHTS_NAME).items() if k.startswith("segmenter.")
    }
    state = {**seg_state, **_load_tensors(folder / WEIGHTS_NAME)}
    model = MPVSS(cfg)
    check_state_dict(model, state, str(folder))
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=True)
    return model if device is None else model.to(device)


def stage0_key_decoder(model: MPVSS, base: Path) -> KeyDecoder:
    """The transformer decoder and class head stored in the segmenter checkpoint `base` (the stage-0
    ones), shaped like `model`'s own, whose heads stage 1 retrained: `model.use_key_decoder` segments
    key frames with them (`modeling.segmenter.KeyDecoder` says why the whole decoder)."""
    tensors = _load_tensors(Path(base) / WEIGHTS_NAME)
    m2f = model.segmenter.mask2former
    decoder = KeyDecoder(copy.deepcopy(m2f.model.transformer_module), copy.deepcopy(m2f.class_predictor))
    names = {id(m): n for n, m in model.named_modules()}
    for ours, theirs in ((decoder.transformer_module, m2f.model.transformer_module),
                         (decoder.class_predictor, m2f.class_predictor)):  # fmt: skip
        prefix = names[id(theirs)] + "."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        ref = ours.state_dict()
        if set(state) != set(ref):
            raise CheckpointError(f"{base}: its {prefix.rstrip('.')} tensors do not match the model's")
        ours.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=True)
    return decoder.to(next(model.parameters()).device).requires_grad_(False)
