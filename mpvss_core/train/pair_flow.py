"""Exact flow between a training pair's target and key frames: chained from the stored per-frame flows
when the key comes first, rendered from the clip's scene when it comes after the target.

A written synthetic clip stores `flow/<t>.png`, the exact flow from frame t to frame t-1 (KITTI 16-bit).
A stage-1 pair is (key k, target t) with t - k = 1..10, so the flow t -> k is the chain

    F_{t->k}(p) = f_{t->t-1}(p) + F_{t-1->k}(p + f_{t->t-1}(p))

evaluated by bilinear sampling. A pixel stays valid only if every link is valid where the chain lands
(validity sampled bilinearly must be ~1, so points next to an occlusion or the frame border drop out).
Chaining agrees with rendering the pair directly to a small fraction of a pixel wherever both are
valid (tests/test_flow_supervision.py measures it on a rendered clip).

A pair with the key AFTER the target (`--reverse-pairs`) needs the flow t -> t+1, which is not
stored; `SceneFlows` renders it from the written clip's `scene.json` (about 3 s once per clip, 25 ms a
pair after that).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mpvss_core.data.clip import Clip
from mpvss_core.errors import InputError
from mpvss_core.modeling.warp import backward_warp

__all__ = ["SceneFlows", "chain_flows"]


def chain_flows(links: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Tensor, Tensor]:
    """Compose per-frame flows into one.

    Args:
        links: [(f_{t->t-1}, valid), (f_{t-1->t-2}, valid), ..., (f_{k+1->k}, valid)], each flow HxWx2
            float (dx, dy) in pixels and validity HxW bool; at least one link.
    Returns:
        (2xHxW float32 flow t -> k, HxW bool validity).
    """
    if not links:
        raise ValueError("chain_flows needs at least one flow")

    def as_tensor(link: tuple[np.ndarray, np.ndarray]) -> Tensor:
        """1x3xHxW: dx, dy and validity (0/1) as channels, so one warp moves all three."""
        f, v = link
        flow = torch.from_numpy(np.asarray(f, np.float32)).permute(2, 0, 1)
        return torch.cat((flow, torch.from_numpy(np.asarray(v, np.float32))[None]))[None]

    first = as_tensor(links[0])
    flow, valid = first[:, :2], first[:, 2:]
    height, width = flow.shape[-2:]
    ys = torch.arange(height, dtype=torch.float32).view(height, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, width)
    for link in links[1:]:
        # where the chain so far lands must be inside the frame: border padding would invent values
        x, y = xs + flow[0, 0], ys + flow[0, 1]
        inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
        landed = backward_warp(as_tensor(link), flow)
        flow = flow + landed[:, :2]
        valid = valid * (inside & (landed[0, 2] > 0.999)).float()
    return flow[0], valid[0, 0] > 0.5


class SceneFlows:
    """Exact flow between any two frames of written synthetic clips, from their scenes; each clip is
    loaded once and kept (its renderer), and prefetch threads (--data-threads) share them under a lock."""

    def __init__(self) -> None:
        self._clips: dict[str, Clip] = {}
        self._lock = threading.Lock()

    def flow(self, name: str, first_frame: Path | str | int, src: int, dst: int) -> tuple[Tensor, Tensor]:
        """(2xHxW float32 flow src -> dst, HxW bool validity) of the clip whose first frame file is
        `first_frame` (<root>/data/<clip>/origin/<frame>.jpg, as `mpvss data synth` writes it).

        Raises:
            InputError: the clip has no scene (real footage, or a clip held in memory).
        """
        with self._lock:
            if name not in self._clips:
                self._clips[name] = self._load(name, first_frame)
            flow, valid = self._clips[name].flow(src, dst)
        return torch.from_numpy(flow).permute(2, 0, 1).float(), torch.from_numpy(valid)

    @staticmethod
    def _load(name: str, first_frame: Path | str | int) -> Clip:
        folder = Path(first_frame).parent.parent if isinstance(first_frame, Path | str) else None
        if folder is None or not (folder / "scene.json").is_file():
            raise InputError(
                f"clip {name}: a pair with the key frame after the target needs the exact flow from the "
                "clip's scene (scene.json of the synthetic benchmark); use --reverse-pairs 0 or "
                "--flow-loss-weight 0 on other data"
            )
        from mpvss_core.data.readers import load_clip

        return load_clip(str(folder))
