"""Pictures of frames: label overlays with key-frame badges and class legends, the error and difference
views, side-by-side tiles, the H.264 export (legends burnt in) and the label-PNG zip."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app import state
from app.components import legend
from mpvss_core.io import encode_video_bytes, write_label_png
from mpvss_core.labels import IGNORE_INDEX
from mpvss_core.viz import (
    DIFFERENCE_COLOUR,
    ERROR_NAMES,
    ERROR_PALETTE,
    LegendEntry,
    difference_map,
    difference_share,
    draw_difference,
    draw_errors,
    draw_key_marker,
    error_map,
    error_shares,
    legend_entries,
    legend_strip,
    overlay_labels,
    tile_images,
)

# (image, caption) or (image, caption, legend entries): one cell of a grid
Item = tuple


@dataclass(frozen=True)
class Look:
    """How labels are drawn: class-colour opacity, and the class names shown (None: all; the other
    classes' pixels are drawn as the plain frame)."""

    alpha: float = 0.5
    classes: frozenset[str] | None = None


def shown_labels(labels: np.ndarray, names, classes: frozenset[str] | None) -> np.ndarray:
    """`labels` with every class not in `classes` set to IGNORE_INDEX (drawn as the plain frame)."""
    if classes is None:
        return labels
    keep = np.zeros(256, bool)
    keep[[i for i, n in enumerate(names) if n in classes]] = True
    return np.where(keep[labels], labels, IGNORE_INDEX).astype(labels.dtype)


def _label_item(frame, labels, names, palette, look: Look, caption: str, badge=None) -> Item:
    """The frame with the shown classes of `labels` blended in, and their legend."""
    shown = shown_labels(labels, names, look.classes)
    image = overlay_labels(frame, shown, palette, alpha=look.alpha)
    if badge is not None:
        image = draw_key_marker(image, *badge)
    return image, caption, legend_entries(shown, names, palette)


def panels(
    s: state.Settings, preds: dict[str, state.Prediction], index: int, look: Look = Look()
) -> list[Item]:
    """(image, caption, legend) of the ground truth (when present) and each method at frame `index`."""
    out = []
    clip = s.clip
    frame = clip.frames[index]
    if clip.labels is not None and clip.labelled[index] and s.has_ground_truth:
        gt = clip.labels_at_frame_size(index)
        out.append(_label_item(frame, gt, clip.class_names, clip.palette, look, "ground truth"))
    vs = "" if s.has_ground_truth else " vs per-frame"
    for name, p in preds.items():
        row = p.table.iloc[index]
        score = f" · mIoU{vs} {row['miou']:.1f}" if np.isfinite(row["miou"]) else ""
        where = "key frame" if row["is_key"] else f"+{row['distance']} from key {row['key_index']}"
        badge = (bool(row["is_key"]), int(row["distance"]))
        out.append(
            _label_item(
                frame,
                p.labels[index],
                s.model_class_names,
                s.palette,
                look,
                f"{name} · {where}{score}",
                badge,
            )
        )
    return out


def error_reference(s: state.Settings, index: int) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """What frame `index`'s predictions are judged against in the error view.

    Returns (kind, truth, lut): ("labels", the ground truth in the data's ids, the model -> data id
    lookup or None when the label spaces are the same) on a frame with ground truth in the model's
    label space; ("per_frame", None, None) otherwise (the caller takes the per_frame prediction).
    """
    clip = s.clip
    if not (s.has_ground_truth and clip.labels is not None and clip.labelled[index]):
        return "per_frame", None, None
    truth = clip.labels_at_frame_size(index)
    match = s.reference.match
    if match is None:
        return "labels", truth, None
    return "labels", match.data_ignore_lut()[truth], match.pred_to_data


def _code_entries(codes: np.ndarray) -> list[LegendEntry]:
    return legend_entries(codes, ERROR_NAMES, ERROR_PALETTE)


def error_panels(
    s: state.Settings, preds: dict[str, state.Prediction], index: int, truth: np.ndarray, lut, alpha: float
) -> list[Item]:
    """(image, caption, legend) of each method's correct / wrong / ignored pixels against `truth`."""
    out = []
    for name, p in preds.items():
        pred = p.labels[index] if lut is None else lut[p.labels[index]]
        codes = error_map(pred, truth)
        acc = error_shares(codes)["accuracy"]
        judged = "no judged pixel" if np.isnan(acc) else f"{acc:.1f}% of judged pixels correct"
        out.append(
            (draw_errors(s.clip.frames[index], codes, alpha), f"{name} · {judged}", _code_entries(codes))
        )
    return out


def difference_panel(
    s: state.Settings, a: state.Prediction, b: state.Prediction, index: int, alpha: float
) -> Item:
    """(image, caption, legend) of the pixels where methods `a` and `b` disagree at frame `index`."""
    diff = difference_map(a.labels[index], b.labels[index])
    share = difference_share(diff)
    # both entries always: "disagree on 0.0%" is a finding too
    entries = [
        LegendEntry(0, f"{a.method} ≠ {b.method}", DIFFERENCE_COLOUR, share),
        LegendEntry(1, "same class (frame in grey)", (160, 160, 160), 100.0 - share),
    ]
    image = draw_difference(s.clip.frames[index], diff, alpha)
    return image, f"{a.method} vs {b.method} · disagree on {share:.1f}% of the frame", entries


def show_grid(items: list[Item], columns: int = 3) -> None:
    """Images in a grid of equal cells, so panels of one frame line up; a class legend under each image
    that has one."""
    for start in range(0, len(items), columns):
        cols = st.columns(columns)
        for col, item in zip(cols, items[start : start + columns], strict=False):
            col.image(item[0], caption=item[1], width="stretch")
            if len(item) > 2 and item[2] is not None:
                legend.show(col, item[2])


def _with_strip(item: Item, names) -> np.ndarray:
    """The panel's image with its legend burnt in under it (layout fixed by the label space)."""
    image = item[0]
    return np.concatenate([image, legend_strip(item[2], image.shape[1], names)], axis=0)


@st.cache_data(max_entries=4, show_spinner="Encoding the H.264 video ...")
def side_by_side_video(key: tuple, _s: state.Settings, _preds: dict[str, state.Prediction]) -> bytes:
    """Every frame's panels tiled (as on the page, in the default look: opacity 0.5, every class) with
    each panel's class legend burnt in under it, encoded as browser-playable H.264 MP4."""
    cols = min(3, len(_preds) + 1)
    # one label space for every strip's layout, so all panels (and frames) have the same size
    names = list(dict.fromkeys([*(_s.clip.class_names or ()), *_s.model_class_names]))
    frames = []
    for i in range(_s.clip.num_frames):
        items = panels(_s, _preds, i)
        frames.append(
            tile_images([_with_strip(it, names) for it in items], [it[1] for it in items], columns=cols)
        )
    return encode_video_bytes(frames, fps=_s.clip.fps or 15.0)


LABELS_README = """Label maps of {clip}, one PNG per frame per method: <method>/<frame>.png (0-based frame).

Each PNG is a palette ("P") image whose pixel values are class ids of the model's label space:
value i is class i of classes.json ("name", "colour" as RGB); 255 = ignore (never predicted).
Read the ids with PIL: np.asarray(Image.open(path)) (do not convert to RGB first).
Method key frames: K = {interval}, first key frame 0.
"""


def label_pngs_zip(s: state.Settings, preds: dict[str, state.Prediction]) -> bytes:
    """A zip of one label PNG per frame per method (`<method>/<frame:05d>.png`, pixel value = class id),
    with classes.json (id, name, colour) and README.txt saying what the values mean."""
    names, palette = list(s.model_class_names), s.palette
    classes = [{"id": i, "name": n, "colour": [int(v) for v in palette[i]]} for i, n in enumerate(names)]
    meta = {"clip": s.clip.name, "interval": s.interval, "ignore_index": IGNORE_INDEX, "classes": classes}
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("classes.json", json.dumps(meta, indent=2) + "\n")
        zf.writestr("README.txt", LABELS_README.format(clip=s.clip.name, interval=s.interval))
        for name, p in preds.items():
            for i in range(len(p.labels)):
                path = write_label_png(Path(tmp) / f"{name}_{i:05d}.png", p.labels[i], palette)
                zf.write(path, f"{name}/{i:05d}.png")
    return buf.getvalue()
