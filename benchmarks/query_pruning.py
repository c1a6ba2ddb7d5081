"""Query pruning (beyond the paper): how many queries survive, the speed-up, the mIoU change (prints
figures; asserts nothing).

    python benchmarks/query_pruning.py [--model default] [--method query_flow] [--clips 4]
                                       [--thresholds 0,0.001,0.003,0.01,0.03] [--threads 1]

For each threshold the method is evaluated on the first `--clips` val clips at `--interval` K (no
cache, no EPE, no TC): mIoU and its change against threshold 0 (no pruning), the queries propagated per
non-key frame (of Q), the median non-key latency and the non-key / key latency ratio. Key frames are
never pruned (every method keeps the same key frames).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch

from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.evaluation.evaluate import evaluate
from mpvss_core.methods.propagator import Propagator
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--method", default="query_flow")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--thresholds", default="0,0.001,0.003,0.01,0.03")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = resolve_model(args.model)
    data = resolve_data(args.data, max_clips=args.clips)
    kept: list[int] = []
    original = Propagator.kept_queries

    def counting(self, key, diag):
        keep = original(self, key, diag)
        kept.append(self.model.segmenter.num_queries if keep is None else len(keep))
        return keep

    Propagator.kept_queries = counting
    rows = []
    try:
        for threshold in (float(t) for t in args.thresholds.split(",")):
            kept.clear()
            predictor = VideoPredictor(
                spec, args.method, device=args.device, prune=threshold, share_keys=False
            )
            s = evaluate(predictor, data, args.interval, flow_epe_metric=False, tc=False, costs=False).summary
            rows.append((threshold, s["miou"], float(np.mean(kept)) if kept else float("nan"),
                         s["latency_nonkey_ms"], s["nonkey_key_latency_ratio"]))  # fmt: skip
    finally:
        Propagator.kept_queries = original
    q = spec.config(args.method).segmenter.num_queries
    threads = torch.get_num_threads()
    print(f"{args.method} on {data.describe()}, K={args.interval}, {args.device}, {threads} threads")
    print(f"{'threshold':>9} {'mIoU':>7} {'change':>7} {'queries':>9} {'non-key ms':>10} {'nk/k':>6}")
    base = rows[0][1]
    for threshold, miou, queries, nk_ms, ratio in rows:
        change = miou - base
        cells = f"{threshold:9.4f} {miou:7.2f} {change:+7.2f} {queries:6.1f}/{q:<2d}"
        print(f"{cells} {nk_ms:10.1f} {ratio:6.3f}")
    print(f"median non-key latency over the thresholds: {statistics.median(r[3] for r in rows):.1f} ms")


if __name__ == "__main__":
    main()
