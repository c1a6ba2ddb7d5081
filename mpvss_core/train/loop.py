"""The training loop both stages share: AdamW + poly schedule, clipping, AMP, time budget, periodic
validation and checkpoints, CSV log, progress bar, resume.

    loop = TrainLoop(cfg, optim, model, module, step_fn, validate_fn, dist_info, settings)
    summary = loop.fit()

`step_fn(step, rng) -> (loss, parts)` computes one batch's loss through `module` (the DDP-wrapped
forward when distributed); the loop owns everything else. Before every step the torch RNG is re-seeded
from (seed, step, rank) and the step's numpy generator is derived from the same triple, so the samples,
augmentations, dropout and the loss's random point sampling of step s are identical whether or not the
run was interrupted and resumed before it.

LR schedule (docs/method-notes.md §1.12: poly, power 0.9, no warm-up by default):
lr = base * (1 - progress)^0.9 with progress = step / max_steps, or, when a time budget is given, the
larger of that and the fraction of the budget used, so that a CPU run whose speed is not known in
advance still anneals to ~0 when its time is up (then the step -> lr map depends on the machine; a
step-only schedule is exactly reproducible).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from mpvss_core.distributed import DistInfo, all_reduce_max, barrier
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.train.common import command_line, device_name
from mpvss_core.train.data import step_rng
from mpvss_core.train.state import LoopState, has_checkpoint, load_run_checkpoint, save_run_checkpoint

__all__ = ["LoopConfig", "OptimConfig", "TrainLoop", "build_optimizer", "lr_factor"]

StepFn = Callable[[int, np.random.Generator], tuple[Tensor, dict[str, float]]]
ValidateFn = Callable[[], dict[str, float]]

LOG_FIELDS = [
    "step",
    "lr",
    "loss",
    "loss_cross_entropy",
    "loss_mask",
    "loss_dice",
    "loss_flow",
    "s_per_step",
    "train_minutes",
    "val_miou",
    # query-branch pre-training (query_pretrain.py); last, so older logs keep their columns
    "loss_fused",
    "loss_query",
    "loss_pixel",
    "key_cache_hit",
]


@dataclass(frozen=True)
class OptimConfig:
    """AdamW + poly schedule (official values in comments, docs/method-notes.md §1.12)."""

    lr: float = 1e-4  # official 5e-5 (from ImageNet weights); training from scratch wants more
    weight_decay: float = 0.05  # official 0.05; 0 for norms, biases and embeddings (official *_NORM/EMBED)
    backbone_lr_mult: float = 1.0  # official 0.1 for a pre-trained backbone; 1.0 from scratch
    poly_power: float = 0.9
    warmup_steps: int = 0  # official 0
    clip_grad: float = 0.01  # full-model gradient-norm clip, official 0.01; <= 0 disables


@dataclass(frozen=True)
class LoopConfig:
    """Loop settings shared by both stages."""

    out_dir: str = "runs/train"
    max_steps: int = 1000  # defines the poly schedule
    max_minutes: float | None = None  # training-time budget (cumulative over resumes); None = no limit
    seed: int = 0
    amp: str = "auto"  # "auto" (bf16 on CUDA), "bf16", "fp16" (CUDA; "on" is an alias), "off"
    log_every: int = 10  # CSV rows are means over this many steps
    val_every: int = 500  # steps between validations (0: only at the end)
    ckpt_minutes: float = 10.0  # wall minutes between resumable checkpoints
    resume: bool = False  # continue from <out_dir>/last when it exists
    stop_after: int | None = None  # end this session after N steps (schedule unchanged; resume later)
    progress: bool = True  # tqdm progress bar (rank 0)


def _no_decay(name: str, p: Tensor) -> bool:
    """Norm scales, biases, query / level embeddings and relative-position tables: no weight decay."""
    parts = name.split(".")
    module = parts[-2] if len(parts) > 1 else ""
    return p.ndim <= 1 or "embed" in module or "position" in name


def build_optimizer(
    named_params: list[tuple[str, nn.Parameter]], cfg: OptimConfig, backbone_prefix: str | None = None
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters: no weight decay for norms/biases/embeddings, backbone lr mult.

    Each group keeps its base learning rate in "base_lr" (the schedule multiplies it).
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in named_params:
        if not p.requires_grad:
            continue
        backbone = backbone_prefix is not None and name.startswith(backbone_prefix)
        groups.setdefault((backbone, _no_decay(name, p)), []).append(p)
    param_groups = []
    for (backbone, no_decay), params in sorted(groups.items()):
        lr = cfg.lr * (cfg.backbone_lr_mult if backbone else 1.0)
        wd = 0.0 if no_decay else cfg.weight_decay
        param_groups.append({"params": params, "lr": lr, "base_lr": lr, "weight_decay": wd})
    return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: OptimConfig, max_steps: int, time_fraction: float = 0.0) -> float:
    """Poly factor of the base LR for optimizer step `step` (0-based), with optional linear warm-up."""
    progress = min(1.0, max(step / max(max_steps, 1), time_fraction))
    factor = (1.0 - progress) ** cfg.poly_power
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        factor *= (step + 1) / cfg.warmup_steps
    return factor


class _CsvLog:
    def __init__(self, path: Path, enabled: bool, resumed_at: int | None = None) -> None:
        """`resumed_at`: the step of the checkpoint a resumed run continues from; the rows an interrupted
        run logged after it are dropped (the resumed run does those steps again and logs them)."""
        self.path, self.enabled = path, enabled
        if enabled and not path.exists():
            with path.open("w", newline="") as fh:
                csv.DictWriter(fh, LOG_FIELDS).writeheader()
        elif enabled and resumed_at is not None:
            with path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            kept = [r for r in rows if not r.get("step") or int(float(r["step"])) <= resumed_at]
            if len(kept) < len(rows):
                with path.open("w", newline="") as fh:
                    writer = csv.DictWriter(fh, LOG_FIELDS, extrasaction="ignore")
                    writer.writeheader()
                    writer.writerows(kept)

    def write(self, row: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a", newline="") as fh:
                csv.DictWriter(fh, LOG_FIELDS, extrasaction="ignore").writerow(row)


def _torch_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank, 7]).generate_state(1)[0])


AMP_MODES = ("auto", "bf16", "fp16", "on", "off")


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of an `--amp` mode on `device` (None: full float32).

    "auto" is bfloat16 on CUDA and off on the CPU (CPU autocast measured slower than float32 here);
    "bf16" also runs on the CPU (slow; it is how the CPU tests exercise the path); "fp16" ("on") is
    CUDA-only, with a GradScaler.
    """
    if mode not in AMP_MODES:
        raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {mode!r}")
    cuda = device.type == "cuda"
    if mode == "off" or (mode == "auto" and not cuda):
        return None
    if mode in ("fp16", "on"):
        if not cuda:
            raise ValueError("amp fp16 needs a CUDA device (use bf16 or off on the CPU)")
        return torch.float16
    return torch.bfloat16


class TrainLoop:
    """Runs `step_fn` until the step count or the time budget is reached (see the module docstring)."""

    def __init__(
        self,
        cfg: LoopConfig,
        optim: OptimConfig,
        model: MPVSS,
        optimizer: torch.optim.Optimizer,
        step_fn: StepFn,
        validate_fn: ValidateFn | None,
        dist_info: DistInfo,
        settings: dict[str, Any],
        trainable: list[nn.Parameter] | None = None,
    ) -> None:
        self.cfg, self.optim, self.model, self.optimizer = cfg, optim, model, optimizer
        self.step_fn, self.validate_fn, self.dist = step_fn, validate_fn, dist_info
        self.settings = settings
        self.trainable = trainable or [p for g in optimizer.param_groups for p in g["params"]]
        self.out = Path(cfg.out_dir)
        self.amp_dtype = amp_dtype(cfg.amp, dist_info.device)
        self.amp = self.amp_dtype is not None
        # bf16 has float32's exponent range: no loss scaling; fp16 needs the scaler
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.state = LoopState()

    # --- helpers ----------------------------------------------------------------------------------------
    def _time_fraction(self) -> float:
        if not self.cfg.max_minutes:
            return 0.0
        return self.state.train_seconds / (60.0 * self.cfg.max_minutes)

    def _set_lr(self) -> float:
        factor = lr_factor(self.state.step, self.optim, self.cfg.max_steps, self._time_fraction())
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        return self.optimizer.param_groups[0]["lr"]

    def _save(self, name: str = "last") -> None:
        if self.dist.is_main:
            save_run_checkpoint(
                self.out / name, self.model, self.optimizer, self.state, self.settings, self.scaler
            )

    def _validate(self) -> dict[str, float]:
        result: dict[str, float] = {}
        if self.validate_fn is not None and self.dist.is_main:
            was_training = self.model.training
            self.model.eval()
            with torch.no_grad():
                result = self.validate_fn()
            self.model.train(was_training)
            self.state.last_val = result
        barrier(self.dist)
        return result

    def resume_if_asked(self) -> bool:
        last = self.out / "last"
        if not (self.cfg.resume and has_checkpoint(last)):
            return False
        # the optimizer's param_groups carry base_lr, restored with the rest of the state
        self.state, _ = load_run_checkpoint(last, self.model, self.optimizer, self.scaler)
        return True

    def one_step(self) -> tuple[float, dict[str, float]]:
        """One optimizer step at `state.step` -> (loss, parts); advances the step counter."""
        step = self.state.step
        torch.manual_seed(_torch_seed(self.cfg.seed, step, self.dist.rank))
        rng = step_rng(self.cfg.seed, step, self.dist.rank)
        self._set_lr()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(
            device_type=self.dist.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp
        ):
            loss, parts = self.step_fn(step, rng)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss {float(loss)} at step {step}")
        self.scaler.scale(loss).backward()
        if self.optim.clip_grad > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.trainable, self.optim.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.state.step += 1
        return float(loss.detach()), parts

    # --- the loop ---------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train; returns a summary (steps, minutes, last validation, where the checkpoints are)."""
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "run.json").write_text(json.dumps(self.settings, indent=2, default=str) + "\n")
        resumed = self.resume_if_asked()
        log = _CsvLog(self.out / "log.csv", self.dist.is_main, self.state.step if resumed else None)
        bar = tqdm(
            total=self.cfg.max_steps,
            initial=self.state.step,
            disable=not (self.cfg.progress and self.dist.is_main),
            desc=f"train {self.settings.get('stage', '')}",
            unit="step",
            dynamic_ncols=True,
        )
        budget = 60.0 * self.cfg.max_minutes if self.cfg.max_minutes else math.inf
        last_ckpt = time.perf_counter()
        window: list[tuple[float, dict[str, float], float]] = []
        stop_at = self.cfg.max_steps
        if self.cfg.stop_after is not None:
            stop_at = min(stop_at, self.state.step + self.cfg.stop_after)
        self.model.train()
        while self.state.step < stop_at and self.state.train_seconds < budget:
            t0 = time.perf_counter()
            loss, parts = self.one_step()
            dt = time.perf_counter() - t0
            # every rank must agree on when the budget is spent (else a rank waits forever in DDP)
            self.state.train_seconds = all_reduce_max(self.state.train_seconds + dt, self.dist)
            window.append((loss, parts, dt))
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}")
            step = self.state.step
            if step % self.cfg.log_every == 0 or step == stop_at:
                log.write(self._row(window))
                window = []
            if self.cfg.val_every and step % self.cfg.val_every == 0 and step < self.cfg.max_steps:
                t_val = time.perf_counter()
                val = self._validate()
                self.state.train_seconds += time.perf_counter() - t_val
                if val:
                    bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in val.items()))
                    log.write({"step": step, "train_minutes": self._minutes(), **val})
            if time.perf_counter() - last_ckpt >= 60.0 * self.cfg.ckpt_minutes:
                self._save()
                last_ckpt = time.perf_counter()
        bar.close()
        if window:
            log.write(self._row(window))
        val = self._validate()
        if val:
            log.write({"step": self.state.step, "train_minutes": self._minutes(), **val})
        self._save()
        return {
            "steps": self.state.step,
            "train_minutes": self._minutes(),
            "resumed": resumed,
            "val": val,
            "checkpoint": str(self.out / "last"),
        }

    def _minutes(self) -> float:
        return round(self.state.train_seconds / 60.0, 2)

    def _row(self, window: list[tuple[float, dict[str, float], float]]) -> dict[str, Any]:
        n = len(window)
        row: dict[str, Any] = {
            "step": self.state.step,
            "lr": f"{self.optimizer.param_groups[0]['lr']:.3e}",
            "loss": round(sum(w[0] for w in window) / n, 4),
            "s_per_step": round(sum(w[2] for w in window) / n, 3),
            "train_minutes": self._minutes(),
        }
        for key in LOG_FIELDS:
            if key.startswith("loss_") and key in window[-1][1]:
                row[key] = round(sum(w[1].get(key, 0.0) for w in window) / n, 4)
        return row


def fit_stage(
    stage: str,
    config: Any,
    model: MPVSS,
    optimizer: torch.optim.Optimizer,
    step_fn: Callable,
    validate_fn: Callable[[], dict[str, float]] | None,
    dist_info: DistInfo,
    t_start: float,
    settings_extra: dict[str, Any] | None = None,
    *,
    trains: tuple[str, ...] = (),
    inherited: dict[str, str] | None = None,
    **summary_extra: Any,
) -> dict[str, Any]:
    """Run one stage's TrainLoop; its summary carries the provenance both stages record (Table IV).

    `config` is the stage's train config (with `.loop` and `.optim`); `t_start` the perf_counter time
    the stage began, so wall time includes data loading. `trains` names the parts this stage trains
    (`checkpoint.PARTS`) and `inherited` the record of the parts it took trained from elsewhere: both go
    into every checkpoint's "trained" record (by this run's command).
    """
    prov = {
        "command": command_line(),
        "device": device_name(dist_info.device),
        "world_size": dist_info.world_size,
    }
    trained = {**(inherited or {}), **{part: prov["command"] for part in trains}}
    settings = settings_dict(stage=stage, config=config, **prov, trained=trained, **(settings_extra or {}))
    loop = TrainLoop(config.loop, config.optim, model, optimizer, step_fn, validate_fn, dist_info, settings)
    summary = loop.fit()
    summary.update(
        stage=stage,
        **summary_extra,
        **prov,
        rank=dist_info.rank,
        wall_minutes=round((time.perf_counter() - t_start) / 60.0, 2),
        out_dir=str(Path(config.loop.out_dir)),
        trained=trained,
        model=model,
    )
    return summary


def settings_dict(**configs: Any) -> dict[str, Any]:
    """JSON-able record of dataclass configs and plain values (run.json, checkpoint provenance)."""
    return {k: asdict(v) if hasattr(v, "__dataclass_fields__") else v for k, v in configs.items()}
