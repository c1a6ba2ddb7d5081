"""Resumable run checkpoints: model (`checkpoints.checkpoint` format) + optimizer / loop state, no pickles.

    <run>/last/model.safetensors + config.json      the model (`checkpoint.load_checkpoint` loads it)
    <run>/last/trainer_state.safetensors            optimizer tensors ("<param index>.<name>")
    <run>/last/trainer_state.json                   step, train seconds, optimizer param groups,
                                                    AMP scaler, the run's settings

A checkpoint is written to a temporary folder and renamed into place, so an interrupted write never
leaves a half checkpoint where `--resume` looks.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mpvss_core.checkpoints.checkpoint import check_state_dict, read_checkpoint_config, save_checkpoint
from mpvss_core.errors import CheckpointError
from mpvss_core.modeling.mpvss import MPVSS

__all__ = ["LoopState", "has_checkpoint", "load_run_checkpoint", "save_run_checkpoint"]

STATE_TENSORS = "trainer_state.safetensors"
STATE_JSON = "trainer_state.json"


@dataclass
class LoopState:
    """Where a run is: optimizer steps done and cumulative training wall time (s)."""

    step: int = 0
    train_seconds: float = 0.0
    last_val: dict[str, float] = field(default_factory=dict)


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = optimizer.state_dict()
    tensors = {}
    for idx, per_param in sd["state"].items():
        for name, value in per_param.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"{idx}.{name}"] = t.detach().cpu().contiguous().clone()
    return tensors, sd["param_groups"]


def has_checkpoint(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / STATE_JSON).is_file() and (folder / "model.safetensors").is_file()


def save_run_checkpoint(
    folder: str | Path,
    model: MPVSS,
    optimizer: torch.optim.Optimizer,
    state: LoopState,
    settings: dict[str, Any],
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write a resumable checkpoint of the run to `folder` (atomically replaced)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    meta = {"step": state.step, "train_seconds": round(state.train_seconds, 1), "val": state.last_val}
    save_checkpoint(model, tmp, extra_meta=meta, trained=settings.get("trained"))
    tensors, groups = _optimizer_tensors(optimizer)
    save_file(tensors, str(tmp / STATE_TENSORS))
    payload = {
        "step": state.step,
        "train_seconds": state.train_seconds,
        "last_val": state.last_val,
        "param_groups": groups,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "settings": settings,
    }
    (tmp / STATE_JSON).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder


def load_run_checkpoint(
    folder: str | Path,
    model: MPVSS,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[LoopState, dict[str, Any]]:
    """Restore model weights, optimizer and scaler from `folder`; returns (loop state, saved settings).

    Raises:
        CheckpointError: the checkpoint's model config differs from `model`'s, or its files are bad.
    """
    folder = Path(folder)
    cfg, _ = read_checkpoint_config(folder)
    if cfg != model.cfg:
        raise CheckpointError(
            f"{folder}: checkpoint model '{cfg.name}' differs from this run's model '{model.cfg.name}' "
            "(same --preset / --method / segmenter are needed to resume)"
        )
    weights = load_file(str(folder / "model.safetensors"))
    check_state_dict(model, weights, str(folder))
    device = next(model.parameters()).device
    model.load_state_dict({k: v.to(device) for k, v in weights.items()}, strict=True)
    payload = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
    flat = load_file(str(folder / STATE_TENSORS))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        idx, name = key.split(".", 1)
        per_param.setdefault(int(idx), {})[name] = value
    groups = payload["param_groups"]
    if len(groups) != len(optimizer.param_groups) or any(
        len(g["params"]) != len(h["params"]) for g, h in zip(groups, optimizer.param_groups, strict=True)
    ):
        raise CheckpointError(f"{folder}: optimizer parameter groups differ from this run's")
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    if scaler is not None and payload.get("scaler"):
        scaler.load_state_dict(payload["scaler"])
    state = LoopState(int(payload["step"]), float(payload["train_seconds"]), payload.get("last_val") or {})
    return state, payload.get("settings") or {}
