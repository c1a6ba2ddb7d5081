"""Where the fast inference path's labels differ from the reference path's (prints figures; asserts
nothing).

    python benchmarks/fast_path_labels.py [--model default] [--methods query_flow,pixel_flow]
                                          [--clips 2] [--interval 5] [--threads 1]

Both paths (`VideoPredictor(..., path="fast" | "reference")`) run every method on the first `--clips`
val clips at key interval K; per method it prints how many pixels' labels differ. The fast path is
meant to differ only where another summation order flips an exact near-tie of two classes.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model


def labels_of(predictor: VideoPredictor, frames: np.ndarray, interval: int) -> np.ndarray:
    """TxHxW uint8 labels of one clip."""
    return np.stack([r.labels for r in predictor.propagate(predictor.init_video(frames, interval))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--methods", default="per_frame,query_flow,pixel_flow,bi_pixel_flow")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = resolve_model(args.model)
    clips = list(resolve_data(args.data, max_clips=args.clips).clips())
    print(f"model {args.model}, {len(clips)} clip(s), K={args.interval}, fast vs reference path")
    for method in args.methods.split(","):
        paths = {p: VideoPredictor(spec, method, device=args.device, path=p) for p in ("fast", "reference")}
        differ = total = 0
        for clip in clips:
            fast = labels_of(paths["fast"], clip.frames, args.interval)
            ref = labels_of(paths["reference"], clip.frames, args.interval)
            differ += int((fast != ref).sum())
            total += ref.size
        print(f"{method:<18} {differ:>6} of {total:,} pixels differ ({100 * differ / total:.5f} %)")


if __name__ == "__main__":
    main()
