"""The fast path's semantic step, by cells vs pixel by pixel (prints figures; asserts nothing).

    python benchmarks/semantic_cells.py [--model default] [--clips 2] [--interval 5] [--rounds 5]
                                        [--threads 1]

For the key frames and the non-key frames of `query_flow` on the first val clips: the share of 4x4
cells that `semantic_labels` decides from the bounds of their corners alone, the milliseconds of the
cell path and of the pixel-by-pixel path on the same inputs (interleaved, median), and how many
pixels either differs from the reference path's argmax (`semantic_inference` -> `argmax`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.modeling.semantic import decided_fraction, semantic_inference, semantic_labels
from mpvss_core.spec import resolve_model


def frame_tensor(frame) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = resolve_model(args.model).load("query_flow").eval()
    rows: dict[str, dict[str, list[float]]] = {}
    for entry in resolve_data(args.data, max_clips=args.clips).entries:
        clip = entry.load()
        size = clip.frames.shape[1:3]
        for t in range(clip.num_frames):
            k = t - t % args.interval
            with torch.no_grad():
                key = model.segment_key(frame_tensor(clip.frames[k]))
                if t == k:
                    kind, logits = "key", key.key_prediction
                else:
                    prop = model.propagate(key, frame_tensor(clip.frames[t]))
                    kind, logits = "non-key", (prop.class_logits, prop.mask_logits)
            parts = [(logits[0], logits[1], 1.0)]
            ref = semantic_inference(logits[0], logits[1], size).argmax(1)
            row = rows.setdefault(kind, {k: [] for k in ("decided", "cells", "pixels", "diff_c", "diff_p")})
            row["decided"].append(decided_fraction(parts, size))
            row["diff_c"].append(int((semantic_labels(parts, size).long() != ref).sum()))
            row["diff_p"].append(int((semantic_labels(parts, size, cells=False).long() != ref).sum()))
            for _ in range(args.rounds):
                for name, cells in (("cells", True), ("pixels", False)):
                    t0 = time.perf_counter()
                    semantic_labels(parts, size, cells=cells)
                    row[name].append(time.perf_counter() - t0)
    print(f"model {args.model}, {args.clips} clip(s), K={args.interval}, {args.threads} thread(s)")
    print(f"{'frames':<8} {'n':>4} {'decided cells':>14} {'cells ms':>9} {'pixels ms':>10} {'speed-up':>9} "
          f"{'px != ref (cells / pixels)':>27}")  # fmt: skip
    for kind, r in rows.items():
        c, p = statistics.median(r["cells"]) * 1e3, statistics.median(r["pixels"]) * 1e3
        print(
            f"{kind:<8} {len(r['decided']):>4} {100 * statistics.mean(r['decided']):>13.1f}% {c:>9.2f} "
            f"{p:>10.2f} {p / c:>8.2f}x {sum(r['diff_c']):>13} / {sum(r['diff_p'])}"
        )


if __name__ == "__main__":
    main()
