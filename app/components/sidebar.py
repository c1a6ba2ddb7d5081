"""The sidebar shared by every page: model, device, clip source, key-frame interval K, methods.

The model string is resolved here, once per run (`mpvss_core.spec.resolve_model`, which reads a folder
again only when one of its files changed); every page gets the resulting ModelSpec in the settings.
Every bad choice (missing folder, unusable checkpoint, corrupt upload) becomes an error message on the
page and a fallback (the profile's model, the built-in clip), so the app keeps working.
"""

from __future__ import annotations

import hashlib

import streamlit as st
import torch

from app import sources, state
from mpvss_core.data.readers.common import MiB
from mpvss_core.errors import InputError
from mpvss_core.methods import METHODS
from mpvss_core.spec import DEFAULT_MODEL, ModelSpec, resolve_model, shipped_models

MODEL_CHOICES = {
    "default": "Shipped model (assets/models/default)",
    "tiny": "Tiny preset - RANDOM weights (shapes and costs only)",
    "folder": "Checkpoint / bundle / HF Mask2Former folder",
}


def model_choices() -> dict[str, str]:
    """The model radio's options: the shipped bundle, any other bundle in assets/models, tiny, a folder."""
    others = {n: f"Bundle '{n}' (assets/models/{n})" for n in shipped_models() if n != DEFAULT_MODEL}
    first = {"default": MODEL_CHOICES["default"]}
    return {**first, **others, **{k: v for k, v in MODEL_CHOICES.items() if k not in first}}


SOURCES = ("Built-in clip", "Upload", "Dataset folder")
STAGE0_SWITCH = "Key frames: stage-0 heads (not the paper's recipe)"  # the page banner names it


def _model(errors: list[str]) -> ModelSpec:
    prof = sources.profile()
    labels = model_choices()
    choices = list(labels)
    initial = prof.model if prof.model in choices else "folder"
    if "model_path" not in st.session_state and initial == "folder":
        st.session_state["model_path"] = prof.model
    choice = st.sidebar.radio(
        "Model", choices, index=choices.index(initial), format_func=labels.get, key="model_choice"
    )
    text = choice
    allow = False
    if choice == "folder":
        text = st.sidebar.text_input("Model folder", key="model_path", placeholder="runs/flow/last").strip()
        allow = st.sidebar.checkbox(
            "Also offer untrained flow modules",
            key="allow_untrained",
            help="A checkpoint whose flow module was never trained (e.g. stage 0) normally offers only the "
            "segmenter-only methods; with this, its learned methods run and every page marks them.",
        )
        if not text:
            errors.append("Enter a model folder, or choose another model. Using the default model meanwhile.")
            return resolve_model(prof.model)
    try:
        spec = resolve_model(text, allow_untrained=allow)
        if not spec.methods:
            raise InputError(f"model {text!r} can run no method")
        if spec.kind == "bundle" and st.sidebar.checkbox(
            STAGE0_SWITCH,
            key="key_heads_stage0",
            help="Stage 1 retrains the class and mask heads with the flow module, which costs key frames "
            "accuracy. With this, learned methods segment key frames with the segmenter's own decoder "
            "and heads (exactly per_frame there; one more decoder pass per key frame) and still "
            "propagate the retrained heads' masks to the frames in between.",
        ):
            spec = spec.with_key_heads("stage0")  # a transform of the resolved spec: nothing is read
    except InputError as exc:
        errors.append(f"Model not usable: {exc}. Using {prof.model!r} instead.")
        return resolve_model(prof.model)
    return spec


def _caps() -> tuple[int, int]:
    """The user's caps on frames and resolution (raise them on a GPU), within the server's maximums."""
    top_frames, top_side = sources.server_caps()
    base = sources.UPLOAD_LIMITS
    with st.sidebar.expander("Caps on frames and resolution"):
        frames = st.number_input("First N frames", 2, top_frames, base.max_frames, key="cap_frames")
        side = st.number_input(
            "Longer side (px) given to the model", 64, top_side, base.max_side, key="cap_side"
        )
        st.caption(
            f"Server maximums: {top_frames} frames, {top_side} px, {base.max_file_bytes // MiB} MiB a file, "
            f"zips up to {base.max_zip_files} files. Labels keep their resolution: predictions are scored "
            "at the labels' size."
        )
    return int(frames), int(side)


def _clip(errors: list[str]):
    prof = sources.profile()
    source = st.sidebar.radio("Clip", SOURCES, key="source", horizontal=True)
    try:
        if source == "Upload":
            caps = _caps()
            up = st.sidebar.file_uploader(
                "Video or zip of frames (optional label PNGs in labels/)",
                type=sorted(e.lstrip(".") for e in sources.UPLOAD_EXTS),
                key="upload",
            )
            if up is not None:
                data = up.getvalue()
                return state.upload_clip(up.name, hashlib.sha256(data).hexdigest(), data, caps)
            st.sidebar.info("No file yet: showing the built-in clip.")
        elif source == "Dataset folder":
            path = st.sidebar.text_input(
                "Folder (VSPW or Cityscapes root, videos or frame folders, a video or zip)", key="data_path"
            )
            caps = _caps()
            if path.strip():
                names = sources.dataset_clips(path.strip())
                name = st.sidebar.selectbox("Clip of the folder", names, key="data_clip")
                stamp = sources.clip_stamp(path.strip(), name)
                return state.folder_clip(path.strip(), name, stamp, caps)
    except InputError as exc:
        errors.append(f"Clip not usable: {exc}. Showing the built-in clip instead.")
    seeds = sources.demo_seeds()
    seed = (
        st.sidebar.selectbox("Built-in clip (synthetic val seed)", seeds, key="seed")
        if source == SOURCES[0]
        else seeds[0]
    )
    return state.synthetic_clip(seed, prof.frames, prof.size)


def _methods(spec: ModelSpec) -> list[str]:
    available = spec.methods
    default = [m for m in sources.DEMO_METHODS if m in available] or available[:2]
    # set through session_state (not `default=`): a model change may remove methods the user had picked
    kept = [m for m in st.session_state.get("methods", default) if m in available]
    st.session_state["methods"] = kept if "methods" not in st.session_state or kept else default
    chosen = st.sidebar.multiselect("Methods", available, key="methods")
    missing = [m for m in METHODS if m not in available]
    if missing:
        st.sidebar.caption("Unavailable with this model: " + ", ".join(missing))
        with st.sidebar.expander("Why"):
            for m in missing:
                st.caption(f"**{m}**: {spec.unavailable.get(m, 'not available')}")
    return chosen


def render() -> state.Settings:
    """Draw the sidebar and return the settings every page uses."""
    errors: list[str] = []
    st.sidebar.header("Settings")
    spec = _model(errors)
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    device = st.sidebar.selectbox("Device", devices, key="device")
    clip, digest = _clip(errors)
    interval = st.sidebar.slider(
        "Key-frame interval K", 2, 15, 4 if sources.profile().test else 5, key="interval"
    )
    methods = _methods(spec)
    if not methods:
        errors.append("Choose at least one method in the sidebar.")
    s = state.Settings(spec, device, clip, digest, interval, methods, notes=list(clip.notes), errors=errors)
    ref = s.reference
    if clip.labels is not None and ref.kind == "per_frame":
        s.notes.append(
            f"The clip's labels share no class name with the model's {spec.num_classes} classes: every "
            "score is against the model's own per-frame prediction."
        )
    elif ref.match is not None:
        m = ref.match
        s.notes.append(
            f"The clip's labels and the model's classes are matched by name ({len(m.matched)} classes); "
            f"not in the clip: {', '.join(m.unmatched_model) or 'none'}; unknown to the model (not scored): "
            f"{', '.join(m.unmatched_data) or 'none'}."
        )
    return s
