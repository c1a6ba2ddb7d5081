"""Speed of every propagation method on one clip, in one run (prints figures; asserts nothing).

    python benchmarks/methods_speed.py [--model tiny] [--data synthetic:val] [--interval 5]
                                       [--frames 30] [--rounds 2] [--threads N] [--methods a,b]

Each method runs the same clip (the first of `--data`, cut to `--frames`) at batch 1 with
`--interval` K, after an untimed warm-up on its first K+1 frames. Timed figures: FPS from model time
(segmenter / flow / warping / semantic inference, synchronised on CUDA; excludes decoding), FPS end to
end (wall time of the whole run: reading the in-memory frames, model, results to numpy), the ratio to
per_frame's model FPS, median key and non-key latencies and their ratio, and the speed-up over per-frame
inference from the method's own key and non-key latencies, K * key / (key + (K-1) * non-key): per_frame
runs the same segmenter on every frame, so this needs no second run and is free of the run-to-run noise
of a shared machine (the plain FPS ratio compares two runs). With `--rounds R` the
methods are run round-robin R times and the median of the rounds is kept, which evens out the load of
a shared machine. GFLOPs (fvcore, K-average) come from `mpvss_core.evaluation.costs`. Random weights
are fine: costs do not depend on the values. Every method runs through its `VideoPredictor`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mpvss_core.evaluation.costs import device_description, method_gflops
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.methods import ALL_METHODS, parse_methods
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model


def timed_run(predictor: VideoPredictor, frames, interval: int, batch: bool = False) -> dict[str, float]:
    warm = predictor.init_video(frames[: interval + 1], interval)
    list(predictor.propagate(warm, batch_segment=batch))  # warm-up
    t0 = time.perf_counter()
    results = list(predictor.propagate(predictor.init_video(frames, interval), batch_segment=batch))
    wall = time.perf_counter() - t0
    model = [r.timings["model_s"] for r in results]
    key = [r.timings["model_s"] for r in results if r.is_key]
    nonkey = [r.timings["model_s"] for r in results if not r.is_key]
    return {
        "fps": len(results) / sum(model),
        "fps_e2e": len(results) / wall,
        "key_ms": 1000 * statistics.median(key),
        "nonkey_ms": 1000 * statistics.median(nonkey) if nonkey else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--data", default="synthetic:val", help="the first clip of this is used")
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--batch-segment", action="store_true", help="offline mode: a segment as one batch")
    ap.add_argument("--prune", type=float, default=0.0, help="query pruning threshold (0: off)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = parse_methods(args.methods)
    if "per_frame" not in names:
        names.insert(0, "per_frame")

    spec = resolve_model(args.model)
    names = [n for n in names if spec.can_run(n)]
    clip = next(resolve_data(args.data, max_clips=1).clips())
    frames = clip.frames[: args.frames]
    methods = {
        n: VideoPredictor(spec, n, device=args.device, prune=args.prune, share_keys=False) for n in names
    }
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            runs[n].append(timed_run(methods[n], frames, args.interval, args.batch_segment))
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}

    size = frames.shape[1:3]
    print(
        f"clip {clip.name}: {len(frames)} frames at {size[0]}x{size[1]}, K={args.interval}, "
        f"model {args.model}, median of {args.rounds} round(s)"
        + (", segments batched (offline)" if args.batch_segment else ", latency mode (batch 1)")
        + (f", query pruning {args.prune:g}" if args.prune else "")
    )
    print(f"device: {device_description(args.device)}, torch {torch.__version__}")
    head = (
        f"{'method':<18} {'FPS':>7} {'x per_frame':>11} {'x own keys':>10} {'FPS e2e':>8} {'key ms':>8} "
        f"{'non-key ms':>10} {'non-key/key':>11} {'GFLOPs avg':>10}"
    )
    print(head)
    print("-" * len(head))
    base = med["per_frame"]["fps"]
    for n in names:
        m = med[n]
        g = method_gflops(methods[n].model, n, tuple(size), args.interval)["gflops_avg"]
        ratio = m["nonkey_ms"] / m["key_ms"] if n != "per_frame" else float("nan")
        k = args.interval
        own = k / (1 + (k - 1) * ratio) if n != "per_frame" else 1.0
        gtxt = "n/a (DIS)" if g is None else f"{g:.3f}"
        print(
            f"{n:<18} {m['fps']:>7.2f} {m['fps'] / base:>11.2f} {own:>10.2f} {m['fps_e2e']:>8.2f} "
            f"{m['key_ms']:>8.1f} {m['nonkey_ms']:>10.1f} {ratio:>11.3f} {gtxt:>10}"
        )


if __name__ == "__main__":
    main()
