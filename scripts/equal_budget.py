"""Every learned flow on equal terms: the same pre-training minutes and the same stage-1 minutes per method
(same data, lr schedule, batch, seed, threads), exported into one bundle whose `bundle.json` records
the protocol; then the K = 2 / 5 / 10 table with paired per-clip differences.

    python scripts/equal_budget.py train --bundle bundles/eb20 --runs runs/eb20 --data data/synth \\
        --pretrain-minutes 20 --stage1-minutes 20 --threads 1
    python scripts/equal_budget.py table --bundle bundles/eb20 --data synthetic:val

`train` runs, for each method of `--methods`, two `python -m mpvss_cli train flow` stages (the commands
a user would type, kept in the bundle's records): exact-flow pre-training (`--pretrain-flow`: pixel_flow
FlowNet-style, a query-based module with its key-frame outputs cached, `docs/training.md`) for
`--pretrain-minutes`, then stage 1 from it (`--init-flow`, the exact-flow term at weight 1) for
`--stage1-minutes`, exported with `--export-to`. bi_pixel_flow runs pixel_flow's module in both
directions, so it is trained by pixel_flow's runs. A method already in the bundle with the same
protocol is skipped, so an interrupted `train` continues where it stopped (a run that was cut off
restarts from its last checkpoint with `--resume`).

`table` evaluates every method of the bundle and copy and optical_flow (DIS) at each K (`mpvss eval`'s
stored results) and prints the mIoU table and paired per-clip differences with standard errors:
query_flow against pixel_flow, bi_pixel_flow and optical_flow, and each ablation against its control.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = "pixel_flow,query_flow,query_learned,query_flow_noinit,stages_1,stages_2,stages_4"
# (A, B): query_flow against its baselines, each ablation against its control
PAIRS = [
    ("query_flow", "pixel_flow"),
    ("query_flow", "bi_pixel_flow"),
    ("query_flow", "optical_flow"),
    ("query_flow", "copy"),
    ("query_flow", "query_learned"),  # the fused flow vs the query branch alone
    ("query_flow", "query_flow_noinit"),  # Q_O^k initialisation of the flow queries
    ("stages_3", "stages_1"),  # query_flow is S = 3
    ("stages_3", "stages_2"),
    ("stages_3", "stages_4"),
]


def _protocol(args: argparse.Namespace) -> dict:
    """What every method shares (written into bundle.json; a method trained otherwise is retrained)."""
    return {
        "pretrain_minutes": args.pretrain_minutes,
        "stage1_minutes": args.stage1_minutes,
        "segmenter": args.segmenter,
        "data": args.data,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup_steps": 30,
        "seed": args.seed,
        "threads": args.threads,
        "device": args.device,
        "pretrain_aug_pool": 4,
        "flow_loss_weight": 1.0,
    }


def _train_flow(args: argparse.Namespace, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "mpvss_cli", "train", "flow", "--segmenter", args.segmenter,
           "--data", args.data, "--batch-size", str(args.batch_size), "--lr", str(args.lr),
           "--warmup-steps", "30", "--seed", str(args.seed), "--device", args.device, "--cache",
           "--max-steps", "1000000", "--val-every", "0", "--ckpt-minutes", "5", "--quiet",
           *extra]  # fmt: skip
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    print("+", " ".join(cmd[2:]), flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def _index(bundle: Path) -> dict:
    path = bundle / "bundle.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _start_bundle(bundle: Path, source: Path) -> None:
    """A new bundle holding `source`'s segmenter (copied, with its record), so that every method keys on
    the same stage-0 weights and `--export-to` finds its segmenter."""
    import shutil

    from mpvss_core.checkpoints.bundle import write_bundle_index

    if (bundle / "segmenter").is_dir():
        return
    shutil.copytree(source / "segmenter", bundle / "segmenter")
    record = (_index(source).get("records") or {}).get("segmenter")
    write_bundle_index(bundle, "segmenter", {}, {"segmenter": record} if record else {})


def cmd_train(args: argparse.Namespace) -> int:
    bundle, runs = Path(args.bundle), Path(args.runs)
    _start_bundle(bundle, Path(args.segmenter))
    protocol = _protocol(args)
    args.segmenter = str(bundle)  # every stage keys on the bundle's own copy
    for method in [m for m in args.methods.split(",") if m]:
        index = _index(bundle)
        if (index.get("protocol") or {}).get("methods", {}).get(method) == protocol:
            print(f"{method}: already trained under this protocol, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        pre, stage1 = runs / f"{method}_pre", runs / method
        resume = ["--resume"] if (pre / "last").exists() else []
        if not (pre / "done").exists():
            _train_flow(args, ["--method", method, "--pretrain-flow", "--aug-pool", "4", "--out", str(pre),
                               "--max-minutes", str(args.pretrain_minutes), *resume])  # fmt: skip
            (pre / "done").write_text("pre-training finished\n")
        resume = ["--resume"] if (stage1 / "last").exists() else []
        _train_flow(args, ["--method", method, "--init-flow", str(pre / "last"), "--flow-loss-weight", "1",
                           "--out", str(stage1), "--max-minutes", str(args.stage1_minutes),
                           "--export-to", str(bundle), *resume])  # fmt: skip
        index = _index(bundle)  # export_flow rewrote it; the protocol record goes back in
        record = index.setdefault("protocol", {"what": __doc__.split("\n")[0], "methods": {}})
        record["methods"][method] = protocol
        record.setdefault("wall_minutes", {})[method] = round((time.perf_counter() - t0) / 60, 1)
        (bundle / "bundle.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from analysis.paired import paired_difference
    from mpvss_core.evaluation.datasets import resolve_data
    from mpvss_core.evaluation.runner import run_evaluation
    from mpvss_core.schedules import ScheduleSpec
    from mpvss_core.spec import resolve_model

    spec = resolve_model(args.bundle)
    data = resolve_data(args.data, max_clips=args.max_clips)
    methods = ["per_frame", "copy", "optical_flow", *[m for m in spec.methods if m not in
               ("per_frame", "copy", "optical_flow", "bi_optical_flow")]]  # fmt: skip
    intervals = [int(k) for k in args.intervals.split(",")]
    protocol = (_index(Path(args.bundle)).get("protocol") or {}).get("methods", {})
    budgets = sorted({(p["pretrain_minutes"], p["stage1_minutes"]) for p in protocol.values()})
    print(f"bundle {args.bundle}; data {args.data}; budgets (pre-training, stage 1 minutes): {budgets}")
    print("mIoU: official MPVSS convention (classes predicted but absent from the ground truth count as 0)")
    results = {}
    for k in intervals:
        for m in methods:
            results[(m, k)] = run_evaluation(spec, data, m, ScheduleSpec(k), device=args.device,
                                             flow_epe=False, tc=False)  # fmt: skip
    print(f"\n| method | {' | '.join(f'K={k}' for k in intervals)} |\n|---|{'---|' * len(intervals)}")
    for m in methods:
        print(f"| {m} | " + " | ".join(f"{results[(m, k)].summary['miou']:.2f}" for k in intervals) + " |")
    print(f"\n| A - B (per-clip mIoU, mean ± SE) | {' | '.join(f'K={k}' for k in intervals)} |")
    print(f"|---|{'---|' * len(intervals)}")
    for a, b in PAIRS:
        a_name = "query_flow" if a == "stages_3" else a
        if (a_name, intervals[0]) not in results or (b, intervals[0]) not in results:
            continue
        cells = []
        for k in intervals:
            d = paired_difference(results[(a_name, k)].per_clip["miou"], results[(b, k)].per_clip["miou"])
            cells.append(d.text() + ("" if d.resolved else " (within noise)"))
        print(f"| {a} - {b} | " + " | ".join(cells) + " |")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train every method under one budget into one bundle")
    tr.add_argument("--bundle", required=True)
    tr.add_argument("--runs", required=True)
    tr.add_argument("--data", default="data/synth", help="written synthetic benchmark (exact flow)")
    tr.add_argument(
        "--segmenter", default="assets/models/default", help="bundle whose segmenter every method keys on"
    )
    tr.add_argument("--methods", default=METHODS)
    tr.add_argument("--pretrain-minutes", type=float, required=True)
    tr.add_argument("--stage1-minutes", type=float, required=True)
    tr.add_argument("--batch-size", type=int, default=4)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=1)
    tr.add_argument("--device", default="cpu")
    tr.set_defaults(func=cmd_train)
    tb = sub.add_parser("table", help="the K table and paired differences of a trained bundle")
    tb.add_argument("--bundle", required=True)
    tb.add_argument("--data", default="synthetic:val")
    tb.add_argument("--intervals", default="2,5,10")
    tb.add_argument("--max-clips", type=int, default=None)
    tb.add_argument("--device", default="cpu")
    tb.set_defaults(func=cmd_table)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
