"""The label spaces the project reads (class names, palettes, id maps) and the one IGNORE_INDEX.

The bottom of the library: it imports nothing of mpvss_core, so data/, io/, viz/, metrics/, modeling/
and train/ can all use it without import cycles.

The built-in synthetic benchmark uses SYNTH_CLASSES: the 19 Cityscapes train classes minus
`train` and `motorcycle` (never rendered), plus `water` (the paper's Figure B discusses it).
Colours follow cityscapesScripts `labels.py`; water has no Cityscapes colour and gets its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = 255  # "no label" in every label map, ground truth or predicted (VSPW / Cityscapes)

SYNTH_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "bicycle",
    "water",
)

_CITYSCAPES_COLOURS: dict[str, tuple[int, int, int]] = {
    "road": (128, 64, 128),
    "sidewalk": (244, 35, 232),
    "building": (70, 70, 70),
    "wall": (102, 102, 156),
    "fence": (190, 153, 153),
    "pole": (153, 153, 153),
    "traffic light": (250, 170, 30),
    "traffic sign": (220, 220, 0),
    "vegetation": (107, 142, 35),
    "terrain": (152, 251, 152),
    "sky": (70, 130, 180),
    "person": (220, 20, 60),
    "rider": (255, 0, 0),
    "car": (0, 0, 142),
    "truck": (0, 0, 70),
    "bus": (0, 60, 100),
    "train": (0, 80, 100),
    "motorcycle": (0, 0, 230),
    "bicycle": (119, 11, 32),
    "water": (0, 160, 210),
}

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle",
    "bicycle",
)  # fmt: skip

# Cityscapes labelId -> trainId (cityscapesScripts labels.py); every other id is ignored.
CITYSCAPES_LABELID_TO_TRAINID: dict[int, int] = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip


def palette_for(class_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Palette (K, 3) uint8 for a list of class names.

    Known Cityscapes-style names get their usual colour; any other name gets a deterministic colour
    from a golden-ratio hue walk, so VSPW's 124 classes or user classes are distinguishable too.
    """
    out = np.zeros((len(class_names), 3), np.uint8)
    for i, name in enumerate(class_names):
        if name in _CITYSCAPES_COLOURS:
            out[i] = _CITYSCAPES_COLOURS[name]
        else:
            out[i] = _hue_walk_colour(i)
    return out


def _hue_walk_colour(i: int) -> tuple[int, int, int]:
    import colorsys

    h = (i * 0.618033988749895) % 1.0
    s = 0.55 + 0.35 * ((i * 7) % 3) / 2
    v = 0.65 + 0.3 * ((i * 5) % 2)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def generic_class_names(n: int) -> tuple[str, ...]:
    """Names for a label space known only by its size."""
    return tuple(f"class {i}" for i in range(n))


SYNTH_PALETTE = palette_for(SYNTH_CLASSES)
CITYSCAPES_PALETTE = palette_for(CITYSCAPES_CLASSES)


def resize_nearest(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An HxW (or ...xHxW) label map at another size by nearest neighbour, pixel centres aligned.

    Label pixel (i, j) of the output takes the input pixel whose area contains its centre:
    row floor((i + 0.5) * H_in / H_out). Predictions made on downscaled frames are brought to the
    ground truth's own resolution this way before they are scored (ids are never blended).
    """
    h_in, w_in = labels.shape[-2:]
    h_out, w_out = size
    if (h_in, w_in) == (h_out, w_out):
        return labels
    rows = np.minimum(((np.arange(h_out) + 0.5) * h_in / h_out).astype(np.int64), h_in - 1)
    cols = np.minimum(((np.arange(w_out) + 0.5) * w_in / w_out).astype(np.int64), w_in - 1)
    return labels[..., rows[:, None], cols[None, :]]


def match_label_spaces(model_names: tuple[str, ...], data_names: tuple[str, ...]) -> LabelMatch:
    """How a model's classes meet a dataset's: by exact name (case-insensitive, `_` = space)."""

    def norm(name: str) -> str:
        return " ".join(name.replace("_", " ").lower().split())

    data_index = {norm(n): i for i, n in enumerate(data_names)}
    to_data = np.full(256, IGNORE_INDEX, np.uint8)
    matched = []
    for i, name in enumerate(model_names):
        j = data_index.get(norm(name))
        if j is not None:
            to_data[i] = j
            matched.append((name, data_names[j]))
    seen = {b for _, b in matched}
    return LabelMatch(
        model_names=tuple(model_names),
        data_names=tuple(data_names),
        pred_to_data=to_data,
        matched=tuple(matched),
        unmatched_model=tuple(n for n in model_names if n not in {a for a, _ in matched}),
        unmatched_data=tuple(n for n in data_names if n not in seen),
    )


@dataclass(frozen=True)
class LabelMatch:
    """A model's label space matched to a dataset's by class name.

    Attributes:
        pred_to_data: 256 uint8 lookup: model class id -> data class id, IGNORE_INDEX where the model's
            class has no counterpart (such a prediction counts as wrong wherever the data has a label).
        matched: (model name, data name) pairs.
        unmatched_model / unmatched_data: names without a counterpart; pixels of unmatched data
            classes cannot be predicted by the model and are not scored.
    """

    model_names: tuple[str, ...]
    data_names: tuple[str, ...]
    pred_to_data: np.ndarray
    matched: tuple[tuple[str, str], ...]
    unmatched_model: tuple[str, ...]
    unmatched_data: tuple[str, ...]

    @property
    def identical(self) -> bool:
        """Same classes in the same order: predictions are data ids already."""
        return self.model_names == self.data_names

    def data_ignore_lut(self) -> np.ndarray:
        """256 uint8 lookup on data ids: unmatched data classes (and ignore) -> IGNORE_INDEX."""
        lut = np.arange(256, dtype=np.uint8)
        for name in self.unmatched_data:
            lut[self.data_names.index(name)] = IGNORE_INDEX
        return lut

    def describe(self) -> dict:
        return {
            "matched": len(self.matched),
            "unmatched_model_classes": list(self.unmatched_model),
            "unmatched_data_classes": list(self.unmatched_data),
        }
