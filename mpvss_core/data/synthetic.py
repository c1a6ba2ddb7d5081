"""The built-in synthetic street-scene benchmark: clips with exact labels and exact optical flow.

    from mpvss_core.data.synthetic import render_clip
    clip = render_clip(seed, num_frames=30, size=(256, 512))
    clip.frames            # TxHxWx3 uint8 RGB
    clip.labels            # TxHxW uint8 class ids (SYNTH_CLASSES; every pixel labelled)
    flow, valid = clip.flow(src, dst)   # HxWx2 float32 (dx, dy), HxW bool

Pixel p of frame `src` shows the surface point that frame `dst` shows at p + flow[p]; `valid` is
False where that point is hidden in frame `dst` or falls outside it. Everything is determined by
the seed. Splits are fixed lists of seeds (`SPLITS`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.data.render import FrameBuffers, exact_flow, render_frame
from mpvss_core.data.scene import FPS, build_scene
from mpvss_core.data.splits import DEFAULT_FRAMES, DEFAULT_SIZE, SPLITS, Split  # noqa: F401 (re-exported)
from mpvss_core.labels import SYNTH_CLASSES, SYNTH_PALETTE

RENDERER_VERSION = 1  # bump when a change alters the pixels of a seed


class SyntheticRender:
    """Rendered buffers of a whole clip, kept so that flow between any two frames is exact."""

    def __init__(self, seed: int, num_frames: int, size: tuple[int, int]) -> None:
        self.seed, self.size = seed, size
        self.scene = build_scene(seed, num_frames, size)
        self.buffers: list[FrameBuffers] = [render_frame(self.scene, t) for t in range(num_frames)]

    def flow(self, src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
        if src == dst:
            h, w = self.size
            return np.zeros((h, w, 2), np.float32), np.ones((h, w), bool)
        return exact_flow(self.scene, self.buffers[src], src, self.buffers[dst], dst)

    def to_clip(self) -> Clip:
        return Clip(
            name=f"synth-{self.seed}",
            frames=np.stack([b.rgb for b in self.buffers]),
            labels=np.stack([b.label for b in self.buffers]),
            class_names=SYNTH_CLASSES,
            labelled=np.ones(len(self.buffers), bool),
            fps=FPS,
            palette=SYNTH_PALETTE,
            source=f"synthetic seed {self.seed}",
            _flow_fn=self.flow,
        )


def render_clip(seed: int, num_frames: int = DEFAULT_FRAMES, size: tuple[int, int] = DEFAULT_SIZE) -> Clip:
    """Render clip `seed` of the synthetic benchmark (see the module docstring)."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    h, w = size
    if h < 16 or w < 16 or h > 4096 or w > 4096:
        raise ValueError(f"size must be between 16 and 4096 pixels per side, got {size}")
    return SyntheticRender(int(seed), int(num_frames), (int(h), int(w))).to_clip()


def scene_record(seed: int, num_frames: int, size: tuple[int, int]) -> dict:
    """What `scene.json` stores so that a written clip's exact flow can be recomputed."""
    return {
        "generator": "mpvss-synthetic",
        "version": RENDERER_VERSION,
        "seed": int(seed),
        "num_frames": int(num_frames),
        "size": [int(size[0]), int(size[1])],
    }


def load_scene_flow(clip_dir: Path):
    """Flow function (src, dst) -> (flow, valid) of a synthetic clip written to disk.

    Re-renders the clip from the seed in `<clip_dir>/scene.json` on first use (a few seconds)."""
    rec = json.loads((Path(clip_dir) / "scene.json").read_text())
    if rec.get("generator") != "mpvss-synthetic":
        raise ValueError(f"{clip_dir}/scene.json was not written by the synthetic benchmark")
    if rec.get("version") != RENDERER_VERSION:
        raise ValueError(
            f"{clip_dir} was rendered by synthetic renderer v{rec.get('version')}, "
            f"this is v{RENDERER_VERSION}: its exact flow cannot be recomputed; "
            "re-create the split with `mpvss data synth`"
        )
    state: dict[str, SyntheticRender] = {}

    def flow(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
        if "r" not in state:
            state["r"] = SyntheticRender(rec["seed"], rec["num_frames"], tuple(rec["size"]))
        return state["r"].flow(src, dst)

    return flow
