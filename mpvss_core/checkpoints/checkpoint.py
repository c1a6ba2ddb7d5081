"""Build MPVSS models, and save / load checkpoints (safetensors + JSON, never pickle).

    model = build_model()                                   # tiny preset, random init
    model = build_model("swin_t", device="meta")            # paper scale, no memory (FLOPs / params)
    save_checkpoint(model, "out/", extra_meta={"step": 1000})
    record = read_checkpoint("out/")                        # config, meta, trained parts: one parse
    model = load_checkpoint("out/")                         # our checkpoint folder
    model = load_hf_segmenter("m2f/", get_preset("tiny"))   # local HF Mask2Former + fresh flow module

Which folder a model string names is `mpvss_core.spec.resolve_model`'s job (the one folder sniffer);
the functions here read the folder they are given.

A checkpoint is a folder with `model.safetensors` (the full state dict) and `config.json`:
`{"format": "mpvss-studio-checkpoint", "format_version": 1, "config": <MPVSSConfig>, "meta": {...}}`.
`meta["trained"]` records which parts were trained and by which command ({"segmenter": ...,
"heads": ..., "flow": ...}; a part that is absent was never trained): `trained_parts` reads it, and
infers it for checkpoints written before the record existed.
Loading is strict: missing keys, unexpected keys and shape mismatches raise `CheckpointError` naming the
first few of each with counts. Pickle-based files (`.pt/.pth/.bin/.ckpt/.pkl`, or bytes that start with the
pickle or zip magic) are refused without being opened by a deserialiser: unpickling runs arbitrary code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from transformers import Mask2FormerForUniversalSegmentation

from mpvss_core.config import MPVSSConfig, get_preset
from mpvss_core.errors import CheckpointError
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.segmenter import KeyFrameSegmenter, segmenter_config_from_hf

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointRecord",
    "build_model",
    "check_state_dict",
    "hf_weights",
    "is_hf_mask2former_config",
    "is_hf_mask2former_dir",
    "load_checkpoint",
    "load_hf_segmenter",
    "read_checkpoint",
    "read_checkpoint_config",
    "read_config_json",
    "save_checkpoint",
    "trained_parts",
]

PARTS = ("segmenter", "heads", "flow")  # what a checkpoint may record as trained

CHECKPOINT_FORMAT = "mpvss-studio-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".tar")
_MAX_LISTED = 5


def _resolve_config(preset_or_config: str | MPVSSConfig) -> MPVSSConfig:
    if isinstance(preset_or_config, MPVSSConfig):
        return preset_or_config
    return get_preset(preset_or_config)


def _materialise(model: MPVSS, device: str | torch.device | None) -> MPVSS:
    return model if device is None else model.to(device)


def build_model(
    preset_or_config: str | MPVSSConfig = "tiny", device: str | torch.device | None = None
) -> MPVSS:
    """A freshly initialised MPVSS model (files are loaded by `load_checkpoint` / `load_hf_segmenter`,
    or through `spec.resolve_model(...).load(method)`).

    Args:
        preset_or_config: preset name (`tiny`, `swin_t`, ...) or an MPVSSConfig.
        device: where to put the model; "meta" builds without allocating memory (parameter and FLOP
            counting of the paper-scale presets).
    Returns:
        MPVSS in train() mode (call .eval() for inference).
    """
    cfg = _resolve_config(preset_or_config)
    if device is not None and torch.device(device).type == "meta":
        with torch.device("meta"):
            return MPVSS(cfg)
    return _materialise(MPVSS(cfg), device)


def read_config_json(path: str | Path) -> Any:
    """The parsed config.json of a folder (ours or a Hugging Face one); None when it has none or it is
    not JSON (the loaders then say what is wrong)."""
    config = Path(path) / CONFIG_NAME
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def is_hf_mask2former_config(data: Any) -> bool:
    """True for a parsed config.json that says model_type "mask2former" (a HF checkpoint folder's)."""
    return isinstance(data, dict) and data.get("model_type") == "mask2former"


def is_hf_mask2former_dir(path: str | Path) -> bool:
    """True for a folder whose config.json says model_type "mask2former" (a HF checkpoint folder)."""
    return is_hf_mask2former_config(read_config_json(path))


def hf_weights(folder: Path) -> Path:
    """The safetensors weights of a HF Mask2Former folder (CheckpointError naming any pickle files)."""
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        hint = f" (found pickle weights {pickles}: convert them to safetensors first)" if pickles else ""
        raise CheckpointError(f"{folder}: no {WEIGHTS_NAME}; only safetensors weights are loaded{hint}")
    return weights


def load_hf_segmenter(folder: str | Path, cfg: MPVSSConfig) -> MPVSS:
    """A local HF Mask2Former folder as the segmenter, with a fresh flow module of `cfg`'s.

    Returns:
        MPVSS in train() mode, named `hf-<folder name>`.
    """
    folder = Path(folder)
    if not folder.is_dir() or not is_hf_mask2former_dir(folder):
        raise CheckpointError(
            f"{folder}: not a Hugging Face Mask2Former folder (config.json with model_type mask2former)"
        )
    weights = hf_weights(folder)
    _refuse_pickle_bytes(weights)
    try:
        # local_files_only: never reaches the network; use_safetensors: never falls back to a pickle
        hf = Mask2FormerForUniversalSegmentation.from_pretrained(
            str(folder), local_files_only=True, use_safetensors=True
        )
        segmenter = KeyFrameSegmenter(hf)
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"{folder}: cannot load the Mask2Former checkpoint: {exc}") from exc
    seg_cfg = segmenter_config_from_hf(segmenter.hf_config)
    cfg = MPVSSConfig(segmenter=seg_cfg, flow=cfg.flow, warp_mode=cfg.warp_mode, name=f"hf-{folder.name}")
    # from_pretrained leaves the HF model in eval(); every builder here returns train() mode
    return MPVSS(cfg, segmenter=segmenter).train()


# ---------------------------------------------------------------------------------------------------
# Saving


def save_checkpoint(
    model: MPVSS,
    folder: str | Path,
    extra_meta: dict[str, Any] | None = None,
    trained: dict[str, str] | None = None,
) -> Path:
    """Write `folder/model.safetensors` + `folder/config.json`; returns the folder.

    Args:
        extra_meta: JSON-serialisable (step, metrics, dataset ...), stored under "meta".
        trained: {part: how it was trained} for the parts of `PARTS` that were trained (e.g. the
            command); stored as meta["trained"]. None leaves any "trained" of `extra_meta` as is.
    """
    if trained is not None:
        unknown = set(trained) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown trained parts {sorted(unknown)}; parts are {PARTS}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage; contiguous CPU copies are always accepted
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"torch": torch.__version__, "num_parameters": sum(p.numel() for p in model.parameters())}
    meta.update(extra_meta or {})
    if trained is not None:
        meta["trained"] = dict(trained)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.cfg.to_dict(),
        "meta": meta,
    }
    text = json.dumps(payload, indent=2, sort_keys=True)  # fails before writing anything if not serialisable
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "config_name": model.cfg.name})
    (folder / CONFIG_NAME).write_text(text + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------------
# Loading


def _refuse_pickle_bytes(path: Path) -> None:
    """Raise CheckpointError if `path` looks like a pickle / torch zip file; never deserialises it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc}") from exc
    is_pickle = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5  # PROTO opcode + version
    is_zip = head.startswith(b"PK\x03\x04")  # torch.save's default container
    if is_pickle or is_zip:
        raise CheckpointError(
            f"{path}: this is a pickle-based file (torch.save format); it is refused because unpickling can "
            "run arbitrary code. Convert it to safetensors in a trusted environment."
        )
    if len(head) < 8:
        raise CheckpointError(f"{path}: too short to be a safetensors file ({len(head)} bytes)")


def _locate(path: str | Path) -> tuple[Path, Path]:
    """(weights file, config file) of a checkpoint folder or of its model.safetensors."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path}: pickle checkpoints ({', '.join(PICKLE_SUFFIXES)}) are refused because unpickling "
            "can run arbitrary code; use a folder with model.safetensors + config.json"
        )
    if path.is_dir():
        weights, config = path / WEIGHTS_NAME, path / CONFIG_NAME
        if not weights.is_file():
            pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
            if pickles:
                raise CheckpointError(
                    f"{path}: holds only pickle-based weights {pickles}; they are refused because unpickling "
                    f"can run arbitrary code. A checkpoint is {WEIGHTS_NAME} + {CONFIG_NAME}."
                )
            raise CheckpointError(f"{path}: no {WEIGHTS_NAME} in this folder")
    elif path.is_file():
        weights, config = path, path.with_name(CONFIG_NAME)
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")
    if not config.is_file():
        raise CheckpointError(f"{path}: {CONFIG_NAME} is missing beside {weights.name}")
    return weights, config


@dataclass(frozen=True)
class CheckpointRecord:
    """What a checkpoint folder's config.json says, read once (`read_checkpoint`).

    Attributes:
        folder: the checkpoint folder.
        config: its model config.
        meta: its "meta" record (step, dataset, partial, ...).
        trained: {part: how it was trained} (`trained_parts`).
    """

    folder: Path
    config: MPVSSConfig
    meta: Mapping[str, Any]
    trained: Mapping[str, str]


def read_checkpoint(path: str | Path, payload: Any = None) -> CheckpointRecord:
    """Config, meta and trained parts of a checkpoint (folder or its model.safetensors), its
    config.json parsed once; `payload`: that file already parsed (`read_config_json`)."""
    cfg, meta = read_checkpoint_config(path, payload)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    return CheckpointRecord(folder, cfg, meta, _trained(folder, meta))


def read_checkpoint_config(path: str | Path, payload: Any = None) -> tuple[MPVSSConfig, dict[str, Any]]:
    """(model config, meta) of a checkpoint without loading its weights (`payload`: its config.json
    already parsed)."""
    _, config_path = _locate(path)
    if payload is None:
        try:
            payload = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{config_path}: unreadable JSON: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        if is_hf_mask2former_config(payload):
            raise CheckpointError(
                f"{config_path.parent}: a Hugging Face Mask2Former folder, not an MPVSS checkpoint; "
                "load it with load_hf_segmenter or spec.resolve_model"
            )
        raise CheckpointError(
            f"{config_path}: not an MPVSS Studio checkpoint config (format {CHECKPOINT_FORMAT!r})"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: unsupported checkpoint format_version {payload.get('format_version')!r}"
        )
    try:
        cfg = MPVSSConfig.from_dict(payload.get("config"))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: invalid model config: {exc}") from exc
    meta = payload.get("meta") or {}
    return cfg, meta if isinstance(meta, dict) else {"meta": meta}


def trained_parts(path: str | Path) -> dict[str, str]:
    """{part: how it was trained} of a checkpoint folder (see the module docstring).

    Without a "trained" record (checkpoints written before it existed) it is inferred: a stage-1
    result (trainer run of stage "flow", or a bundle variant) has everything trained; a stage-0 result
    has its segmenter and heads trained and a random flow module; anything else (e.g. a model saved
    from code) records nothing, so its flow module counts as untrained.
    """
    return read_checkpoint(path).trained


def _trained(folder: Path, meta: Mapping[str, Any]) -> dict[str, str]:
    if isinstance(meta.get("trained"), dict):
        return {k: str(v) for k, v in meta["trained"].items() if k in PARTS}
    stage = meta.get("stage")
    state = folder / "trainer_state.json"
    if stage is None and state.is_file():
        try:
            stage = (json.loads(state.read_text(encoding="utf-8")).get("settings") or {}).get("stage")
        except (OSError, ValueError):
            stage = None
    if stage == "flow" or meta.get("partial"):
        return {p: "stage 1 (recorded before the trained-parts record)" for p in PARTS}
    if stage == "segmenter":
        return {p: "stage 0 (recorded before the trained-parts record)" for p in ("segmenter", "heads")}
    return {}


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
    return f"{len(names)}: {shown}{more}"


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError listing missing / unexpected keys and shape mismatches (first few + counts)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatches {_listing(mismatched)}")
    if problems:
        raise CheckpointError(f"{source}: weights do not match the model config: " + "; ".join(problems))


def load_checkpoint(path: str | Path, device: str | torch.device | None = None) -> MPVSS:
    """Load one of our checkpoints (folder or its model.safetensors) strictly; see the module docstring."""
    weights, _ = _locate(path)
    cfg, _meta = read_checkpoint_config(path)
    _refuse_pickle_bytes(weights)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: not a valid safetensors file: {exc}") from exc
    model = _model_for(cfg, _meta)
    if _meta.get("flow_omitted"):
        state = _with_placeholder_flow(model, state)
    check_state_dict(model, state, str(weights))
    model.load_state_dict(state, strict=True)
    return _materialise(model, device)


def _model_for(cfg: MPVSSConfig, meta: dict[str, Any]) -> MPVSS:
    if not meta.get("flow_omitted"):
        return MPVSS(cfg)
    # the placeholder flow module is reproducible; fork so the caller's RNG stream is left alone
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(meta.get("flow_init_seed", 0)))
        return MPVSS(cfg)


def _with_placeholder_flow(model: MPVSS, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A segmenter-only checkpoint (a bundle's base) + the model's seeded random flow module.

    Bundles store the stage-0 segmenter once without flow weights (they would be random and unused by
    the segmenter-only methods; each flow variant stores its own). Only flow.* keys may be filled in.
    """
    if any(k.startswith("flow.") for k in state):
        raise CheckpointError("a checkpoint marked flow_omitted holds flow.* tensors")
    flow = {k: v for k, v in model.state_dict().items() if k.startswith("flow.")}
    return {**state, **flow}
