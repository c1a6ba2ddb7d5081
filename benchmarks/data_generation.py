"""Speed and disk size of the built-in synthetic benchmark (prints figures; asserts nothing).

    python benchmarks/data_generation.py [--clips 2] [--size 256x512]

Renders the first clips of the val split, times rendering per frame and exact flow per frame pair,
writes them in the VSPW layout to a temporary folder and extrapolates the size of both splits.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mpvss_core.data.synthetic import SPLITS, SyntheticRender
from mpvss_core.data.writer import write_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--size", default="256x512")
    args = ap.parse_args()
    size = tuple(int(x) for x in args.size.split("x"))
    seeds = SPLITS["val"].seeds[: args.clips]
    frames = SPLITS["val"].num_frames

    render_ms, flow_ms = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        r = SyntheticRender(seed, frames, size)
        render_ms.append((time.perf_counter() - t0) * 1000 / frames)
        t0 = time.perf_counter()
        for t in range(1, frames):
            r.flow(t, t - 1)
        flow_ms.append((time.perf_counter() - t0) * 1000 / (frames - 1))

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        clips = write_split("val", tmp, num_clips=args.clips, size=size, progress=False)
        write_s = time.perf_counter() - t0
        per_clip = {sub: 0 for sub in ("origin", "mask", "flow")}
        for c in clips:
            for sub in per_clip:
                per_clip[sub] += sum(f.stat().st_size for f in (Path(c) / sub).iterdir())
        per_clip = {k: v / len(clips) / 2**20 for k, v in per_clip.items()}

    total_clip = sum(per_clip.values())
    print(f"synthetic benchmark at {size[0]}x{size[1]}, {frames} frames per clip, {args.clips} clips")
    print(f"  render (scene + frames + labels): {np.mean(render_ms):7.1f} ms/frame")
    print(f"  exact flow t -> t-1:              {np.mean(flow_ms):7.1f} ms/frame pair")
    print(f"  render + write VSPW layout:       {write_s * 1000 / (args.clips * frames):7.1f} ms/frame")
    print(
        "  disk per clip: "
        + ", ".join(f"{k} {v:.2f} MiB" for k, v in per_clip.items())
        + f" = {total_clip:.2f} MiB"
    )
    for name, sp in SPLITS.items():
        print(
            f"  split {name:5s}: {sp.num_clips:3d} clips, {sp.num_clips * sp.num_frames:5d} frames, "
            f"~{sp.num_clips * total_clip:6.0f} MiB on disk, "
            f"~{sp.num_clips * write_s / args.clips / 60:4.1f} min to write"
        )


if __name__ == "__main__":
    main()
