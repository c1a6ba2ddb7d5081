"""Paired per-clip mIoU differences between methods: is A better than B on these clips, or is the
difference within clip-to-clip noise? (prints figures; evaluations come from the results store, or run)

    python scripts/compare_methods.py --model default --data synthetic:val --interval 5 \\
        --pairs query_flow:pixel_flow,bi_pixel_flow:pixel_flow,query_flow:copy

A side may name another model as `method@model` (e.g. a control run exported to a side bundle:
`query_flow@/work/bundles/ctrl`). For each pair A:B it prints the dataset mIoU of both (as `mpvss
eval`), the mean of the per-clip differences A - B, its standard error over clips (std / sqrt(n))
and how many clips A wins. A difference smaller than about two standard errors cannot be told from
the clips' own spread. The evaluations use `mpvss eval`'s options `--no-epe --no-tc` (the same
stored results).
"""

from __future__ import annotations

import argparse

from analysis.paired import paired_difference
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.evaluation.runner import run_evaluation
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--pairs", required=True, help="A:B,C:D,... (method names)")
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    specs = {args.model: resolve_model(args.model)}
    data = resolve_data(args.data, max_clips=args.max_clips)
    results = {}

    def result(side: str):
        method, _, model = side.partition("@")
        model = model or args.model
        if model not in specs:
            specs[model] = resolve_model(model)
        if side not in results:
            results[side] = run_evaluation(
                specs[model], data, method, ScheduleSpec(args.interval), device=args.device, flow_epe=False,
                tc=False,
            )  # fmt: skip
        return results[side]

    print(f"model {args.model}, {args.data}, K={args.interval}; per-clip mIoU differences A - B")
    width = max(18, *(len(side) for pair in args.pairs.split(",") for side in pair.split(":")))
    print(f"{'A':<{width}} {'B':<{width}} {'mIoU A':>7} {'mIoU B':>7} {'mean d':>7} {'SE':>6} {'A wins':>7}")
    for pair in args.pairs.split(","):
        a, b = pair.split(":")
        ra, rb = result(a), result(b)
        d = paired_difference(ra.per_clip["miou"], rb.per_clip["miou"])
        scores = f"{ra.summary['miou']:7.2f} {rb.summary['miou']:7.2f} {d.mean:7.2f} {d.se:6.2f}"
        print(f"{a:<{width}} {b:<{width}} {scores} {d.wins:>3}/{d.n}")


if __name__ == "__main__":
    main()
