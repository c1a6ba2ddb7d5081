"""Pieces both training stages use: data settings, label padding, CPU threads, provenance."""

from __future__ import annotations

import platform
import shlex
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.modeling.segmenter import SIZE_DIVISIBILITY
from mpvss_core.train.data import AugConfig, FrameDataset

__all__ = [
    "DataConfig",
    "device_name",
    "load_segmenter",
    "open_datasets",
    "open_train",
    "open_val",
    "pad_labels",
    "set_threads",
]


@dataclass(frozen=True)
class DataConfig:
    """Where training and validation frames come from, and how many per step."""

    root: str = "data/synth"  # a VSPW-layout root (the synthetic benchmark: `mpvss data synth`)
    split: str = "train"  # a VSPW root's <root>/<split>.txt (must exist; "": every clip under root)
    val_split: str = "val"  # validation clips (same root); "" disables validation
    val_clips: int = 4  # clips used by the periodic validation
    val_frames: int = 30  # first frames of each validation clip
    max_clips: int | None = None  # use only the first N training clips (smoke tests)
    batch_size: int = 4  # per process
    cache: bool = False  # keep decoded training frames in memory
    threads: int = 0  # background threads preparing the next batches (0: in the step; see prefetch.py)
    aug: AugConfig = field(default_factory=AugConfig)


def open_train(cfg: DataConfig, num_classes: int) -> FrameDataset:
    return FrameDataset.open(cfg.root, cfg.split, num_classes, cfg.max_clips, cfg.cache)


def open_val(cfg: DataConfig, num_classes: int) -> FrameDataset | None:
    """The validation clips, None when validation is off (a missing split file is an InputError)."""
    if cfg.val_split and cfg.val_clips > 0:
        return FrameDataset.open(cfg.root, cfg.val_split, num_classes)
    return None


def open_datasets(cfg: DataConfig, num_classes: int) -> tuple[FrameDataset, FrameDataset | None]:
    return open_train(cfg, num_classes), open_val(cfg, num_classes)


def load_segmenter(spec: str) -> tuple[MPVSS, dict[str, str]]:
    """The model whose segmenter a stage starts from, and the record of its trained segmenter.

    `spec` is any model spec (a stage-0 checkpoint, a model bundle, a local Hugging Face Mask2Former
    folder, a preset with random weights), resolved once (`mpvss_core.spec`).
    """
    from mpvss_core.spec import resolve_model

    resolved = resolve_model(spec)
    record = resolved.entry("per_frame").trained
    inherited = {"segmenter": record["segmenter"]} if "segmenter" in record else {}
    # a trained segmenter's heads trained with it (a bundle's segmenter entry records the segmenter
    # only); a stage that does not retrain them (flow pre-training) keeps them
    if "heads" in record or "segmenter" in record:
        inherited["heads"] = record.get("heads") or record["segmenter"]
    return resolved.load("per_frame"), inherited


def pad_labels(labels: Tensor, multiple: int = SIZE_DIVISIBILITY) -> Tensor:
    """BxHxW labels padded bottom/right with 255 to the segmenter's padded input size.

    The mask logits cover the padded image; targets must cover the same field of view because the
    loss samples both at the same normalised coordinates.
    """
    h, w = labels.shape[-2:]
    return F.pad(labels, (0, (-w) % multiple, 0, (-h) % multiple), value=IGNORE_INDEX)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def device_name(device: torch.device) -> str:
    """Human-readable device for the provenance records (Table IV)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def command_line() -> str:
    return (
        shlex.join(["mpvss", *sys.argv[1:]]) if sys.argv and "mpvss" in sys.argv[0] else shlex.join(sys.argv)
    )
