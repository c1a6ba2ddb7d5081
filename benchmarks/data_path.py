"""How fast the training data path makes batches, and whether it keeps up with a fast (GPU) step.

    python benchmarks/data_path.py --data data/synth --threads 0 1 2 --step-ms 0 50

Prints, for stage 0 (`frame_batch`) and stage 1 (`pair_batch`, with exact flow), batch 4 at 224x224:
- ms per batch from disk (JPEG decode + PNG labels) and from the in-memory cache (`--cache`, after one
  warm pass over the batches measured);
- steps per second when each step also waits `--step-ms` milliseconds outside the GIL (a stand-in for
  a GPU step: `time.sleep` releases the GIL as CUDA kernels do), with 0, 1, 2 ... prefetch threads
  (`--data-threads`). Asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mpvss_core.labels import SYNTH_CLASSES
from mpvss_core.train.data import AugConfig, BalanceConfig, FrameDataset, step_rng
from mpvss_core.train.prefetch import Prefetcher


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--step-ms", type=float, nargs="+", default=[0.0, 50.0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    aug = AugConfig(crop=(224, 224), scale=(0.875, 1.25))
    n = args.batches
    makers = {
        "frame_batch": lambda ds: lambda rng: ds.frame_batch(rng, 4, aug, BalanceConfig(1.0, 0.5)),
        "pair_batch": lambda ds: lambda rng: ds.pair_batch(rng, 4, aug, 10, True, True),
    }
    for name, maker in makers.items():
        for cache in (False, True):
            ds = FrameDataset.open(args.data, "train", len(SYNTH_CLASSES), cache=cache)
            make = maker(ds)
            if cache:  # the measured batches' frames are then in memory, as after the first epoch
                for s in range(n):
                    make(step_rng(0, s))
            times = []
            for s in range(n):
                t0 = time.perf_counter()
                make(step_rng(0, s))
                times.append(time.perf_counter() - t0)
            print(f"{name} cache={cache}: {1000 * statistics.median(times):.1f} ms per batch (median)")
        for step_ms in args.step_ms:
            for threads in args.threads:
                p = Prefetcher(make, 0, 0, threads)  # the cached dataset of the last loop
                t0 = time.perf_counter()
                for s in range(n):
                    p.get(s)
                    time.sleep(step_ms / 1000)
                p.close()
                rate = n / (time.perf_counter() - t0)
                bound = f" (step alone: {1000 / step_ms:.1f})" if step_ms else ""
                print(f"  {name} step {step_ms:.0f} ms, {threads} threads: {rate:.1f} steps/s{bound}")


if __name__ == "__main__":
    main()
