"""Session state and caching of the app: the current settings, cached models and clips, the prediction
store, per-frame diagnostics, and the Stop flag of long work.

Caching (all keyed by content, so nothing stale is ever shown):
- models: `st.cache_resource` keyed on (model spec, its files' stamp, method, device);
- clips: `st.cache_resource` keyed on the source (seed and size, upload bytes hash, folder path);
- predictions: a process-wide LRU keyed on (model identity, clip content hash, method, K); a run that
  is stopped half-way stores nothing;
- diagnostics of one frame: the same, plus the frame index.

Cancelling: long loops update an `st.progress` bar between frames and render a Stop button first.
Clicking Stop makes Streamlit interrupt the running script at its next Streamlit call (the progress
update between two frames) and rerun; the button's callback sets `session_state["stop"]`, and on
that rerun nothing is recomputed until the user presses Resume. Finished methods stay cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from app import sources
from mpvss_core.data.clip import Clip
from mpvss_core.frame_result import FrameResult
from mpvss_core.labels import generic_class_names, palette_for
from mpvss_core.methods import Method
from mpvss_core.metrics import frame_miou
from mpvss_core.schedules import FixedInterval

STOP = "stop"
_SETTINGS = "_settings"


@dataclass
class Settings:
    """What the sidebar chose; every page reads it with `settings()`."""

    model: str
    device: str
    clip: Clip
    digest: str
    interval: int
    methods: list[str]
    available: list[str]
    model_id: str
    random_weights: bool
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def scored(self) -> bool:
        """Whether the clip has ground truth in the model's label space (mIoU can be computed)."""
        return self.clip.labels is not None and bool(self.clip.labelled.any()) and self.label_space_matches

    @property
    def label_space_matches(self) -> bool:
        return num_classes(self) == self.clip.num_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.clip.class_names if self.label_space_matches else generic_class_names(num_classes(self))

    @property
    def palette(self) -> np.ndarray:
        return self.clip.palette if self.label_space_matches else palette_for(self.class_names)


def set_settings(s: Settings) -> None:
    st.session_state[_SETTINGS] = s


def settings() -> Settings:
    """The settings of this run (set by the sidebar in `streamlit_app.py` before the page runs)."""
    return st.session_state[_SETTINGS]


# --- cached loaders ------------------------------------------------------------------------------------
@st.cache_resource(max_entries=24, show_spinner="Loading model ...")
def _method(spec: str, stamp: str, name: str, device: str) -> Method:
    return sources.build_method(spec, name, device)


def method(s: Settings, name: str) -> Method:
    """The loaded method `name` of the current model (shared by all sessions; inference only)."""
    return _method(s.model, s.model_id, name, s.device)


@st.cache_data(max_entries=16, show_spinner=False)
def methods_of(spec: str, stamp: str) -> list[str]:
    return sources.methods_of(spec)


def num_classes(s: Settings) -> int:
    return int(method(s, s.available[0]).model.segmenter.num_classes)


@st.cache_resource(max_entries=4, show_spinner="Rendering the built-in clip ...")
def synthetic_clip(seed: int, frames: int, size: tuple[int, int]) -> tuple[Clip, str]:
    clip = sources.synthetic_clip(seed, frames, size)
    return clip, sources.clip_digest(clip)


@st.cache_resource(max_entries=4, show_spinner="Decoding the upload ...")
def upload_clip(name: str, data_hash: str, _data: bytes) -> tuple[Clip, str]:
    clip = sources.load_upload(name, _data, sources.profile().data_dir / "uploads")
    return clip, sources.clip_digest(clip)


@st.cache_resource(max_entries=4, show_spinner="Reading the clip ...")
def folder_clip(path: str, clip_name: str, stamp: str) -> tuple[Clip, str]:
    clip = sources.load_dataset_clip(path, clip_name)
    return clip, sources.clip_digest(clip)


# --- predictions -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """One method's labels for every frame of the clip and its per-frame table.

    `table` columns: frame, method, is_key, key_index, distance, miou (% or NaN), model_ms, e2e_ms,
    segment_ms, propagate_ms, flow_ms (NaN where a method has no such part).
    """

    method: str
    labels: np.ndarray
    table: pd.DataFrame


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@st.cache_resource
def _store() -> _LRU:
    """Predictions and diagnostics of every session, keyed by content (see the module docstring)."""
    return _LRU(96)


def _key(s: Settings, *parts) -> tuple:
    return (s.model, s.model_id, s.device, s.digest, s.interval, *parts)


def stop_requested() -> bool:
    return bool(st.session_state.get(STOP, False))


def _request_stop() -> None:
    st.session_state[STOP] = True


def _resume() -> None:
    st.session_state[STOP] = False


def stop_button(key: str) -> None:
    """The Stop button shown above a running loop (see the module docstring)."""
    st.button("Stop", key=key, on_click=_request_stop, help="Interrupts after the current frame")


def stopped_notice(what: str) -> None:
    st.warning(f"Stopped: {what} not computed. Results finished before stopping are kept.")
    st.button("Resume", key=f"resume_{what}", on_click=_resume, type="primary")


def _frame_row(r: FrameResult, name: str, clip: Clip, scored: bool, ncls: int) -> dict:
    t = r.timings
    ms = {
        k: 1000 * t[k] if k in t else np.nan
        for k in ("model_s", "e2e_s", "segment_s", "propagate_s", "flow_s")
    }
    miou = np.nan
    if scored and clip.labelled[r.index]:
        miou = 100.0 * frame_miou(r.labels, clip.labels[r.index], ncls)
    row = {"frame": r.index, "method": name, "is_key": r.is_key, "key_index": r.key_index}
    row.update(distance=r.distance, miou=miou)
    row.update({k.replace("_s", "_ms"): v for k, v in ms.items()})
    return row


def predictions(s: Settings, names: Iterable[str]) -> dict[str, Prediction]:
    """Predictions of `names` on the clip: cached ones at once, the rest computed with a progress bar.

    Returns the methods that are ready (all of them unless the user pressed Stop).
    """
    names = list(names)
    store = _store()
    missing = [m for m in names if _key(s, "pred", m) not in store]
    if missing and not stop_requested():
        _compute(s, missing, store)
    elif missing:
        stopped_notice("predictions of " + ", ".join(missing))
    return {m: store[_key(s, "pred", m)] for m in names if _key(s, "pred", m) in store}


def _compute(s: Settings, missing: list[str], store: _LRU) -> None:
    clip, total = s.clip, len(missing) * s.clip.num_frames
    box = st.empty()
    with box.container():
        bar = st.progress(0.0, text="Starting ...")
        stop_button(f"stop_pred_{'_'.join(missing)}")
    done = 0
    ncls = num_classes(s)
    for name in missing:
        m = method(s, name)
        labels, rows = [], []
        for r in m.run(clip.frames, FixedInterval(s.interval)):
            labels.append(r.labels)
            rows.append(_frame_row(r, name, clip, s.scored, ncls))
            done += 1
            # the update is where a Stop click interrupts the run (between two frames)
            bar.progress(done / total, text=f"{name}: frame {r.index + 1}/{clip.num_frames} (K={s.interval})")
        store.put(_key(s, "pred", name), Prediction(name, np.stack(labels), pd.DataFrame(rows)))
    box.empty()


def frame_diagnostics(s: Settings, name: str, index: int) -> FrameResult:
    """Every diagnostic of frame `index` predicted by `name` (masks, flows, frame flow, attention).

    Methods propagate directly from the key frame (never frame to frame), so running the method on
    [key frame, frame] gives exactly the frame's prediction in the full clip.
    """
    store = _store()
    key = _key(s, "diag", name, index)
    if key not in store:
        k = FixedInterval(s.interval).key_of(index)
        frames = s.clip.frames[[k, index]] if k != index else s.clip.frames[[index]]
        with st.spinner(f"{name}: flows and attention of frame {index} ..."):
            results = list(method(s, name).run(frames, FixedInterval(2), diagnostics=True))
        r = results[-1]
        r.index, r.key_index = index, k
        store.put(key, r)
    return store[key]
