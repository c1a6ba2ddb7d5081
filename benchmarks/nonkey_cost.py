"""Key vs non-key frame cost of a preset: GFLOPs and measured CPU latency (prints figures; asserts nothing).

    python benchmarks/nonkey_cost.py [--preset tiny] [--size 256x512] [--runs 20] [--warmup 3] [--threads N]

Latency: batch 1, eval(), no_grad, `torch.set_num_threads` left at its default unless `--threads` is
given; each figure is the median of `--runs` timed calls after `--warmup` untimed ones. On a machine
shared with other CPU jobs, multi-threaded timings of small ops inflate badly (threads wait for each
other); `--threads 1` gives steadier figures there. Key frame = segment_key + semantic
inference; non-key frame = propagate (flow module + warping) + semantic inference. The parts of the
non-key frame are timed separately too. Random weights: costs do not depend on the values.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.evaluation.flops import frame_cost


def median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--size", default="256x512")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: untouched)")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.split("x"))

    torch.manual_seed(0)
    model = build_model(args.preset).eval()
    g = torch.Generator().manual_seed(0)
    key_img = torch.rand(1, 3, height, width, generator=g) * 255
    cur_img = torch.rand(1, 3, height, width, generator=g) * 255
    size = (height, width)

    key_cost, non_key_cost = frame_cost(model, size, "key"), frame_cost(model, size, "non_key")
    print(f"preset {args.preset}, frame {height}x{width}, batch 1")
    print(
        f"device: CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print("\nGFLOPs")
    for conv in ("fvcore", "torch"):
        k, n = key_cost.gflops(conv), non_key_cost.gflops(conv)
        print(f"  {conv:6}  key {k:8.3f}   non-key {n:8.3f}   non-key/key {n / k:.3f}")
    print(
        "  non-key parts (fvcore): " + ", ".join(f"{k} {v:.3f}" for k, v in non_key_cost.breakdown().items())
    )

    with torch.no_grad():
        key_state = model.segment_key(key_img)
        flows = model.flow(cur_img, key_img, key_state.query_features)

        def key_frame():
            k = model.segment_key(key_img)
            return model.semantic_inference(k.class_logits, k.mask_logits, size)

        def non_key_frame():
            p = model.propagate(key_state, cur_img)
            return model.semantic_inference(p.class_logits, p.mask_logits, size)

        def flow_module():
            return model.flow(cur_img, key_img, key_state.query_features)

        def warp():  # per-query backward_warp of the final-stage mask logits
            return model._warp(key_state.mask_logits, flows.flow, flows.pixel_flow)

        def semantic():
            return model.semantic_inference(key_state.class_logits, key_state.mask_logits, size)

        t_key = median_ms(key_frame, args.runs, args.warmup)
        t_non_key = median_ms(non_key_frame, args.runs, args.warmup)
        t_flow = median_ms(flow_module, args.runs, args.warmup)
        t_warp = median_ms(warp, args.runs, args.warmup)
        t_sem = median_ms(semantic, args.runs, args.warmup)

    print(f"\nCPU latency, median of {args.runs} runs after {args.warmup} warm-up (ms)")
    print(f"  key frame      {t_key:8.1f}   (segmenter + semantic inference)")
    print(f"  non-key frame  {t_non_key:8.1f}   (flow module + warping + semantic inference)")
    print(f"    flow module  {t_flow:8.1f}")
    print(f"    warping      {t_warp:8.1f}")
    print(f"    semantic inf {t_sem:8.1f}")
    print(f"  non-key/key    {t_non_key / t_key:8.3f}")
    k_avg = (t_key + 4 * t_non_key) / 5
    print(
        f"  K=5 average    {k_avg:8.1f} ms/frame = {1000 / k_avg:.1f} FPS (key only: {1000 / t_key:.1f} FPS)"
    )


if __name__ == "__main__":
    main()
