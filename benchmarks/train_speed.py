"""Seconds per training step of stage 0 (segmenter) and stage 1 (flow module) for a few batch / crop sizes.

    python benchmarks/train_speed.py --threads 1 --settings 4x224x224 8x128x256 --steps 4

Random images and blocky random labels (no dataset needed); the first step is a warm-up and is not
counted. On shared CPU cores use --threads 1: oversubscribed threads make steps many times slower.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.methods import method_config
from mpvss_core.modeling.criterion import CriterionConfig, SetCriterion
from mpvss_core.train.flow import FlowStep, build_stage1_model
from mpvss_core.train.loop import OptimConfig, build_optimizer
from mpvss_core.train.segmenter import SegmenterStep


def _batch(b: int, h: int, w: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.rand(b, 3, h, w) * 255
    blocks = torch.randint(0, classes, (b, h // 32 + 1, w // 32 + 1))
    labels = blocks.repeat_interleave(32, 1).repeat_interleave(32, 2)[:, :h, :w]
    return images, labels


def _time(step_fn, steps: int) -> float:
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        step_fn()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--method", default="query_flow", help="stage-1 method")
    p.add_argument("--settings", nargs="+", default=["4x224x224", "8x128x256", "4x256x512"], help="BxHxW")
    p.add_argument("--points", type=int, default=3136, help="loss points per mask")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {args.threads}, loss points {args.points}, median of {args.steps} steps")
    for setting in args.settings:
        b, h, w = (int(x) for x in setting.split("x"))
        model = build_model(args.preset)
        k = model.segmenter.num_classes
        crit = SetCriterion(k, CriterionConfig(num_points=args.points))
        images, labels = _batch(b, h, w, k)

        seg_step = SegmenterStep(model.segmenter, crit).train()
        opt = build_optimizer(list(model.segmenter.named_parameters()), OptimConfig())

        def stage0(seg_step=seg_step, opt=opt, images=images, labels=labels) -> None:
            opt.zero_grad()
            seg_step(images, labels)[0].backward()
            opt.step()

        flow_model = build_stage1_model(model, args.method, args.preset if args.preset else None)
        flow_model.freeze_segmenter().train()
        flow_step = FlowStep(flow_model, crit, None)
        opt1 = build_optimizer(list(flow_model.named_parameters()), OptimConfig())

        def stage1(flow_step=flow_step, opt1=opt1, images=images, labels=labels) -> None:
            opt1.zero_grad()
            flow_step(images, images.flip(-1), labels)[0].backward()
            opt1.step()

        s0, s1 = _time(stage0, args.steps), _time(stage1, args.steps)
        name = method_config(args.preset, args.method).name
        print(f"{setting:>12}: stage 0 {s0:6.2f} s/step   stage 1 ({name}) {s1:6.2f} s/step")


if __name__ == "__main__":
    main()
