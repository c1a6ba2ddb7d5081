"""GPU speed of the paper-scale model in one call (prints figures, writes JSON; asserts nothing).

    python benchmarks/gpu_speed.py --out $OUT            # on a CUDA machine: Swin-T preset, 480x853

Sized for one device call of about 6 minutes on one H200 (timings of a CPU run of the tiny preset are
seconds: `--preset tiny --size 128x256 --device cpu` checks the script anywhere). Random weights are
fine: speed does not depend on their values. Measured, CUDA-synchronised, batch 1 unless batched:
- per_frame and query_flow at K=5, on the fast path (bfloat16 autocast on CUDA, float32 sampling grids,
  warping and semantic inference) and on the reference path (float32, the code as written);
- query_flow in offline mode (each segment's non-key frames as one batch);
- the component profile of query_flow (`benchmarks/profile_components.py`);
- the semantic step on one key frame, by cells and pixel by pixel (`modeling/semantic.py`), with the
  share of cells decided from bounds (random weights make other masks than trained ones: that share
  is the model's, the milliseconds say what each path costs on the device).

The device tool's command (one call; the results come back through $OUT):

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_speed.py --out $OUT 2>&1 | tee $OUT/gpu_speed.log
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from methods_speed import timed_run  # noqa: E402
from profile_components import profile  # noqa: E402

from mpvss_core.evaluation.costs import device_description  # noqa: E402
from mpvss_core.modeling.semantic import decided_fraction, semantic_labels  # noqa: E402
from mpvss_core.predictor import VideoPredictor  # noqa: E402
from mpvss_core.spec import resolve_model  # noqa: E402


def _frames(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A moving smooth pattern (speed only: values do not matter, motion keeps the flow busy)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[0] // 8 + 2, size[1] // 8 + 2, 3)).astype(np.float32)
    import cv2

    big = cv2.resize(base, (size[1] + 64, size[0] + 64), interpolation=cv2.INTER_CUBIC)
    return np.stack(
        [np.clip(big[t : t + size[0], 2 * t : 2 * t + size[1]], 0, 255) for t in range(n)]
    ).astype(np.uint8)


def timed(predictor: VideoPredictor, frames: np.ndarray, k: int, rounds: int, batch: bool) -> dict:
    """Median over `rounds` of `methods_speed.timed_run` (each round warms up first)."""
    runs = [timed_run(predictor, frames, k, batch) for _ in range(rounds)]
    return {k2: statistics.median(r[k2] for r in runs) for k2 in runs[0]}


def semantic_step(predictor: VideoPredictor, frame: np.ndarray, rounds: int = 20) -> dict:
    """Median ms of the semantic step on one key frame by cells and pixel by pixel, and the share of
    cells decided from bounds (CUDA-synchronised)."""
    device = predictor.device
    x = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float().to(device)
    with torch.no_grad():
        key = predictor.model.segment_key(x)
    parts, size = [(key.class_logits, key.mask_logits, 1.0)], frame.shape[:2]
    out = {"decided_share": decided_fraction(parts, size)}
    for name, cells in (("cells", True), ("pixels", False)):
        times = []
        for _ in range(rounds + 2):  # the first two warm up
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            semantic_labels(parts, size, cells=cells)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
        out[f"{name}_ms"] = 1000 * statistics.median(times[2:])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="swin_t")
    ap.add_argument("--size", default="480x853")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None, help="folder of gpu_speed.json")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    torch.backends.cudnn.benchmark = True
    frames = _frames(args.frames, size)
    spec = resolve_model(args.preset)
    report = {"device": device_description(args.device), "torch": torch.__version__, "preset": args.preset,
              "size": list(size), "interval": args.interval, "frames": args.frames, "runs": {}}  # fmt: skip
    print(f"{args.preset} (random weights) at {size[0]}x{size[1]}, K={args.interval}, on {report['device']}")
    configs = [("per_frame", "fast", False), ("query_flow", "fast", False), ("query_flow", "fast", True),
               ("per_frame", "reference", False), ("query_flow", "reference", False)]  # fmt: skip
    for method, path, batch in configs:
        t0 = time.perf_counter()
        predictor = VideoPredictor(spec, method, device=args.device, path=path, share_keys=False)
        r = timed(predictor, frames, args.interval, args.rounds, batch)
        name = f"{method} {path}" + (" batched" if batch else "")
        report["runs"][name] = r
        print(f"{name:<28} FPS {r['fps']:8.2f}  e2e {r['fps_e2e']:8.2f}  key {r['key_ms']:7.2f} ms  "
              f"non-key {r['nonkey_ms']:7.2f} ms  ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
        del predictor
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    for path in ("fast", "reference"):
        base = report["runs"][f"per_frame {path}"]["fps"]
        qf = report["runs"][f"query_flow {path}"]
        print(f"{path}: query_flow K={args.interval} = {qf['fps'] / base:.2f}x per-frame FPS, "
              f"non-key/key {qf['nonkey_ms'] / qf['key_ms']:.3f}")  # fmt: skip
    predictor = VideoPredictor(spec, "query_flow", device=args.device, share_keys=False)
    parts = profile(predictor, frames, args.interval, 1)
    report["profile"] = {
        kind: {n: 1000 * statistics.median(v) for n, v in p.items()} for kind, p in parts.items()
    }
    for kind, p in report["profile"].items():
        print(f"\n{kind} frame profile (median ms)")
        for n, ms in p.items():
            print(f"  {n:<58} {ms:8.2f}")
    report["semantic_step"] = semantic_step(predictor, frames[0])
    step = report["semantic_step"]
    share = 100 * step["decided_share"]
    print(f"\nsemantic step, one key frame: cells {step['cells_ms']:.2f} ms, pixel by pixel "
          f"{step['pixels_ms']:.2f} ms; {share:.1f} % of cells decided from bounds")  # fmt: skip
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_speed.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
