"""`mpvss eval` and `mpvss infer` (the propagation engine): subcommands registered on the `mpvss` parser.

    mpvss eval --model tiny --data synthetic:val --method query_flow --interval 5 --json out.json
    mpvss eval --model tiny --data synthetic:val --method all --max-clips 4
    mpvss infer clip.mp4 --model tiny --method query_flow --interval 5 --out overlay.mp4 --labels-dir png/

`eval` prints one table row per method and stores each evaluation in the results store (a rerun with
the same model, data, method and schedule reads it back; `--no-cache` recomputes). `--json` writes the
summary object (one method) or `{"results": [...]}` (several). Scores are percentages (0-100), EPE in
pixels, FLOPs in fvcore GFLOPs; the notes under the table say what was assumed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from mpvss_cli.args import non_negative_int, positive_int
from mpvss_core.errors import InputError
from mpvss_core.methods import method_spec, methods_help, parse_methods

_VIDEO_OUT = (".mp4", ".m4v", ".mov", ".mkv")
_EVAL_HELP = """Run propagation methods over clips and print one row per method.

methods ('all' = every one but the stages_S ablations):
{methods}

--data: synthetic:val (the written split in --data-root, $MPVSS_DATA or ./data/synth; clips it
lacks are rendered), a VSPW or Cityscapes root, a folder of videos / frame folders, a video, a zip.
Without ground truth in the model's label space, every score is against the segmenter's own
per-frame prediction (--reference per_frame; the table's "ref" column and the JSON say which);
TC (temporal consistency) needs no labels at all.
Each evaluation is stored under a key of model, data, method and
schedule in --results ($MPVSS_RESULTS or ./.mpvss_cache/results) and read back on a rerun.
Scores in %, flow EPE in pixels, FLOPs in fvcore GFLOPs (1 per multiply-add), FPS at batch 1.

example: mpvss eval --model tiny --data synthetic:val --method query_flow --interval 5 --json out.json"""
_INFER_HELP = """Predict every frame of a clip and write an H.264 overlay video (key frames marked "KEY",
propagated ones "+d"; under each frame a class legend: colour, name and share of the frame of each
class shown, --no-legend leaves it out), and optionally one label PNG per frame (palette PNGs of
class ids).
Videos are decoded as a stream, so long videos need little memory.

example: mpvss infer clip.mp4 --model tiny --method query_flow --interval 5 --out overlay.mp4"""


_positive = positive_int
_non_negative = non_negative_int


def _before_labelled(text: str) -> int | str:
    return "all" if text == "all" else _non_negative(text)


def _method(text: str) -> str:
    try:
        return method_spec(text).name
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _methods(text: str) -> list[str]:
    try:
        return parse_methods(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default="default",
        help="'default' (shipped bundle), 'tiny' (random weights), or a bundle, checkpoint or local "
        "Hugging Face Mask2Former folder",
    )
    p.add_argument("--interval", type=_positive, default=5, metavar="K", help="key frame every K frames (5)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--threads", type=_positive, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0, help="seed of random-weight presets (0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--allow-untrained",
        action="store_true",
        help="also run learned methods whose flow module was never trained (marked as such everywhere)",
    )
    p.add_argument(
        "--key-heads",
        choices=["retrained", "stage0"],
        default="retrained",
        help="key frames of learned methods: the heads stage 1 retrained (the paper) or the segmenter's "
        "stage-0 decoder and heads (= per_frame on key frames; non-key frames unchanged; bundles only)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add `eval` and `infer` to the `mpvss` parser."""
    ev = sub.add_parser(
        "eval",
        help="evaluate propagation methods: mIoU, WIoU, mVC, flow EPE, FLOPs, FPS",
        description=_EVAL_HELP.format(methods=methods_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ev.add_argument(
        "--data", required=True, help="synthetic:val|train|<seed>, a VSPW folder, video, frames folder/zip"
    )
    ev.add_argument("--method", required=True, type=_methods, help="a method, a comma list, or 'all'")
    _common(ev)
    ev.add_argument(
        "--before-labelled",
        type=_before_labelled,
        default=None,
        metavar="D",
        help="key frame D frames before each labelled frame (sparse labels, Cityscapes) instead of "
        "every K; 'all' evaluates D = 0..K-1 and adds their mean (the paper's Cityscapes protocol)",
    )
    ev.add_argument(
        "--reference",
        choices=["auto", "labels", "per_frame"],
        default="auto",
        help="score against the ground truth or the segmenter's per-frame prediction (auto: labels "
        "when the data has them in the model's label space)",
    )
    ev.add_argument("--max-frames", type=_positive, default=None, metavar="N", help="first N frames per clip")
    ev.add_argument("--no-tc", action="store_true", help="skip temporal consistency (DIS flow per frame)")
    ev.add_argument(
        "--tc-flow", choices=["dis", "exact"], default="dis", help="TC flow: OpenCV DIS, or exact where known"
    )
    ev.add_argument("--max-clips", type=_positive, default=None, metavar="N", help="only the first N clips")
    ev.add_argument("--split", default=None, help="for a VSPW root: clips listed in <root>/<split>.txt")
    ev.add_argument("--data-root", default=None, help="written synthetic splits ($MPVSS_DATA, ./data/synth)")
    ev.add_argument("--json", default=None, metavar="OUT", help="write the summary as JSON")
    ev.add_argument("--tables", default=None, metavar="DIR", help="also write per-frame/per-clip CSVs here")
    ev.add_argument("--results", default=None, metavar="DIR", help="results store ($MPVSS_RESULTS)")
    ev.add_argument("--no-cache", action="store_true", help="recompute even if a stored result exists")
    ev.add_argument("--no-epe", action="store_true", help="skip flow EPE (saves re-rendering exact flow)")
    ev.set_defaults(func=cmd_eval)

    inf = sub.add_parser(
        "infer",
        help="predict a clip and write an overlay video (and label PNGs)",
        description=_INFER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inf.add_argument("source", help="a video, frames folder or zip, VSPW clip folder, or synthetic:<seed>")
    inf.add_argument("--method", type=_method, default="query_flow")
    _common(inf)
    inf.add_argument("--out", required=True, help="overlay video (.mp4, H.264)")
    inf.add_argument("--labels-dir", default=None, help="also write per-frame label PNGs here")
    inf.add_argument("--max-frames", type=_positive, default=None)
    inf.add_argument("--alpha", type=float, default=0.5, help="overlay opacity 0..1 (0.5)")
    inf.add_argument(
        "--no-legend", dest="legend", action="store_false", help="no class legend strip under the frames"
    )
    inf.set_defaults(func=cmd_infer)


def _setup_device(args: argparse.Namespace) -> str:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {args.device!r}")
    if device == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


def _is_main() -> bool:
    """Rank 0 under torchrun (the only process that prints and writes files), or a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _write_json(path: str | Path, data: Any) -> None:
    from mpvss_core.io import atomic_file

    with atomic_file(path, "w", what="--json") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def _inputs(*paths: str | None) -> list[str]:
    """The paths among a command's inputs (`synthetic:` specs and presets name no file)."""
    return [p for p in paths if p and not p.startswith("synthetic:")]


def _check_eval_outputs(args: argparse.Namespace) -> None:
    """Every destination of `eval` is usable, before the model or the data is touched."""
    from mpvss_core.evaluation.store import default_results_root
    from mpvss_core.io import check_dir_dest, check_distinct, check_file_dest

    inputs = _inputs(args.data, args.data_root, args.model)
    if args.json:
        check_file_dest(args.json, "--json", inputs)
    if args.tables:
        check_dir_dest(args.tables, "--tables", inputs)
    store_name = "--results" if args.results else "the results store ($MPVSS_RESULTS)"
    check_dir_dest(args.results or default_results_root(), store_name, inputs)
    check_distinct({"--json": args.json, "--tables": args.tables, "--results": args.results})


def _ignored_split(args: argparse.Namespace) -> list[str]:
    """A note when --split named a split the data has no use for (only dataset roots list splits)."""
    from mpvss_core.data.readers import detect_source

    if args.split is None or detect_source(args.data).takes_split:
        return []
    return [f"note: --split {args.split} ignored: {args.data} is not a VSPW or Cityscapes root"]


def cmd_eval(args: argparse.Namespace) -> int:
    from mpvss_core.evaluation.datasets import resolve_data
    from mpvss_core.evaluation.runner import evaluation_order, format_table, run_evaluation
    from mpvss_core.evaluation.store import ResultStore
    from mpvss_core.schedules import ScheduleSpec
    from mpvss_core.spec import resolve_model

    _check_eval_outputs(args)
    device = _setup_device(args)
    # a wrong --model fails before any data is read
    spec = resolve_model(
        args.model, seed=args.seed, allow_untrained=args.allow_untrained, key_heads=args.key_heads
    )
    for method in args.method:
        spec.entry(method)  # so does a method the model cannot run
    data = resolve_data(args.data, args.data_root, args.split, args.max_clips, args.max_frames)
    if args.before_labelled == "all":
        schedules = [ScheduleSpec(args.interval, d) for d in range(args.interval)]
    else:
        schedules = [ScheduleSpec(args.interval, args.before_labelled)]
    store = ResultStore(args.results)
    if not args.quiet and _is_main():
        print(data.describe())
    # per_frame last: the key frames it shares with copy and the optical-flow baselines (every K-th
    # frame) are then kept by the bounded key-frame cache; the table keeps the order asked for
    done: dict[str, list] = {}
    for method in evaluation_order(list(args.method)):
        done[method] = []
        for schedule in schedules:
            result = run_evaluation(
                spec,
                data,
                method,
                schedule,
                device=device,
                store=store,
                use_cache=not args.no_cache,
                flow_epe=not args.no_epe,
                progress=not args.quiet and _is_main(),
                reference=args.reference,
                tc=not args.no_tc,
                tc_flow=args.tc_flow,
            )
            done[method].append(result)
            if args.tables:
                from mpvss_core.io import atomic_path

                tag = f"{method}_{schedule.tag}"
                for table, frame in (("per_frame", result.per_frame), ("per_clip", result.per_clip)):
                    with atomic_path(Path(args.tables) / f"{tag}_{table}.csv", what="--tables") as tmp:
                        frame.to_csv(tmp, index=False)
    results, rows = [], []
    for method in args.method:
        results += done[method]
        per_d = [r.summary for r in done[method]]
        rows += per_d
        if len(per_d) > 1:
            rows.append(_mean_over_distances(per_d))
    if not _is_main():  # under torchrun the other processes only helped
        return 0
    print(format_table(rows))
    for line in _notes(results) + _ignored_split(args):
        print(line)
    if args.json:
        from mpvss_core.evaluation.store import json_safe

        summaries = [json_safe(r) for r in rows]
        _write_json(args.json, summaries[0] if len(summaries) == 1 else {"results": summaries})
        print(f"wrote {args.json}")
    return 0


def _mean_over_distances(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of one method's evaluations at key-frame distances D = 0..K-1 (one table row)."""
    import numpy as np

    def mean(key: str) -> float | None:
        vals = [s[key] for s in summaries if isinstance(s.get(key), (int, float))]
        return float(np.mean(vals)) if len(vals) == len(summaries) else None

    first = summaries[0]
    row = {k: first.get(k) for k in ("method", "interval", "reference", "untrained_flow", "random_init")}
    row.update({k: mean(k) for k in ("miou", "wiou", "tc", "gflops_key", "gflops_nonkey", "gflops_avg")})
    row.update(before_labelled="0..K-1 (mean)", num_frames=sum(s["num_frames"] for s in summaries))
    row["schedule"] = f"mean over key frames 0..{first['interval'] - 1} frames before each labelled frame"
    row["distances"] = [s["before_labelled"] for s in summaries]
    return row


def _notes(results) -> list[str]:
    lines = []
    first = results[0].summary
    if first.get("random_init"):
        lines.append(
            "note: random weights (untrained preset): scores are meaningless; "
            "shapes, costs and timings are real"
        )
    for r in results:
        if r.summary.get("untrained_flow"):
            lines.append(
                f"note: {r.summary['method']} ran an UNTRAINED flow module (--allow-untrained): its scores "
                "show what an untrained module does, not the method"
            )
    lines.append(f"model: {first.get('model')}")
    lines.append(f"reference: {first.get('reference_text', 'ground truth')}")
    lines.append(f"device: {first.get('device')}; FLOPs: {first.get('flops_unit', 'not counted')}")
    for r in results:
        s = r.summary
        where = f"read back from {r.key}" if r.cached else f"stored as {r.key}"
        lines.append(f"{s['method']}: {where}" + (f"; {s['flops_note']}" if s.get("flops_note") else ""))
    seen = set()
    for r in results:
        for n in r.summary.get("notes", []):
            if n not in seen:
                seen.add(n)
                lines.append(f"note: {n}")
    return lines


def cmd_infer(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from mpvss_core.io import write_label_png, write_video
    from mpvss_core.labels import palette_for
    from mpvss_core.predictor import VideoPredictor, open_frames
    from mpvss_core.spec import resolve_model
    from mpvss_core.viz import draw_key_marker, overlay_labels, with_legend

    if Path(args.out).suffix.lower() not in _VIDEO_OUT:
        raise InputError(f"--out {args.out!r}: use a video file name ending in {', '.join(_VIDEO_OUT)}")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(f"--alpha must be within 0..1, got {args.alpha}")
    _check_infer_outputs(args)
    device = _setup_device(args)
    spec = resolve_model(
        args.model, seed=args.seed, allow_untrained=args.allow_untrained, key_heads=args.key_heads
    )
    spec.entry(args.method)  # a method the model cannot run fails before the source is read
    src = open_frames(args.source, args.max_frames)  # so does a missing or corrupt source
    predictor = VideoPredictor(spec, args.method, device=device)
    state = predictor.init_video(src, args.interval)
    if src.clip is not None and src.clip.num_classes == spec.num_classes:
        names = src.clip.class_names
    else:
        names = spec.class_names
    palette = palette_for(names)
    labels_dir = Path(args.labels_dir) if args.labels_dir else None
    stats = {"frames": 0, "keys": 0, "model_s": 0.0}
    bar = tqdm(total=src.num_frames, desc=f"infer {predictor.method}", unit="frame", disable=args.quiet)

    def overlays():
        for r in predictor.propagate(state, return_frames=True):
            stats["frames"] += 1
            stats["keys"] += int(r.is_key)
            stats["model_s"] += r.timings["model_s"]
            if labels_dir is not None:
                write_label_png(labels_dir / f"{r.index:05d}.png", r.labels, palette)
            over = draw_key_marker(
                overlay_labels(r.frame, r.labels, palette, alpha=args.alpha), r.is_key, r.distance
            )
            bar.update(1)
            # the strip's height depends on the width and the label space only: every frame the same size
            yield with_legend(over, r.labels, names, palette) if args.legend else over

    t0 = time.perf_counter()
    try:
        out = write_video(args.out, overlays(), fps=src.fps)
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    n = stats["frames"]
    fps_model = n / stats["model_s"] if stats["model_s"] > 0 else float("nan")
    print(
        f"{n} frames ({stats['keys']} key frames, K={args.interval}, method {predictor.method}) -> {out}"
        + (f" and {n} label PNGs in {labels_dir}" if labels_dir else "")
    )
    print(
        f"model {fps_model:.1f} FPS; end-to-end incl. decoding, drawing and encoding {n / wall:.1f} FPS "
        f"({np.round(wall, 1)} s) on {device}"
    )
    if predictor.random_init:
        print("note: random weights (untrained preset): the labels are meaningless")
    if predictor.untrained:
        print(f"note: {predictor.method} ran an UNTRAINED flow module (--allow-untrained): the propagated "
              "labels show what an untrained module does, nothing more")  # fmt: skip
    for note in src.notes:
        print(f"note: {note}")
    return 0


def _check_infer_outputs(args: argparse.Namespace) -> None:
    """--out and --labels-dir are usable and replace no input, before the model or the source is read."""
    from mpvss_core.io import check_dir_dest, check_distinct, check_file_dest

    inputs = _inputs(args.source, args.model)
    check_file_dest(args.out, "--out", inputs)
    if args.labels_dir:
        check_dir_dest(args.labels_dir, "--labels-dir", inputs)
    check_distinct({"--out": args.out, "--labels-dir": args.labels_dir})
