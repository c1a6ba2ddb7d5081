"""Speed of every propagation method on one clip, in one run (prints figures; asserts nothing).

    python benchmarks/methods_speed.py [--model tiny] [--data synthetic:val] [--interval 5]
                                       [--frames 30] [--rounds 3] [--warmup 1] [--threads N] [--methods a,b]

The timing protocol is the library's (`mpvss_core.evaluation.timing.method_speeds`, the one the app's
Efficiency page runs): every workload warmed up untimed, then `--rounds` interleaved rounds over the
methods (each round starts one method later), the median of the rounds, their min..max shown beside
it, and the conditions printed (device, torch threads, CPU count, load average before / after). Key-
frame latency is measured once per segmenter (methods that key-frame with the same segmenter share
it); a method's own run, on the first K+1 frames of the clip (the first of `--data`, cut to
`--frames`), times its non-key frames. FPS at K = K / (key + (K-1) * non-key), from model time
(segmenter / flow / warping / semantic inference, synchronised on CUDA; excludes decoding), round by
round. "x per_frame" is that FPS over per_frame's; "x own keys" = K * key / (key + (K-1) * non-key)
from the medians. A method whose FPS range overlaps another's is marked "~" (within noise), and
every figure is when the load average exceeded the CPU count. GFLOPs (fvcore, K-average) come from
`mpvss_core.evaluation.costs`. Random weights are fine: costs do not depend on the values. Every
method runs through its `VideoPredictor`.
"""

from __future__ import annotations

import argparse
import sys

import torch

from mpvss_core.evaluation.costs import method_gflops
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.evaluation.timing import method_speeds
from mpvss_core.methods import ALL_METHODS, parse_methods
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--data", default="synthetic:val", help="the first clip of this is used")
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs of every workload first")
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

    def step(done: int, total: int, name: str) -> None:
        print(f"\r  run {done + 1}/{total}: {name:<24}", end="", file=sys.stderr, flush=True)

    report = method_speeds(
        methods,
        frames,
        args.interval,
        args.rounds,
        args.warmup,
        batch_segment=args.batch_segment,
        on_step=step,
    )
    print(file=sys.stderr)

    size = frames.shape[1:3]
    print(
        f"clip {clip.name}: {report.frames} of {len(frames)} frames timed per run at {size[0]}x{size[1]}, "
        f"K={args.interval}, model {args.model}"
        + (", segments batched (offline)" if args.batch_segment else ", latency mode (batch 1)")
        + (f", query pruning {args.prune:g}" if args.prune else "")
    )
    print(f"conditions: {report.conditions.describe()}, torch {torch.__version__}")
    if report.conditions.loaded:
        print("LOADED: the load average exceeded the CPU count; every figure is within noise")
    for label, members in report.segmenters.items():
        print(f"{label}: key frames of {', '.join(members)}")
    head = (
        f"{'method':<18} {'FPS':>7} {'FPS min..max':>15} {'x per_frame':>11} {'x own keys':>10} "
        f"{'key ms':>8} {'non-key ms':>10} {'non-key/key':>11} {'GFLOPs avg':>10}  within noise of"
    )
    print(head)
    print("-" * len(head))
    base = report.rows["per_frame"].fps.median
    k = args.interval
    for n, row in report.rows.items():
        g = method_gflops(methods[n].model, n, tuple(size), k)["gflops_avg"]
        key = row.key_ms.median
        ratio = row.nonkey_ms.median / key if row.nonkey_ms is not None else float("nan")
        own = k / (1 + (k - 1) * ratio) if row.nonkey_ms is not None else 1.0
        nonkey = f"{row.nonkey_ms.median:>10.1f}" if row.nonkey_ms is not None else f"{'-':>10}"
        gtxt = "n/a (DIS)" if g is None else f"{g:.3f}"
        spread = f"{row.fps.low:.2f}..{row.fps.high:.2f}"
        noise = report.within_noise(n)
        print(
            f"{n:<18} {row.fps.median:>7.2f} {spread:>15} {row.fps.median / base:>11.2f} {own:>10.2f} "
            f"{key:>8.1f} {nonkey} {ratio:>11.3f} {gtxt:>10}  {'~ ' + ', '.join(noise) if noise else ''}"
        )


if __name__ == "__main__":
    main()
