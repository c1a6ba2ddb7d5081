"""Quick validation during training: per-frame and propagated mIoU on a few validation clips.

These are the trainer's progress numbers (a subset of the split, frames as stored, one confusion
matrix over all counted frames); the reported results come from `mpvss eval` on the whole split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mpvss_core.metrics import ConfusionMatrix
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.train.data import FrameDataset

__all__ = ["ValClip", "load_val_clips", "per_frame_miou", "propagation_miou"]


@dataclass
class ValClip:
    frames: torch.Tensor  # Tx3xHxW float RGB 0..255
    labels: np.ndarray  # TxHxW uint8, 255 = ignore


def load_val_clips(ds: FrameDataset, num_clips: int, num_frames: int) -> list[ValClip]:
    """The first `num_frames` frames of the first `num_clips` clips (evenly spread over the split)."""
    picks = np.linspace(0, len(ds.clips) - 1, min(num_clips, len(ds.clips))).round().astype(int)
    clips = []
    for c in dict.fromkeys(picks.tolist()):
        n = min(num_frames, len(ds.clips[c].frames))
        images, labels = zip(*(ds.read(c, t) for t in range(n)), strict=True)
        size = images[0].shape[:2]
        labs = [lab if lab is not None else np.full(size, 255, np.uint8) for lab in labels]
        frames = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
        clips.append(ValClip(frames, np.stack(labs)))
    return clips


def _labels(model: MPVSS, class_logits, mask_logits, size) -> np.ndarray:
    return model.semantic_inference(class_logits, mask_logits, size).argmax(1).cpu().numpy()


@torch.no_grad()
def per_frame_miou(
    model: MPVSS, clips: list[ValClip], device: torch.device, stride: int = 3, batch: int = 4
) -> float:
    """mIoU (%) of the segmenter on every `stride`-th frame."""
    cm = ConfusionMatrix(model.segmenter.num_classes)
    for clip in clips:
        idx = list(range(0, len(clip.frames), stride))
        for i in range(0, len(idx), batch):
            sel = idx[i : i + batch]
            x = clip.frames[sel].to(device)
            out = model.segmenter(x)
            cm.update(_labels(model, out.class_logits, out.mask_logits, x.shape[-2:]), clip.labels[sel])
    return 100.0 * cm.miou()


@torch.no_grad()
def propagation_miou(model: MPVSS, clips: list[ValClip], device: torch.device, interval: int = 5) -> float:
    """mIoU (%) with key frames every `interval` frames (frame 0 first) and propagation between."""
    cm = ConfusionMatrix(model.segmenter.num_classes)
    for clip in clips:
        key = None
        for t in range(len(clip.frames)):
            x = clip.frames[t : t + 1].to(device)
            if t % interval == 0:
                key = model.segment_key(x)
                pred = _labels(model, key.class_logits, key.mask_logits, x.shape[-2:])
            else:
                prop = model.propagate(key, x)
                pred = _labels(model, prop.class_logits, prop.mask_logits, x.shape[-2:])
            cm.update(pred, clip.labels[t : t + 1])
    return 100.0 * cm.miou()
