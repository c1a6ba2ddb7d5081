"""`mpvss reproduce`: regenerate the paper's artifacts, print their headline tables and findings, save them.

    mpvss reproduce table_1 figure_a --model default --out assets/results
    mpvss reproduce --all --model tiny --max-clips 1 --max-frames 17 --out /tmp/repro

Evaluations are cached in the results store ($MPVSS_RESULTS), so a rerun is quick and artifacts that
need the same (method, K) share one evaluation. The full `--all` on the 16 validation clips runs about
35 evaluations (a few minutes each on 2 CPU cores); `--max-clips` / `--max-frames` cut that down.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from mpvss_cli.args import positive_int
from mpvss_core.errors import InputError

_HELP = """Regenerate tables and figures of the paper (supplementary Tables I-V, Figures A-D, and the main
paper's video-consistency table) with our model and data, each beside the paper's numbers.

artifacts: {names}
Writes <out>/<artifact>/ (CSV tables, HTML + JSON + PNG figures, artifact.json with the setting and
findings). Scores in %, FLOPs in fvcore GFLOPs.

example: mpvss reproduce --all --model tiny --max-clips 1 --max-frames 17 --out /tmp/repro"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add `reproduce` to the `mpvss` subcommands (imports of the analyses are deferred to the run)."""
    from analysis import NAMES

    p = sub.add_parser(
        "reproduce",
        help="regenerate the paper's tables and figures beside the paper's numbers",
        description=_HELP.format(names=", ".join(NAMES)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT", help="artifact names (or --all)")
    p.add_argument("--all", action="store_true", help="every artifact, in the paper's order")
    p.add_argument(
        "--model", default="default", help="'default' (shipped bundle), 'tiny' (random) or a folder"
    )
    p.add_argument("--data", default="synthetic:val", help="data spec (default synthetic:val)")
    p.add_argument("--max-clips", type=positive_int, default=None, metavar="N", help="only the first N clips")
    p.add_argument(
        "--max-frames", type=positive_int, default=None, metavar="N", help="only the first N frames of a clip"
    )
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-cache", action="store_true", help="recompute evaluations even if stored")
    p.add_argument(
        "--allow-untrained",
        action="store_true",
        help="also run learned methods whose flow module was never trained (marked in every artifact)",
    )
    p.add_argument(
        "--key-heads",
        choices=["retrained", "stage0"],
        default="retrained",
        help="key frames of learned methods: stage-1 retrained heads (the paper) or the stage-0 ones",
    )
    p.add_argument("--no-png", action="store_true", help="skip PNG export of the figures")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (one sub-folder per artifact)")
    p.set_defaults(func=cmd_reproduce)


def _subset_note(args: argparse.Namespace) -> str:
    """What --max-clips / --max-frames cut, in words."""
    from mpvss_core.evaluation.datasets import resolve_data

    total = len(resolve_data(args.data))
    clips = f"first {min(args.max_clips, total)} of {total} clips" if args.max_clips else f"all {total} clips"
    if args.max_frames:
        frames = f"first {args.max_frames} frames of each clip"
        if args.max_frames <= 16:
            frames += " (mVC_8/16 need more than 16 frames: n/a)"
    else:
        frames = "all frames"
    return f"data {args.data}: {clips}, {frames}"


def _check_outputs(args: argparse.Namespace) -> None:
    """--out and the results store are usable and inside no input, before any evaluation."""
    from mpvss_core.evaluation.store import default_results_root
    from mpvss_core.io import check_dir_dest

    inputs = [p for p in (args.data, args.model) if not p.startswith("synthetic:")]
    check_dir_dest(args.out, "--out", inputs)
    check_dir_dest(default_results_root(), "the results store ($MPVSS_RESULTS)", inputs)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.artifacts import ARTIFACTS
    from analysis.common import ReproContext
    from analysis.store import save_artifact
    from mpvss_core.spec import resolve_model

    names = list(ARTIFACTS) if args.all else list(dict.fromkeys(args.artifacts))
    if not names:
        raise InputError("name at least one artifact or pass --all (artifacts: " + ", ".join(ARTIFACTS) + ")")
    unknown = [n for n in names if n not in ARTIFACTS]
    if unknown:
        raise InputError(f"unknown artifact(s) {', '.join(unknown)}; choose from {', '.join(ARTIFACTS)}")
    if args.max_frames is not None and args.max_frames < 2:
        raise InputError("--max-frames must be >= 2 (a key frame and a propagated one)")
    _check_outputs(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    # once, before any artifact
    spec = resolve_model(args.model, allow_untrained=args.allow_untrained, key_heads=args.key_heads)
    # under torchrun every process computes (the evaluations are sharded over them), rank 0 reports
    main_proc = int(os.environ.get("RANK", "0")) == 0
    if main_proc:
        print(f"reproducing {', '.join(names)} with model {args.model!r} on {args.device}")
        print(_subset_note(args))
    t_all = time.perf_counter()
    bar = tqdm(
        total=len(names),
        unit="artifact",
        bar_format="{l_bar}{bar}| {n:.2f}/{total} [{elapsed}<{remaining}]",
        disable=not main_proc,
    )
    reports = []
    for i, name in enumerate(names):

        def progress(fraction: float, message: str, i: int = i, name: str = name) -> None:
            bar.n = i + fraction
            bar.set_description(f"{name}: {message}"[:60])
            bar.refresh()

        ctx = ReproContext(
            model=spec,
            data=args.data,
            max_clips=args.max_clips,
            max_frames=args.max_frames,
            device=args.device,
            use_cache=not args.no_cache,
            progress=progress,
        )
        t0 = time.perf_counter()
        art = ARTIFACTS[name](ctx)
        files = save_artifact(art, out, png=not args.no_png) if main_proc else []
        reports.append((art, time.perf_counter() - t0, files))
        progress(1.0, "saved")
    bar.close()
    if not main_proc:
        return 0
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 14, "display.max_colwidth", 28):
        for art, seconds, files in reports:
            print(f"\n=== {art.title} ({art.name}, {seconds:.1f} s, {len(files)} files) -> {out / art.name}")
            shown = art.headline.drop(columns=["paper_source", "paper_claim", "command"], errors="ignore")
            print(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
            for finding in art.findings:
                print(f"  - {finding}")
    print(f"\n{len(reports)} artifact(s) in {time.perf_counter() - t_all:.1f} s -> {out}")
    return 0
