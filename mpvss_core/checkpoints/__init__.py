"""Checkpoint formats: how a model is stored on disk (safetensors + JSON, never pickle).

- `checkpoint`: one full checkpoint folder (`model.safetensors` + `config.json` with the config and the
  record of the trained parts), `build_model` for models built from a preset, and local Hugging Face
  Mask2Former folders used as a segmenter;
- `bundle`: the model bundle (`bundle.json`): one stage-0 segmenter checkpoint plus a partial
  checkpoint (flow module and heads) per trained variant.

Which string names which folder, and which method runs with which files, is `mpvss_core.spec`'s job.
"""
