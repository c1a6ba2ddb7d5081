"""`mpvss train segmenter` and `mpvss train flow`: subcommands registered on the `mpvss` parser.

    mpvss train segmenter --data data/synth --out runs/segmenter --max-minutes 80 --threads 1
    mpvss train flow --method query_flow --segmenter runs/segmenter/last --out runs/flow_query_flow \\
        --max-minutes 40 --export-to assets/models/default
    mpvss train flow --method query_flow --segmenter CKPT --data my_clips/ --labels none   # label-free
    torchrun --nproc_per_node 4 -m mpvss_cli train segmenter ...                   # multi-GPU

Every run writes <out>/log.csv, <out>/run.json and a resumable <out>/last checkpoint (`--resume`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mpvss_cli.args import size_type
from mpvss_core.errors import InputError
from mpvss_core.methods import TRAINABLE

_size = size_type(32, "224x224", "crop")


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected two numbers 'lo,hi', got {text!r}") from exc
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < lo <= hi, got {text!r}")
    return lo, hi


def _common(p: argparse.ArgumentParser, out_default: str, lr: float, batch: int) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--data", default="data/synth", help="VSPW-layout dataset root (default: data/synth)")
    d.add_argument(
        "--split", default="train", help="split file <data>/<split>.txt (default train; '': every clip)"
    )
    d.add_argument("--val-split", default="val", help="validation split ('' disables validation)")
    d.add_argument("--val-clips", type=int, default=4, help="clips used by the periodic validation")
    d.add_argument("--val-frames", type=int, default=30, help="first frames of each validation clip")
    d.add_argument("--max-clips", type=int, default=None, help="use only the first N training clips")
    d.add_argument("--batch-size", type=int, default=batch, help=f"per process (default {batch})")
    d.add_argument("--crop", type=_size, default=(224, 224), help="random crop HxW (default 224x224)")
    d.add_argument("--scale", type=_range, default=(0.875, 1.25), help="resize range (default 0.875,1.25)")
    d.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    d.add_argument("--no-colour", action="store_true", help="no photometric distortion")
    d.add_argument("--cache", action="store_true", help="keep decoded training frames in memory")
    d.add_argument(
        "--data-threads",
        type=int,
        default=0,
        help="threads preparing the next batches during a step (same batches; 0: none, best on 2 cores)",
    )
    o = p.add_argument_group("optimisation")
    o.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate (default {lr:g})")
    o.add_argument("--weight-decay", type=float, default=0.05)
    o.add_argument("--backbone-lr-mult", type=float, default=1.0, help="official 0.1 (pre-trained)")
    o.add_argument("--warmup-steps", type=int, default=0)
    o.add_argument("--clip-grad", type=float, default=0.01, help="full-model grad-norm clip (<=0: off)")
    o.add_argument("--num-points", type=int, default=12544, help="points per mask in the loss")
    o.add_argument("--no-deep-supervision", action="store_true", help="final decoder stage only")
    r = p.add_argument_group("run")
    r.add_argument("--out", default=out_default, help=f"run folder (default {out_default})")
    r.add_argument("--max-steps", type=int, default=1000, help="steps; defines the poly schedule")
    r.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="training-time budget: stop (and anneal the LR to 0) when it is spent",
    )
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is best on busy cores)")
    r.add_argument(
        "--amp",
        choices=["auto", "bf16", "fp16", "on", "off"],
        default="auto",
        help="mixed precision: auto = bf16 autocast on CUDA, off on the CPU; fp16 (= on) CUDA only, with "
        "loss scaling; bf16 also runs on the CPU (slower than float32 there)",
    )
    r.add_argument("--log-every", type=int, default=10)
    r.add_argument("--val-every", type=int, default=500, help="steps between validations (0: at the end)")
    r.add_argument("--ckpt-minutes", type=float, default=10.0, help="minutes between checkpoints")
    r.add_argument("--resume", action="store_true", help="continue from <out>/last when present")
    r.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="end this session after N steps (schedule unchanged; continue with --resume)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--export-to", default=None, help="also write the result into this model bundle")


def _configs(args: argparse.Namespace) -> dict[str, Any]:
    from mpvss_core.modeling.criterion import CriterionConfig
    from mpvss_core.train.common import DataConfig
    from mpvss_core.train.data import AugConfig
    from mpvss_core.train.loop import LoopConfig, OptimConfig

    if args.data_threads < 0:
        raise InputError(f"--data-threads must be >= 0, got {args.data_threads}")
    for name in ("batch_size", "max_steps", "val_clips", "val_frames", "log_every", "num_points"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise InputError(f"--max-minutes must be > 0, got {args.max_minutes}")
    aug = AugConfig(crop=args.crop, scale=args.scale, flip=not args.no_flip, colour=not args.no_colour)
    return {
        "data": DataConfig(
            root=args.data,
            split=args.split,
            val_split=args.val_split,
            val_clips=args.val_clips,
            val_frames=args.val_frames,
            max_clips=args.max_clips,
            batch_size=args.batch_size,
            cache=args.cache,
            threads=args.data_threads,
            aug=aug,
        ),
        "criterion": CriterionConfig(
            num_points=args.num_points, deep_supervision=not args.no_deep_supervision
        ),
        "optim": OptimConfig(
            lr=args.lr,
            weight_decay=args.weight_decay,
            backbone_lr_mult=args.backbone_lr_mult,
            warmup_steps=args.warmup_steps,
            clip_grad=args.clip_grad,
        ),
        "loop": LoopConfig(
            out_dir=args.out,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
            seed=args.seed,
            amp=args.amp,
            log_every=args.log_every,
            val_every=args.val_every,
            ckpt_minutes=args.ckpt_minutes,
            resume=args.resume,
            stop_after=args.stop_after,
            progress=not args.quiet,
        ),
    }


def _print_summary(summary: dict[str, Any]) -> None:
    if summary.get("rank", 0) != 0:  # under torchrun only rank 0 reports
        return
    shown = {k: v for k, v in summary.items() if k != "model"}
    print(json.dumps(shown, indent=2, default=str))


def cmd_train_segmenter(args: argparse.Namespace) -> int:
    from mpvss_core.train.data import BalanceConfig
    from mpvss_core.train.segmenter import SegmenterTrainConfig, train_segmenter

    cfg = SegmenterTrainConfig(
        preset=args.preset,
        init=args.init,
        device=args.device,
        threads=args.threads,
        val_stride=args.val_stride,
        balance=BalanceConfig(threshold=args.class_balance, focus=args.rare_crop),
        **_configs(args),
    )
    summary = train_segmenter(cfg)
    if args.export_to and summary.get("rank", 0) == 0:
        from mpvss_core.train.export import export_segmenter

        summary["exported"] = str(export_segmenter(summary["checkpoint"], args.export_to))
    _print_summary(summary)
    return 0


def cmd_train_flow(args: argparse.Namespace) -> int:
    from mpvss_core.train.flow import FlowTrainConfig, train_flow

    if args.labels not in ("gt", "none"):
        raise InputError(f"--labels must be 'gt' or 'none', got {args.labels!r}")
    cfg = FlowTrainConfig(
        method=args.method,
        segmenter=args.segmenter,
        preset=args.preset,
        labels=args.labels,
        max_gap=args.max_gap,
        reverse_pairs=args.reverse_pairs,
        flow_loss_weight=args.flow_loss_weight,
        pretrain_flow=args.pretrain_flow,
        aug_pool=args.aug_pool,
        key_cache_mb=args.key_cache_mb,
        freeze_heads=args.freeze_heads,
        init_flow=args.init_flow,
        val_interval=args.val_interval,
        device=args.device,
        threads=args.threads,
        **_configs(args),
    )
    summary = train_flow(cfg)
    if args.export_to and summary.get("rank", 0) == 0:
        from mpvss_core.train.export import export_flow

        summary["exported"] = str(export_flow(summary, args.export_to))
    _print_summary(summary)
    return 0


def cmd_train_export(args: argparse.Namespace) -> int:
    from mpvss_core.train.export import bundle_size, export_flow_run, export_segmenter

    if (args.segmenter is None) == (args.flow is None):
        raise InputError("give one of --segmenter (a stage-0 run) or --flow (a stage-1 run)")
    if args.flow is not None:
        folder = export_flow_run(args.flow, args.to)
        print(f"flow run {args.flow} -> {folder} (bundle {bundle_size(args.to) / 1e6:.1f} MB)")
        return 0
    record = {"device": args.device_label} if args.device_label else None
    folder = export_segmenter(args.segmenter, args.to, record=record, preset=args.preset)
    print(f"segmenter {args.segmenter} -> {folder} (bundle {bundle_size(args.to) / 1e6:.1f} MB)")
    return 0


def cmd_train_record(args: argparse.Namespace) -> int:
    from mpvss_core.train.export import record_eval

    rec = record_eval(args.to, args.entry, args.eval_json)
    print(f"{args.entry}: {len(rec['eval'])} evaluation result(s) recorded in {args.to}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `train segmenter` and `train flow` to the `mpvss` parser."""
    train = sub.add_parser("train", help="train the segmenter (stage 0) or a flow module (stage 1)")
    tsub = train.add_subparsers(dest="train_cmd", required=True)

    seg = tsub.add_parser(
        "segmenter",
        help="stage 0: the per-frame Mask2Former on single frames",
        description="Stage 0: train the per-frame Mask2Former segmenter on single frames of a dataset.",
    )
    seg.add_argument("--preset", default="tiny", help="model preset (default tiny)")
    seg.add_argument("--init", default=None, help="start from this checkpoint folder instead of random")
    seg.add_argument("--val-stride", type=int, default=3, help="validate on every n-th frame")
    seg.add_argument(
        "--class-balance",
        type=float,
        default=0.0,
        metavar="T",
        help="repeat-factor sampling threshold: frames showing a class seen in fewer than a fraction T "
        "of the frames are drawn more often (not in the paper; default 0 = uniform frames)",
    )
    seg.add_argument(
        "--rare-crop",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a crop is placed on the frame's rarest class (not in the paper; default 0)",
    )
    _common(seg, "runs/segmenter", lr=1e-4, batch=4)
    seg.set_defaults(func=cmd_train_segmenter)

    flow = tsub.add_parser(
        "flow",
        help="stage 1: a flow module on (key, target) pairs, segmenter frozen",
        description="Stage 1: train the flow module (+ class/mask heads) of one method on (key, target) "
        "pairs 1..--max-gap frames apart, the segmenter frozen. --labels none trains without labels: the "
        "frozen segmenter's own prediction on the target frame is the target.",
    )
    flow.add_argument(
        "--method",
        default="query_flow",
        help=" | ".join(TRAINABLE) + " | stages_S (S decoder stages): a method with its own flow module",
    )
    flow.add_argument(
        "--segmenter", required=True, help="the stage-0 model: a checkpoint folder or a model bundle"
    )
    flow.add_argument("--labels", default="gt", help="gt (dataset labels) or none (label-free adaptation)")
    flow.add_argument("--preset", default=None, help="flow-module preset (default: the segmenter's)")
    flow.add_argument("--max-gap", type=int, default=10, help="largest key -> target gap (default 10)")
    flow.add_argument(
        "--reverse-pairs", type=float, default=0.0, metavar="P",
        help="share of training pairs with the key frame AFTER the target, the direction the "
        "bi-directional methods' next key frame needs (our addition; the official sampler: 0, always "
        "forward); with exact-flow supervision, needs the synthetic scenes",
    )  # fmt: skip
    flow.add_argument(
        "--flow-loss-weight",
        type=float,
        default=0.0,
        help="weight of the exact-flow supervision (our addition, needs data with flow files such as "
        "the synthetic benchmark; default 0 = the paper's segmentation-loss-only recipe)",
    )
    flow.add_argument(
        "--pretrain-flow",
        action="store_true",
        help="pre-training on exact flow alone (our addition; synthetic data): pixel_flow's motion encoder "
        "and pixel-wise decoder FlowNet-style, without the segmenter; a query-based method's whole flow "
        "module (per-query flows weighted by where each key-frame mask lands, the pixel branch dense), "
        "with the frozen segmenter's key-frame outputs cached and no gradient through it",
    )
    flow.add_argument(
        "--aug-pool",
        type=int,
        default=None,
        metavar="N",
        help="augment each pair with one of N fixed draws of its key frame, so a frozen segmenter's "
        "key-frame outputs can be cached (default: 4 for a query-based method's --pretrain-flow, where a "
        "segmenter runs; else 0 = a fresh draw per pair)",
    )
    flow.add_argument(
        "--key-cache-mb",
        type=int,
        default=4096,
        metavar="MB",
        help="memory for the cached key-frame outputs of query-branch pre-training (default 4096)",
    )
    flow.add_argument(
        "--init-flow",
        default=None,
        metavar="MODEL",
        help="start the flow module from this model's trained one (e.g. a --pretrain-flow run): every "
        "part whose shapes fit (all of pixel_flow's; the encoder of query_flow's)",
    )
    flow.add_argument(
        "--freeze-heads",
        action="store_true",
        help="keep the segmenter's stage-0 class and mask heads (our deviation): only the flow module "
        "trains, so the propagated masks are the segmenter's own on any footage",
    )
    flow.add_argument("--val-interval", type=int, default=5, help="key-frame interval K of the validation")
    _common(flow, "runs/flow", lr=1e-4, batch=4)
    flow.set_defaults(func=cmd_train_flow)

    exp = tsub.add_parser(
        "export",
        help="write a stage-0 or stage-1 run checkpoint into a model bundle (float16) with its record",
    )
    exp.add_argument("--segmenter", default=None, help="stage-0 run checkpoint, e.g. runs/segmenter/last")
    exp.add_argument(
        "--flow", default=None, help="stage-1 run checkpoint, e.g. runs/flow/last (a run without --export-to)"
    )
    exp.add_argument("--to", default="assets/models/default", help="bundle folder")
    exp.add_argument(
        "--preset", default=None, help="flow-module preset of the stored model (default: its own)"
    )
    exp.add_argument("--device-label", default=None, help="device to record when the run did not")
    exp.set_defaults(func=cmd_train_export)

    rec = tsub.add_parser("record", help="store `mpvss eval --json` results next to a bundle entry")
    rec.add_argument("--to", default="assets/models/default", help="bundle folder")
    rec.add_argument("--entry", required=True, help="'segmenter' or a method name")
    rec.add_argument("--eval-json", required=True, help="the file written by `mpvss eval --json`")
    rec.set_defaults(func=cmd_train_record)
