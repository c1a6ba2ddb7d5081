"""Training: stage 0 (the per-frame segmenter) and stage 1 (the flow module), used by `mpvss train`.

Modules: `data` (frames / pairs, augmentation), `loop` (optimizer, schedule, AMP, checkpoints, log),
`state` (resumable checkpoints), `validate` (progress mIoU; torchrun / DDP: `mpvss_core.distributed`),
`segmenter` (stage 0), `flow` (stage 1), `export` (model bundles with provenance).
"""
