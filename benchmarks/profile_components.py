"""Where the time of a key and a non-key frame goes, component by component (prints figures; asserts
nothing).

    python benchmarks/profile_components.py [--model default] [--method query_flow] [--interval 5]
                                            [--frames 30] [--rounds 3] [--threads 1] [--device cpu]
                                            [--batch-segment] [--prune T]

Runs the method on the first clip of `--data` through its VideoPredictor `--rounds` times and times
every component with hooks (synchronised on CUDA): the segmenter; the flow module's input preparation,
motion encoder (FlowNetS), motion-decoder stages (the joint-attention layers), query-flow head,
pixel-flow decoder and fusion; the warping of the mask logits; semantic inference (mask upsampling,
class scores) and the argmax to a label map. Prints the median per frame of each (key and non-key
frames separately), each one's share of the frame's model time, and the part not covered by hooks
("other": Python, tensor conversions, copies).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict

import torch

from mpvss_core.evaluation.costs import device_description
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.modeling import semantic as semantic_module
from mpvss_core.predictor import VideoPredictor
from mpvss_core.spec import resolve_model


class Clock:
    """Accumulates seconds per component of the frame being predicted."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.frame: dict[str, float] = defaultdict(float)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def module(self, module: torch.nn.Module, name: str) -> list:
        """Time every forward of `module` under `name` (returns the hook handles)."""
        start: list[float] = []

        def pre(*_):
            self.sync()
            start.append(time.perf_counter())

        def post(*_):
            self.sync()
            self.frame[name] += time.perf_counter() - start.pop()

        return [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def function(self, owner, attr: str, name: str):
        """Time every call of `owner.attr` under `name` (a context manager restoring it)."""
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            self.sync()
            t0 = time.perf_counter()
            out = original(*args, **kwargs)
            self.sync()
            self.frame[name] += time.perf_counter() - t0
            return out

        @contextlib.contextmanager
        def patched():
            setattr(owner, attr, timed)
            try:
                yield
            finally:
                setattr(owner, attr, original)

        return patched()


def profile(
    predictor: VideoPredictor, frames, interval: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    model = predictor.model
    clock = Clock(predictor.device)
    handles = clock.module(model.segmenter, "segmenter (Swin + pixel decoder + transformer decoder)")
    flow = model.flow
    handles += clock.module(flow.encoder, "motion encoder (FlowNetS, incl. input preparation)")
    dec = flow.decoder
    if dec.transformer is not None:
        handles += clock.module(dec.transformer, "motion decoder stages (joint attention)")
        handles += clock.module(dec.query_flow_head, "query-flow head")
    if dec.pixel_decoder is not None:
        handles += clock.module(dec.pixel_decoder, "pixel-flow decoder")
    if dec.fusion is not None:
        handles += clock.module(dec.fusion, "fusion")
    per_kind: dict[str, dict[str, list[float]]] = {"key": defaultdict(list), "non-key": defaultdict(list)}
    with contextlib.ExitStack() as stack:
        stack.enter_context(clock.function(model, "_warp", "warping (grid_sample)"))
        for attr, name in (
            ("upsample_masks", "mask upsampling (reference path)"),
            ("class_scores", "class scores (reference path)"),
            ("scores_to_labels", "argmax (reference path)"),
            ("semantic_labels", "semantic labels (fast path)"),
        ):
            stack.enter_context(clock.function(semantic_module, attr, name))
        for _ in predictor.propagate(predictor.init_video(frames[: interval + 1], interval)):  # warm-up
            clock.frame.clear()
        for _ in range(rounds):
            for r in predictor.propagate(predictor.init_video(frames, interval)):
                kind = "key" if r.is_key else "non-key"
                parts = dict(clock.frame)
                parts["other"] = r.timings["model_s"] - sum(parts.values())
                parts["total (model time)"] = r.timings["model_s"]
                for k, v in parts.items():
                    per_kind[kind][k].append(v)
                for k in [k for k in per_kind[kind] if k not in parts]:  # a part this frame skipped
                    per_kind[kind][k].append(0.0)
                clock.frame.clear()
    for h in handles:
        h.remove()
    return per_kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--method", default="query_flow")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--path", default="fast", choices=["fast", "reference"], help="inference path")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = resolve_model(args.model)
    predictor = VideoPredictor(spec, args.method, device=args.device, path=args.path, share_keys=False)
    clip = next(resolve_data(args.data, max_clips=1).clips())
    frames = clip.frames[: args.frames]
    per_kind = profile(predictor, frames, args.interval, args.rounds)
    size = frames.shape[1:3]
    print(
        f"{args.method} on {clip.name}: {len(frames)} frames at {size[0]}x{size[1]}, K={args.interval}, "
        f"batch 1, {args.rounds} round(s), {args.path} path; {device_description(args.device)}, "
        f"torch {torch.__version__}"
    )
    for kind, parts in per_kind.items():
        if not parts:
            continue
        total = statistics.median(parts["total (model time)"])
        count = len(parts["total (model time)"])
        print(f"\n{kind} frame (median over {count} frames): {1000 * total:.1f} ms")
        print(f"  {'component':<58} {'ms':>8} {'share':>7}")
        for name, values in parts.items():
            if name == "total (model time)":
                continue
            ms = 1000 * statistics.median(values)
            print(f"  {name:<58} {ms:8.2f} {100 * ms / (1000 * total):6.1f}%")
    key = statistics.median(per_kind["key"]["total (model time)"])
    if per_kind["non-key"]:
        nonkey = statistics.median(per_kind["non-key"]["total (model time)"])
        print(f"\nnon-key / key latency: {nonkey / key:.3f}")


if __name__ == "__main__":
    main()
