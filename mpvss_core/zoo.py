"""Model bundles: one trained segmenter plus a trained flow module per method variant.

The analyses need many variants of the same model (query_flow, S = 1..4, query_learned, pixel_flow,
query_flow_noinit) that share a stage-0 segmenter. Storing each as a full checkpoint would repeat the
segmenter, so a bundle stores it once and each variant stores only what stage 1 trains (the flow module
and the segmenter's class and mask heads):

    <bundle>/bundle.json               {"format": "mpvss-model-bundle", "format_version": 1,
                                        "segmenter": "segmenter", "variants": {method: folder}}
    <bundle>/segmenter/                a full checkpoint (mpvss_core.build format): the stage-0 model
    <bundle>/<folder>/                 a *partial* checkpoint: config.json of the variant, and
                                        model.safetensors with only the flow.* and head tensors

Weights may be stored in float16 to keep the shipped bundle small; they are loaded as float32.

    model = load_for_method("default", "query_flow")   # assets/models/default
    model = load_for_method("tiny", "query_flow")      # random weights (explicitly asked for)
    model = load_for_method("runs/flow/ckpt", "query_flow")  # a single full checkpoint
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .build import (
    WEIGHTS_NAME,
    build_model,
    check_state_dict,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
)
from .config import PRESETS, SEGMENTER_ONLY_METHODS, MPVSSConfig, variant
from .errors import CheckpointError, InputError
from .modeling.mpvss import MPVSS

BUNDLE_FORMAT = "mpvss-model-bundle"
BUNDLE_VERSION = 1
BUNDLE_NAME = "bundle.json"
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"
DEFAULT_BUNDLE = "default"


class MethodUnavailableError(InputError):
    """The chosen model has no trained weights for a learned method."""


@dataclass(frozen=True)
class ModelSpec:
    """What `--model` resolved to: a bundle, a single checkpoint, or a random-init preset."""

    kind: str  # "bundle" | "checkpoint" | "random"
    path: Path | None
    preset: str | None = None

    @property
    def label(self) -> str:
        return self.preset if self.kind == "random" else str(self.path)


def resolve_spec(spec: str | Path) -> ModelSpec:
    """`default` (the shipped bundle), a preset name (random weights), a bundle or checkpoint folder."""
    text = str(spec)
    if text == DEFAULT_BUNDLE:
        path = ASSETS / DEFAULT_BUNDLE
        if not (path / BUNDLE_NAME).is_file():
            raise InputError(
                f"no shipped model bundle at {path}: train one (`mpvss train ...`) or pass --model tiny "
                "for random weights"
            )
        return ModelSpec("bundle", path)
    if text in PRESETS:
        return ModelSpec("random", None, text)
    path = Path(text)
    if (path / BUNDLE_NAME).is_file():
        return ModelSpec("bundle", path)
    if path.is_dir() or path.is_file():
        return ModelSpec("checkpoint", path)
    raise InputError(f"--model {text!r}: not 'default', a preset ({', '.join(sorted(PRESETS))}) or a folder")


def _read_bundle(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / BUNDLE_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path / BUNDLE_NAME}: unreadable: {exc}") from exc
    if data.get("format") != BUNDLE_FORMAT or data.get("format_version") != BUNDLE_VERSION:
        raise CheckpointError(f"{path / BUNDLE_NAME}: not an MPVSS model bundle (v{BUNDLE_VERSION})")
    return data


def available_methods(spec: str | Path) -> list[str]:
    """Methods the model can run: every segmenter-only method, plus the trained flow variants."""
    ms = resolve_spec(spec)
    if ms.kind == "random":
        from .config import METHOD_NAMES

        return list(METHOD_NAMES)
    if ms.kind == "bundle":
        return [*SEGMENTER_ONLY_METHODS, *_read_bundle(ms.path)["variants"]]
    return [*SEGMENTER_ONLY_METHODS, method_of(read_checkpoint_config(ms.path)[0])]


def method_of(cfg: MPVSSConfig) -> str:
    """The method name a flow-module config implements (inverse of `config.variant`)."""
    f = cfg.flow
    if not f.use_query_flow:
        return "pixel_flow"
    if not f.use_pixel_flow:
        return "query_learned"
    if not f.query_init:
        return "query_flow_noinit"
    return "query_flow" if f.num_stages == 3 else f"stages_{f.num_stages}"


def _same_method(a: str, b: str) -> bool:
    canon = {"stages_3": "query_flow"}
    return canon.get(a, a) == canon.get(b, b)


def load_for_method(spec: str | Path, method: str, device: str | torch.device | None = None) -> MPVSS:
    """The model that runs `method` for `--model spec`, in eval mode.

    Raises:
        MethodUnavailableError: a learned method the model has no trained weights for.
        CheckpointError: unusable checkpoint files.
    """
    ms = resolve_spec(spec)
    if ms.kind == "random":
        model = build_model(variant(ms.preset, method), device=device)
        model.random_init = True  # callers say so next to every number
        return model.eval()
    if ms.kind == "checkpoint":
        model = load_checkpoint(ms.path, device=device)
        if method not in SEGMENTER_ONLY_METHODS and not _same_method(method, method_of(model.cfg)):
            raise MethodUnavailableError(
                f"checkpoint {ms.path} was trained as {model.cfg.name!r}; it has no flow module for "
                f"method {method!r}"
            )
        return model.eval()
    bundle = _read_bundle(ms.path)
    if method in SEGMENTER_ONLY_METHODS:
        return load_checkpoint(ms.path / bundle["segmenter"], device=device).eval()
    folder = bundle["variants"].get(method) or bundle["variants"].get(
        {"stages_3": "query_flow"}.get(method, "")
    )
    if folder is None:
        raise MethodUnavailableError(
            f"model {spec!s} has no trained weights for method {method!r} (it has "
            f"{', '.join(bundle['variants']) or 'none'}); "
            f"train them with `mpvss train flow --method {method}`"
        )
    return load_partial(ms.path / bundle["segmenter"], ms.path / folder, device=device).eval()


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


def save_partial(model: MPVSS, folder: str | Path, base: str | Path, dtype: torch.dtype = torch.float16,
                 extra_meta: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Write a variant's partial checkpoint (flow module + heads) next to its base segmenter."""
    folder = Path(folder)
    save_checkpoint(
        model, folder, extra_meta={"partial": True, "base_sha256": weights_sha256(base), **(extra_meta or {})}
    )
    state = {k: v.detach().cpu().to(dtype if v.is_floating_point() else v.dtype).contiguous().clone()
             for k, v in trainable_state(model).items()}  # fmt: skip
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "partial": "1"})
    return folder


def load_partial(base: Path, folder: Path, device: str | torch.device | None = None) -> MPVSS:
    """Base segmenter checkpoint + a variant's partial checkpoint -> the variant's full model."""
    cfg, meta = read_checkpoint_config(folder)
    if not meta.get("partial"):
        return load_checkpoint(folder, device=device)
    base_model = load_checkpoint(base)
    model = MPVSS(cfg)
    seg_state = {k: v for k, v in base_model.state_dict().items() if k.startswith("segmenter.")}
    try:
        part = load_file(str(folder / WEIGHTS_NAME))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS_NAME}: cannot load: {exc}") from exc
    state = {**seg_state, **part}
    check_state_dict(model, state, str(folder))
    ref = model.state_dict()
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()}, strict=True)
    return model if device is None else model.to(device)


def weights_sha256(folder: str | Path, length: int = 16) -> str:
    """Short content hash of a checkpoint folder's weights (result-cache keys, provenance)."""
    h = hashlib.sha256()
    with open(Path(folder) / WEIGHTS_NAME, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:length]


def model_key(spec: str | Path, method: str) -> str:
    """Identity of the weights that run `method` for `spec`, for result-cache keys."""
    ms = resolve_spec(spec)
    if ms.kind == "random":
        return f"random-{ms.preset}-{variant(ms.preset, method).name}"
    if ms.kind == "checkpoint":
        return weights_sha256(ms.path if ms.path.is_dir() else ms.path.parent)
    bundle = _read_bundle(ms.path)
    parts = [weights_sha256(ms.path / bundle["segmenter"])]
    if method not in SEGMENTER_ONLY_METHODS and method in bundle["variants"]:
        parts.append(weights_sha256(ms.path / bundle["variants"][method]))
    return "-".join(parts)


def write_bundle_index(
    path: str | Path, segmenter: str, variants: dict[str, str], records: dict | None = None
) -> Path:
    """Create or update `bundle.json` (training writes one entry per trained variant)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    index = path / BUNDLE_NAME
    data = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "segmenter": segmenter,
            "variants": dict(sorted(variants.items())), "records": records or {}}  # fmt: skip
    index.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return index


def config_of(spec: str | Path, method: str) -> MPVSSConfig:
    """The model config `method` would run with, without loading weights."""
    ms = resolve_spec(spec)
    if ms.kind == "random":
        return variant(ms.preset, method)
    if ms.kind == "checkpoint":
        return read_checkpoint_config(ms.path)[0]
    bundle = _read_bundle(ms.path)
    folder = bundle["segmenter"] if method in SEGMENTER_ONLY_METHODS else bundle["variants"].get(method)
    if folder is None:
        raise MethodUnavailableError(f"model {spec!s} has no trained weights for method {method!r}")
    return read_checkpoint_config(ms.path / folder)[0]


__all__ = [
    "DEFAULT_BUNDLE",
    "MethodUnavailableError",
    "ModelSpec",
    "available_methods",
    "config_of",
    "load_for_method",
    "load_partial",
    "method_of",
    "model_key",
    "resolve_spec",
    "save_partial",
    "trainable_state",
    "weights_sha256",
    "write_bundle_index",
]
