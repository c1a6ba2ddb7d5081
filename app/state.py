"""Session state and caching of the app: the current settings, cached predictors and clips, the
predictions of the clip, per-frame diagnostics, and the Stop flag of long work.

The app keeps no scoring code: a method's predictions on the clip ARE an evaluation
(`mpvss_core.evaluation.runner.run_evaluation` with `keep_labels`), scored by the library's scorer and
written to the results store under the same key the Key-frame interval and Video consistency pages
read, so one (model, clip, method, K) is computed once for every page and every session.

Caching (all keyed by content, so nothing stale is ever shown):
- models: `st.cache_resource` keyed on the content identity of the model a method runs
  (`ModelSpec.method_identity`: weights and config hashes, and the key heads) and the device, so the
  methods that run only the segmenter (per_frame, copy, optical_flow, bi_optical_flow) share ONE
  loaded copy; predictors (cheap: a propagator around a cached model) per identity, method and device;
- the resolved model itself survives reruns in `mpvss_core.spec` (re-read only when a file changes);
- clips: `st.cache_resource` keyed on the source (seed and size, upload bytes hash, folder stamp);
- predictions (labels + evaluation): a process-wide LRU keyed on (model identity, clip content hash,
  method, K); a run that is stopped half-way stores nothing;
- random access to one frame: one `VideoState` per (model, clip, method, K) keeps its key frames.

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
from mpvss_core.evaluation.datasets import DataSet
from mpvss_core.evaluation.evaluate import choose_reference
from mpvss_core.evaluation.runner import run_evaluation
from mpvss_core.evaluation.scorer import Reference
from mpvss_core.evaluation.store import EvalResult, ResultStore
from mpvss_core.frame_result import FrameResult
from mpvss_core.labels import generic_class_names, palette_for
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.predictor import VideoPredictor, VideoState
from mpvss_core.schedules import FixedInterval, ScheduleSpec
from mpvss_core.spec import ModelSpec

STOP = "stop"
_SETTINGS = "_settings"


@dataclass
class Settings:
    """What the sidebar chose; every page reads it with `settings()`.

    Attributes:
        spec: the resolved model (resolved once per run, by the sidebar).
        schedule: the key-frame schedule of the clip (which frames are key frames).
    """

    spec: ModelSpec
    device: str
    clip: Clip
    digest: str
    interval: int
    methods: list[str]
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def available(self) -> list[str]:
        return self.spec.methods

    @property
    def schedule(self) -> FixedInterval:
        return FixedInterval(self.interval)

    @property
    def random_weights(self) -> bool:
        return self.spec.random_init

    @property
    def reference(self) -> Reference:
        """What the clip's predictions are scored against: its ground truth (classes matched by name)
        when it has some in the model's label space, else the per-frame prediction (no ground truth)."""
        return choose_reference("auto", self.clip, self.spec.class_names)

    @property
    def has_ground_truth(self) -> bool:
        return self.reference.kind == "labels"

    @property
    def label_space_matches(self) -> bool:
        """The clip's labels are in exactly the model's label space (same names, same order)."""
        return self.spec.class_names == self.clip.class_names

    @property
    def class_names(self) -> tuple[str, ...]:
        """The names scores are reported in (the data's when scored against its labels)."""
        return self.reference.class_names

    @property
    def model_class_names(self) -> tuple[str, ...]:
        return self.spec.class_names or generic_class_names(self.spec.num_classes)

    @property
    def palette(self) -> np.ndarray:
        """Colours of the model's classes (predictions are drawn in them)."""
        return self.clip.palette if self.label_space_matches else palette_for(self.model_class_names)


def set_settings(s: Settings) -> None:
    st.session_state[_SETTINGS] = s


def settings() -> Settings:
    """The settings of this run (set by the sidebar in `streamlit_app.py` before the page runs)."""
    return st.session_state[_SETTINGS]


# --- cached loaders ------------------------------------------------------------------------------------
@st.cache_resource(max_entries=8, show_spinner="Loading model ...")
def _model(identity: str, device: str, _spec: ModelSpec, _method: str) -> MPVSS:
    """The loaded model of content `identity` (any method that runs it loads the same one)."""
    return _spec.load(_method, device=device)


@st.cache_resource(max_entries=24)
def _predictor(identity: str, method: str, device: str, _spec: ModelSpec) -> VideoPredictor:
    return VideoPredictor(_spec, method, device=device, model=_model(identity, device, _spec, method))


def predictor(s: Settings, method: str) -> VideoPredictor:
    """The predictor of `method` for the current model (shared by all sessions; inference only)."""
    return _predictor(s.spec.method_identity(method), method, s.device, s.spec)


@st.cache_resource(max_entries=4, show_spinner="Rendering the built-in clip ...")
def synthetic_clip(seed: int, frames: int, size: tuple[int, int]) -> tuple[Clip, str]:
    clip = sources.synthetic_clip(seed, frames, size)
    return clip, sources.clip_digest(clip)


@st.cache_resource(max_entries=4, show_spinner="Decoding the upload ...")
def upload_clip(name: str, data_hash: str, _data: bytes, caps: tuple[int, int]) -> tuple[Clip, str]:
    limits = sources.upload_limits(*caps)
    clip = sources.load_upload(name, _data, sources.profile().data_dir / "uploads", limits)
    return clip, sources.clip_digest(clip)


@st.cache_resource(max_entries=4, show_spinner="Reading the clip ...")
def folder_clip(path: str, clip_name: str, stamp: str, caps: tuple[int, int]) -> tuple[Clip, str]:
    clip = sources.load_dataset_clip(path, clip_name, sources.upload_limits(*caps))
    return clip, sources.clip_digest(clip)


# --- predictions -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """One method's labels for every frame of the clip, and its evaluation (`EvalResult`).

    `table`: the evaluation's per-frame rows with a `method` column and the timings in ms
    (`model_ms`, `e2e_ms`, `segment_ms`, `propagate_ms`, `flow_ms`; NaN where a method has no part).
    """

    method: str
    labels: np.ndarray
    result: EvalResult

    @property
    def table(self) -> pd.DataFrame:
        t = self.result.per_frame.copy()
        t.insert(1, "method", self.method)
        for col in [c for c in t.columns if c.endswith("_s")]:
            t[col[:-2] + "_ms"] = 1000.0 * t.pop(col)
        return t


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
    """Predictions and frame states of every session, keyed by content (see the module docstring)."""
    return _LRU(96)


def clip_dataset(s: Settings) -> DataSet:
    """The clip as a one-clip DataSet whose identity is its content hash (results-store keys)."""
    return DataSet.from_clip(s.clip, s.digest)


def _key(s: Settings, method: str, *parts) -> tuple:
    return (s.spec.method_identity(method), s.device, s.digest, s.interval, method, *parts)


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


def predictions(s: Settings, names: Iterable[str]) -> dict[str, Prediction]:
    """Predictions of `names` on the clip: cached ones at once, the rest computed with a progress bar.

    Returns the methods that are ready (all of them unless the user pressed Stop).
    """
    names = list(names)
    store = _store()
    missing = [m for m in names if _key(s, m, "pred") not in store]
    if missing and not stop_requested():
        _compute(s, missing, store)
    elif missing:
        stopped_notice("predictions of " + ", ".join(missing))
    return {m: store[_key(s, m, "pred")] for m in names if _key(s, m, "pred") in store}


def _compute(s: Settings, missing: list[str], store: _LRU) -> None:
    clip, total = s.clip, len(missing) * s.clip.num_frames
    box = st.empty()
    with box.container():
        bar = st.progress(0.0, text="Starting ...")
        stop_button(f"stop_pred_{'_'.join(missing)}")
    done = [0]
    data = clip_dataset(s)
    for name in missing:

        def progress(r: FrameResult, _clip_no: int, name: str = name) -> None:
            done[0] += 1
            # the update is where a Stop click interrupts the run (between two frames)
            bar.progress(
                done[0] / total, text=f"{name}: frame {r.index + 1}/{clip.num_frames} (K={s.interval})"
            )

        result = run_evaluation(
            s.spec,
            data,
            name,
            ScheduleSpec(s.interval),
            device=s.device,
            store=ResultStore(),  # the CLI's store ($MPVSS_RESULTS): evaluations are shared with it
            flow_epe=False,
            on_frame=progress,
            keep_labels=True,
            predictor=predictor(s, name),
        )
        labels = (result.labels or {})[clip.name]
        store.put(_key(s, name, "pred"), Prediction(name, labels, result))
    box.empty()


def frame_diagnostics(s: Settings, name: str, index: int) -> FrameResult:
    """Every diagnostic of frame `index` predicted by `name` (masks, flows, frame flow, attention).

    Random access through the predictor: exactly the frame's result in the streamed clip, for every
    method (bi-directional ones fuse the next key frame as in the stream); key frames are segmented
    once per clip and kept in the frame state.
    """
    store = _store()
    key = _key(s, name, "diag", index)
    if key not in store:
        p = predictor(s, name)
        state_key = _key(s, name, "state")
        if state_key not in store:
            store.put(state_key, p.init_video(s.clip, s.schedule))
        video: VideoState = store[state_key]
        with st.spinner(f"{name}: flows and attention of frame {index} ..."):
            store.put(key, p.predict_frame(video, index, diagnostics=True))
    return store[key]
