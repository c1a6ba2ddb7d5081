"""Speed of every propagation method on one clip, in one run (prints figures; asserts nothing).

    python benchmarks/methods_speed.py [--model tiny] [--data synthetic:val] [--interval 5]
                                       [--frames 30] [--rounds 2] [--threads N] [--methods a,b]

Each method runs the same clip (the first of `--data`, cut to `--frames`) at batch 1 with
`--interval` K, after an untimed warm-up on its first K+1 frames. Timed figures: FPS from model time
(segmenter / flow / warping / semantic inference, synchronised on CUDA; excludes decoding), FPS end to
end (wall time of the whole run: reading the in-memory frames, model, results to numpy), the ratio to
per_frame's model FPS, median key and non-key latencies and their ratio. With `--rounds R` the
methods are run round-robin R times and the median of the rounds is kept, which evens out the load of
a shared machine. GFLOPs (fvcore, K-average) come from `mpvss_core.costs`. Random weights are fine:
costs do not depend on the values.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mpvss_core.costs import device_description, method_gflops
from mpvss_core.eval_data import resolve_data
from mpvss_core.methods import METHODS, load_method
from mpvss_core.schedules import FixedInterval


def timed_run(method, frames, interval: int) -> dict[str, float]:
    list(method.run(frames[: interval + 1], FixedInterval(interval)))  # warm-up
    t0 = time.perf_counter()
    results = list(method.run(frames, FixedInterval(interval)))
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
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [n for n in args.methods.split(",") if n]
    if "per_frame" not in names:
        names.insert(0, "per_frame")

    clip = next(resolve_data(args.data, max_clips=1).clips())
    frames = clip.frames[: args.frames]
    methods = {n: load_method(n, args.model, device=args.device) for n in names}
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for n in names:
            runs[n].append(timed_run(methods[n], frames, args.interval))
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}

    size = frames.shape[1:3]
    print(
        f"clip {clip.name}: {len(frames)} frames at {size[0]}x{size[1]}, K={args.interval}, batch 1, "
        f"model {args.model}, median of {args.rounds} round(s)"
    )
    print(f"device: {device_description(args.device)}, torch {torch.__version__}")
    head = (
        f"{'method':<18} {'FPS':>7} {'x per_frame':>11} {'FPS e2e':>8} {'key ms':>8} {'non-key ms':>10} "
        f"{'non-key/key':>11} {'GFLOPs avg':>10}"
    )
    print(head)
    print("-" * len(head))
    base = med["per_frame"]["fps"]
    for n in names:
        m = med[n]
        g = method_gflops(methods[n], tuple(size), args.interval)["gflops_avg"]
        ratio = m["nonkey_ms"] / m["key_ms"] if n != "per_frame" else float("nan")
        gtxt = "n/a (DIS)" if g is None else f"{g:.3f}"
        print(
            f"{n:<18} {m['fps']:>7.2f} {m['fps'] / base:>11.2f} {m['fps_e2e']:>8.2f} {m['key_ms']:>8.1f} "
            f"{m['nonkey_ms']:>10.1f} {ratio:>11.3f} {gtxt:>10}"
        )


if __name__ == "__main__":
    main()
