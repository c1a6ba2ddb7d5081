"""Pictures of frames: label overlays with key-frame badges, side-by-side tiles, the H.264 export."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import state
from mpvss_core.io import encode_video_bytes
from mpvss_core.viz import draw_key_marker, overlay_labels, tile_images


def overlay(
    s: state.Settings, labels: np.ndarray, index: int, badge: tuple[bool, int] | None, palette=None
) -> np.ndarray:
    """The frame with `labels` blended in (the model's colours unless `palette`); `badge` = (is_key,
    distance) draws KEY / +d in the corner."""
    image = overlay_labels(s.clip.frames[index], labels, s.palette if palette is None else palette, alpha=0.5)
    return image if badge is None else draw_key_marker(image, *badge)


def panels(s: state.Settings, preds: dict[str, state.Prediction], index: int) -> list[tuple[np.ndarray, str]]:
    """(image, caption) of the ground truth (when present) and each method at frame `index`."""
    out = []
    clip = s.clip
    if clip.labels is not None and clip.labelled[index] and s.has_ground_truth:
        out.append((overlay(s, clip.labels_at_frame_size(index), index, None, clip.palette), "ground truth"))
    vs = "" if s.has_ground_truth else " vs per-frame"
    for name, p in preds.items():
        row = p.table.iloc[index]
        score = f" · mIoU{vs} {row['miou']:.1f}" if np.isfinite(row["miou"]) else ""
        where = "key frame" if row["is_key"] else f"+{row['distance']} from key {row['key_index']}"
        out.append(
            (
                overlay(s, p.labels[index], index, (bool(row["is_key"]), int(row["distance"]))),
                f"{name} · {where}{score}",
            )
        )
    return out


def show_grid(items: list[tuple[np.ndarray, str]], columns: int = 3) -> None:
    """Images in a grid of equal cells, so panels of one frame line up."""
    for start in range(0, len(items), columns):
        cols = st.columns(columns)
        for col, (image, caption) in zip(cols, items[start : start + columns], strict=False):
            col.image(image, caption=caption, width="stretch")


@st.cache_data(max_entries=4, show_spinner="Encoding the H.264 video ...")
def side_by_side_video(key: tuple, _s: state.Settings, _preds: dict[str, state.Prediction]) -> bytes:
    """Every frame's panels tiled (as on the page) and encoded as browser-playable H.264 MP4."""
    cols = min(3, len(_preds) + 1)
    frames = []
    for i in range(_s.clip.num_frames):
        items = panels(_s, _preds, i)
        frames.append(tile_images([im for im, _ in items], [c for _, c in items], columns=cols))
    return encode_video_bytes(frames, fps=_s.clip.fps or 15.0)
