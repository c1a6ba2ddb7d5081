"""The Compare page's work on an uploaded-style clip, without and with key frames shared between methods
(prints figures; asserts nothing).

    python benchmarks/compare_page.py [--model default] [--methods per_frame,copy,optical_flow,query_flow]
                                      [--frames 60] [--size 480x640] [--interval 5] [--rounds 1]
                                      [--modes before,after] [--threads N] [--device cpu]

The clip is the real-world-style table scene of `tests/footage.py` (no labels, like an upload), so the
methods are scored against the per-frame reference, as the page does. Each mode does what the Compare
page does for a new clip: for every method, in the page's order, `run_evaluation` with `keep_labels`
(labels kept, TC scored, no flow EPE, FLOPs counted) into a fresh results store, with the app's model
sharing (one loaded model per `ModelSpec.method_identity`: the segmenter-only methods share one copy):

- `before`: key frames not shared (`shared_keys_off()`): every method, and the per-frame reference,
  runs the segmenter on its own key frames (the behaviour before issue 22);
- `after`: key frames shared (`methods.shared_keys`, emptied first): a frame is segmented once per
  model identity (the reference pass and per_frame, copy, optical_flow share; query_flow runs its own
  retrained heads).

The unit is one per_frame pass: the wall time of `per_frame` propagating the clip alone (segmenter on
every frame, no scoring), measured in the same process after the same warm-up. Printed per mode: the
wall time, its multiple of one per_frame pass (issue 22's goal: at most 1.5x after) and the number of
segmenter runs (`MPVSS.segment_key` calls: deterministic, unlike the times). With `--rounds R` the
modes and the per_frame pass are run round-robin R times and the median of each is kept. Models are
loaded and FLOPs counted (cached) by an untimed warm-up on the first K+1 frames. Times on a loaded
machine are noise; the segmenter counts are not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.footage, run as a script

from mpvss_core.data.clip import Clip  # noqa: E402
from mpvss_core.evaluation.costs import device_description  # noqa: E402
from mpvss_core.evaluation.datasets import DataSet  # noqa: E402
from mpvss_core.evaluation.runner import run_evaluation  # noqa: E402
from mpvss_core.evaluation.store import ResultStore  # noqa: E402
from mpvss_core.methods import parse_methods  # noqa: E402
from mpvss_core.methods.shared_keys import SHARED_KEYS, shared_keys_off  # noqa: E402
from mpvss_core.modeling.mpvss import MPVSS  # noqa: E402
from mpvss_core.predictor import VideoPredictor  # noqa: E402
from mpvss_core.schedules import ScheduleSpec  # noqa: E402
from mpvss_core.spec import resolve_model  # noqa: E402
from tests.footage import table_clip  # noqa: E402

MODES = ("before", "after")


class Counter:
    """Counts `MPVSS.segment_key` calls (every model object) while installed."""

    def __init__(self) -> None:
        self.calls = 0
        self._original = MPVSS.segment_key

    def __enter__(self) -> Counter:
        original = self._original

        def counted(model, *args, **kwargs):
            self.calls += 1
            return original(model, *args, **kwargs)

        MPVSS.segment_key = counted
        return self

    def __exit__(self, *exc) -> None:
        MPVSS.segment_key = self._original


def upload_clip(frames: int, size: tuple[int, int], class_names: tuple[str, ...]) -> tuple[Clip, str]:
    """The table scene as a decoded upload (no labels) and its content id."""
    clip = Clip(name="table", frames=table_clip(frames, size), labels=None, class_names=class_names, fps=15.0)
    return clip, f"compare-page-bench-{frames}-{size[0]}x{size[1]}"


def page_work(spec, clip: Clip, digest: str, methods: list[str], interval: int, device: str, models: dict):
    """The Compare page's predictions of `methods` on a new clip -> ({method: wall s}, segmenter runs)."""
    data = DataSet.from_clip(clip, digest)
    per_method = {}
    with tempfile.TemporaryDirectory() as root, Counter() as counter:
        store = ResultStore(root)  # nothing read back: every evaluation runs
        for m in methods:
            identity = spec.method_identity(m)
            if identity not in models:
                models[identity] = spec.load(m, device=device)
            predictor = VideoPredictor(spec, m, device=device, model=models[identity])
            t0 = time.perf_counter()
            run_evaluation(spec, data, m, ScheduleSpec(interval), device=device, store=store, flow_epe=False,
                           keep_labels=True, predictor=predictor)  # fmt: skip
            per_method[m] = time.perf_counter() - t0
    return per_method, counter.calls


def per_frame_pass(spec, clip: Clip, device: str, models: dict) -> tuple[float, int]:
    """Wall seconds of per_frame alone over the clip (no scoring, no sharing), segmenter runs."""
    model = models.setdefault(spec.method_identity("per_frame"), spec.load("per_frame", device=device))
    predictor = VideoPredictor(spec, "per_frame", device=device, model=model, share_keys=False)
    with Counter() as counter:
        t0 = time.perf_counter()
        for _ in predictor.propagate(predictor.init_video(clip, 1)):
            pass
        return time.perf_counter() - t0, counter.calls


def run_mode(mode: str, *args) -> tuple[dict[str, float], int]:
    SHARED_KEYS.clear()
    if mode == "before":
        with shared_keys_off():
            return page_work(*args)
    return page_work(*args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--methods", default="per_frame,copy,optical_flow,query_flow")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--size", default="480x640", help="HxW of the clip (default 480x640: 640x480 WxH)")
    ap.add_argument("--interval", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES), help="before, after or both")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        ap.error(f"--modes takes {', '.join(MODES)}")
    h, w = (int(v) for v in args.size.lower().split("x"))
    spec = resolve_model(args.model)
    methods = [m for m in parse_methods(args.methods) if spec.can_run(m)]
    clip, digest = upload_clip(args.frames, (h, w), spec.class_names)
    models: dict = {}

    # untimed warm-up at the clip's size: model loads, FLOP counts (cached), one short run of each method.
    # FLOPs are counted after inference, as evaluations do: counting a model that never ran leaves a
    # fake tensor in its position-token cache (motion_decoder.position_tokens), which breaks inference
    warm, warm_digest = upload_clip(min(args.frames, args.interval + 1), (h, w), spec.class_names)
    run_mode("before", spec, warm, warm_digest, methods, args.interval, args.device, models)

    base_runs, runs = [], {m: [] for m in modes}
    calls = {}
    for _ in range(args.rounds):
        base_s, base_calls = per_frame_pass(spec, clip, args.device, models)
        base_runs.append(base_s)
        for mode in modes:
            per_method, calls[mode] = run_mode(mode, spec, clip, digest, methods, args.interval, args.device,
                                               models)  # fmt: skip
            runs[mode].append(per_method)
    SHARED_KEYS.clear()

    base = statistics.median(base_runs)
    print(
        f"Compare page on a {args.frames}-frame {w}x{h} (WxH) unlabelled clip, K={args.interval}, "
        f"model {args.model}, methods {', '.join(methods)}; median of {args.rounds} round(s)"
    )
    print(f"device: {device_description(args.device)}, torch {torch.__version__}")
    print(f"one per_frame pass: {base:.2f} s wall, {base_calls} segmenter runs")
    head = f"{'mode':<8} {'wall s':>8} {'x per_frame pass':>16} {'segmenter runs':>14}   per method (s)"
    print(head)
    print("-" * len(head))
    for mode in modes:
        total = statistics.median(sum(r.values()) for r in runs[mode])
        each = {m: statistics.median(r[m] for r in runs[mode]) for m in methods}
        detail = ", ".join(f"{m} {s:.2f}" for m, s in each.items())
        print(f"{mode:<8} {total:>8.2f} {total / base:>16.2f} {calls[mode]:>14}   {detail}")
    print("goal (issue 22): after <= 1.5x one per_frame pass")


if __name__ == "__main__":
    main()
