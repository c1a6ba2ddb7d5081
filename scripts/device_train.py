"""Train a whole model bundle in one call of a lent GPU machine, and pack it for the trip back.

    PYTHONUNBUFFERED=1 python3 scripts/device_train.py --out $OUT 2>&1 | tee $OUT/device_train.log

What one call does (the device tool allows at most 10 minutes a command; the default budget of 8.5
minutes leaves room for the start-up and the packing):
1. renders the synthetic `train` split and the first validation clips on all but one of the machine's
   cores (`mpvss data synth --workers`; the same files as a one-process render);
2. trains the segmenter (stage 0) from `--init` (default: the shipped one) with bfloat16 autocast, for a
   share of the time left (`--seg-share`), and exports it into a fresh bundle;
   Batches are made ahead in `--data-threads` threads (`benchmarks/data_path.py`: a stage-1 batch with
   exact flow takes about 90 ms from the cache on one core, longer than a GPU step);
3. trains each flow module of `--methods` on that segmenter for an equal share of the rest, each
   exported into the same bundle;
4. writes to `--out` at most 8 files of at most 16 MiB: `bundle.json` (every command, step count,
   minutes, device and trainer validation, as `mpvss train` records them), one uncompressed tar per
   bundle entry (safetensors do not compress) and `logs.tar.gz` (each run's log.csv and run.json).

Every stage is a `python -m mpvss_cli` subprocess, so the commands in `bundle.json` are the ones a user
would type. Unpack at home with `mkdir -p B && for t in OUT/*.tar; do tar -xf $t -C B; done &&
cp OUT/bundle.json B/`, then score it with `mpvss eval --model B ...`.

Checked on the CPU with a tiny budget (this is how the test-free script is exercised without a GPU):
    python scripts/device_train.py --out /tmp/dt --device cpu --minutes 3 --clips 2 --frames 6 \\
        --val-clips 1 --methods query_flow --batch-size 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

MAX_FILES, MAX_BYTES = 8, 16 * 2**20
ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], log: list[dict]) -> None:
    """One `python -m mpvss_cli` stage; its wall time goes into the call's log."""
    cmd = [sys.executable, "-m", "mpvss_cli", *args]
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    log.append({"stage": " ".join(args[:4]), "wall_s": round(time.perf_counter() - t0, 1)})


def _pack(bundle: Path, runs: Path, out: Path) -> list[Path]:
    """bundle.json + one tar per entry + the logs, each checked against the trip-back limits."""
    out.mkdir(parents=True, exist_ok=True)
    files = [Path(shutil.copy(bundle / "bundle.json", out / "bundle.json"))]
    for entry in sorted(p for p in bundle.iterdir() if p.is_dir()):
        with tarfile.open(out / f"{entry.name}.tar", "w") as tar:
            tar.add(entry, arcname=entry.name)
        files.append(out / f"{entry.name}.tar")
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for f in sorted(runs.glob("*/log.csv")) + sorted(runs.glob("*/run.json")):
            tar.add(f, arcname=str(f.relative_to(runs)))
    files.append(out / "logs.tar.gz")
    too_big = [f.name for f in files if f.stat().st_size > MAX_BYTES]
    if len(files) > MAX_FILES or too_big:
        raise SystemExit(f"{len(files)} files (max {MAX_FILES}); over {MAX_BYTES >> 20} MiB: {too_big}")
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="where the packed bundle goes ($OUT on the device)")
    ap.add_argument("--work", default="/tmp/mpvss_device", help="data, runs and the unpacked bundle")
    ap.add_argument("--minutes", type=float, default=8.5, help="whole-call budget, render included")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--init", default="assets/models/default/segmenter", help="segmenter to continue")
    ap.add_argument(
        "--methods", default="query_flow,pixel_flow,query_flow_noinit", help="flow modules, in order"
    )
    ap.add_argument("--seg-share", type=float, default=0.5, help="share of the training time for stage 0")
    ap.add_argument("--clips", type=int, default=None, help="train clips (default: the whole split)")
    ap.add_argument("--frames", type=int, default=None, help="frames per clip (default: the split's)")
    ap.add_argument("--val-clips", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    if 2 + len(methods) > MAX_FILES - 1:  # bundle.json + segmenter + methods + logs
        raise SystemExit(f"at most {MAX_FILES - 3} flow modules fit the trip back, got {len(methods)}")

    t0, log = time.perf_counter(), []
    work = Path(args.work)
    data, runs, bundle = work / "data", work / "runs", work / "bundle"
    shutil.rmtree(runs, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    shape = [*(["--frames", str(args.frames)] if args.frames else []), "--quiet"]
    clips = ["--clips", str(args.clips)] if args.clips else []
    _run(
        [
            "data",
            "synth",
            "--split",
            "train",
            "--out",
            str(data),
            *clips,
            "--workers",
            str(args.workers),
            *shape,
        ],
        log,
    )
    _run(
        [
            "data",
            "synth",
            "--split",
            "val",
            "--out",
            str(data),
            "--clips",
            str(args.val_clips),
            "--workers",
            str(args.workers),
            *shape,
        ],
        log,
    )

    # Time left for training, after the render and a reserve for start-ups, validation and packing.
    left = args.minutes - (time.perf_counter() - t0) / 60 - 0.75 - 0.25 * (1 + len(methods))
    if left <= 0.5:
        raise SystemExit(f"no time left to train ({left:.2f} min) after rendering")
    seg_min = left * args.seg_share
    flow_min = (left - seg_min) / max(1, len(methods))
    common = [
        "--data",
        str(data),
        "--device",
        args.device,
        "--amp",
        "auto",
        "--batch-size",
        str(args.batch_size),
        "--crop",
        "224x224",
        "--scale",
        "0.875,1.25",
        "--num-points",
        "3136",
        "--cache",
        "--data-threads",
        str(min(8, args.workers)),
        "--val-every",
        "0",
        "--val-clips",
        str(args.val_clips),
        "--ckpt-minutes",
        "60",
        "--log-every",
        "10",
        "--quiet",
        "--max-steps",
        "100000",
    ]
    _run(
        [
            "train",
            "segmenter",
            "--init",
            args.init,
            "--out",
            str(runs / "segmenter"),
            "--max-minutes",
            f"{seg_min:.2f}",
            "--lr",
            "2e-4",
            "--warmup-steps",
            "100",
            "--class-balance",
            "1.0",
            "--rare-crop",
            "0.5",
            "--export-to",
            str(bundle),
            *common,
        ],
        log,
    )
    for m in methods:
        _run(
            [
                "train",
                "flow",
                "--method",
                m,
                "--segmenter",
                str(bundle),
                "--out",
                str(runs / m),
                "--max-minutes",
                f"{flow_min:.2f}",
                "--lr",
                "1e-3",
                "--warmup-steps",
                "30",
                "--flow-loss-weight",
                "1",
                "--export-to",
                str(bundle),
                *common,
            ],
            log,
        )
    files = _pack(bundle, runs, Path(args.out))
    summary = {
        "budget_minutes": args.minutes,
        "wall_minutes": round((time.perf_counter() - t0) / 60, 2),
        "segmenter_minutes": round(seg_min, 2),
        "flow_minutes_each": round(flow_min, 2),
        "stages": log,
        "files": {f.name: f.stat().st_size for f in files},
    }
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
