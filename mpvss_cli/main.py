"""The `mpvss` command (this package sits above `mpvss_core` and `analysis`; neither imports it).

    mpvss demo [--out DIR]                          render a built-in clip; write overlay video + preview
    mpvss data synth --split train|val --out DIR    write a benchmark split in the VSPW layout
    mpvss data preview --seed S --out FILE.png      frames | labels | exact flow of one clip
    mpvss eval / infer                              see engine.py
    mpvss train segmenter / flow / export / record  see train.py
    mpvss reproduce ARTIFACT... | --all             see reproduce.py

Parsers are built from light modules only (the method table, argparse types), so `mpvss --help`
takes a fraction of a second; torch and the engine are imported when a command runs.

User errors (bad input, docs/architecture.md §9) print one clear line and exit with status 2; nothing is
printed as a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from mpvss_cli import engine, reproduce, train
from mpvss_cli.args import positive_int, size_type
from mpvss_core.errors import InputError

_size = size_type(16, "256x512")
_positive = positive_int


def cmd_data_synth(args: argparse.Namespace) -> int:
    from mpvss_core.data.writer import write_split

    t0 = time.perf_counter()
    quiet, workers = args.quiet, args.workers
    clips = write_split(args.split, args.out, args.clips, args.frames, args.size, not quiet, workers)
    size_mb = sum(f.stat().st_size for c in clips for f in c.rglob("*") if f.is_file()) / 2**20
    print(
        f"{len(clips)} clips of split '{args.split}' in {args.out} "
        f"({size_mb:.1f} MiB, {time.perf_counter() - t0:.1f} s)"
    )
    return 0


def cmd_data_preview(args: argparse.Namespace) -> int:
    from PIL import Image

    from mpvss_core.data.preview import make_preview
    from mpvss_core.data.synthetic import render_clip
    from mpvss_core.io import atomic_path, check_file_dest

    out = check_file_dest(args.out, "--out")
    if out.suffix.lower() not in Image.registered_extensions():
        raise InputError(f"--out '{out}': use an image file name, e.g. ending in .png")
    clip = render_clip(args.seed, num_frames=args.frames, size=args.size)
    with atomic_path(out, suffix=out.suffix, what="--out") as tmp:  # the suffix picks Pillow's format
        Image.fromarray(make_preview(clip)).save(tmp)
    print(f"preview of synthetic clip {args.seed} -> {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job until the app exists: a built-in clip, its overlay video and preview."""
    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from mpvss_core.data.preview import make_preview
    from mpvss_core.data.synthetic import SPLITS, render_clip
    from mpvss_core.io import atomic_path, check_dir_dest, write_video
    from mpvss_core.viz import flow_scale, flow_to_rgb, legend_entries, legend_strip, overlay_labels

    out = check_dir_dest(args.out, "--out")
    seed = SPLITS["val"].seeds[0] if args.seed is None else args.seed
    t0 = time.perf_counter()
    clip = render_clip(seed, num_frames=args.frames)
    dt = time.perf_counter() - t0
    flows = [clip.flow(t, max(t - 1, 0)) for t in range(clip.num_frames)]
    scale = flow_scale([f for f, _ in flows], [v for _, v in flows])

    def panels():
        for t in tqdm(range(clip.num_frames), desc="demo video", unit="frame"):
            f, v = flows[t]
            over = overlay_labels(clip.frames[t], clip.labels[t], clip.palette, alpha=0.55)
            row = np.concatenate(
                [clip.frames[t], over, flow_to_rgb(np.where(v[..., None], f, np.nan), scale)], 1
            )
            # the labels' legend under the row (its layout fixed by the label space: one frame size)
            entries = legend_entries(clip.labels[t], clip.class_names, clip.palette)
            yield np.concatenate([row, legend_strip(entries, row.shape[1], clip.class_names)], 0)

    video = write_video(out / "demo_overlay.mp4", panels(), fps=clip.fps)
    with atomic_path(out / "demo_preview.png", suffix=".png", what="--out") as tmp:
        Image.fromarray(make_preview(clip)).save(tmp)
    present = sorted({clip.class_names[i] for i in np.unique(clip.labels)})
    print(
        f"synthetic clip {seed}: {clip.num_frames} frames at {clip.size[1]}x{clip.size[0]}, "
        f"rendered in {dt:.1f} s"
    )
    print(f"classes present: {', '.join(present)}")
    print(
        f"wrote {video} (frame | labels | exact flow to the previous frame, a class legend under them) "
        f"and {out / 'demo_preview.png'}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mpvss", description="MPVSS Studio command line")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="render a built-in synthetic clip and write its overlay video")
    demo.add_argument("--out", default="mpvss_demo", help="output folder (default: mpvss_demo)")
    demo.add_argument("--seed", type=int, default=None, help="clip seed (default: first val clip)")
    demo.add_argument("--frames", type=_positive, default=30)
    demo.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="the built-in synthetic benchmark").add_subparsers(
        dest="data_cmd", required=True
    )
    synth = data.add_parser("synth", help="write a split in the VSPW layout (resumable)")
    synth.add_argument("--split", choices=["train", "val"], required=True)
    synth.add_argument("--out", required=True, help="dataset root to write (created if missing)")
    synth.add_argument("--clips", type=_positive, default=None, help="only the first N clips of the split")
    synth.add_argument(
        "--workers", type=_positive, default=1, help="render clips in N processes (same files as 1)"
    )
    synth.add_argument(
        "--frames", type=_positive, default=None, help="frames per clip (default: the split's)"
    )
    synth.add_argument("--size", type=_size, default=None, help="HxW (default: the split's, 256x512)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=cmd_data_synth)

    prev = data.add_parser("preview", help="frames, labels and exact flow of one clip as a PNG")
    prev.add_argument("--seed", type=int, required=True)
    prev.add_argument("--out", required=True)
    prev.add_argument("--frames", type=_positive, default=30)
    prev.add_argument("--size", type=_size, default=(256, 512))
    prev.set_defaults(func=cmd_data_preview)

    engine.register(sub)
    train.register(sub)
    reproduce.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"mpvss: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mpvss: interrupted", file=sys.stderr)
        return 130
    finally:
        _end_process_group()


def _end_process_group() -> None:
    """Under torchrun, leave the process group the command joined (evaluation, training)."""
    if "torch.distributed" in sys.modules:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
