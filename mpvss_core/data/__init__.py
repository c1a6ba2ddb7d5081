"""Clips and the built-in benchmark: the `Clip` every source becomes, the procedural street-scene renderer
with pixel-exact labels and exact optical flow, the split writer, and the readers of every source.

- `clip.py`: `Clip` (frames, optional labels, exact flow when the source has it, notes).
- `synthetic.py`: the benchmark's splits (`SPLITS`) and `render_clip`; `render.py`, `scene*.py`,
  `camera.py`, `layers.py`, `textures.py`, `street_furniture.py`: the renderer behind it.
- `writer.py`: a split written in the VSPW layout (`mpvss data synth`); `preview.py`: the preview image.
- `readers/`: VSPW and Cityscapes roots, clip and frames folders, zips and videos, each read into a `Clip`.

No torch here: data is numpy in, numpy out.
"""
