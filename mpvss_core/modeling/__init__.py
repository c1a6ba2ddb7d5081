"""The networks, tensors only (no files, no numpy I/O): Mask2Former for the key frames and MPVSS's flow
module.

- `segmenter.py`: the key-frame segmenter (backbone, pixel decoder, transformer decoder, class and mask
  heads), and loading a Hugging Face Mask2Former's weights into it.
- `motion_encoder.py`, `motion_decoder.py`: the query-based flow module (motion encoder; flow queries,
  per-query flow heads, the pixel-wise branch and their fusion).
- `warp.py`: backward warping of key-frame mask logits by a flow; `semantic.py`: Mask2Former's semantic
  inference (upsampling, class scores, the fast 4x4-cell label path).
- `mpvss.py`: `MPVSS`, the segmenter and flow module together (key frame -> state, state -> non-key frame).
- `criterion.py`: the Mask2Former set loss; `flow_loss.py`: exact-flow supervision (our addition).
"""
