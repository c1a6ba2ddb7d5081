"""How far can warping key-frame masks go with perfect motion? Propagation by the EXACT flow.

    python scripts/oracle_propagation.py --model default --data synthetic:val --intervals 2,5,10

The key frames' per-query mask logits are warped to each non-key frame by the exact flow current ->
key (then current -> next key for the bi-directional row), exactly as `optical_flow` /
`bi_optical_flow` warp them by DIS flow: same segmenter, same semantic inference, same scoring. Only
the flow is perfect: the true motion of every pixel. What no warp can do stays undone — pixels the
key frame never saw (disocclusions, objects entering) take whatever the warp samples there, and the
key frame's own errors travel with it — so the gap between per_frame and this line is the part of
the K=5 target that better motion alone cannot close. It is not a strict upper bound for label
transfer: at a disocclusion the true motion points at the occluder, and a smooth estimated flow that
misses it can sample a better label (measured: DIS is level with it at K=2 on the shipped model).

Prints per K: the oracle's mIoU (uni and bi), per_frame and the stored methods' mIoU (`mpvss eval
--no-epe --no-tc`, the same results store), and the mean per-clip difference oracle - query_flow
with its standard error. Needs data with exact flow (the synthetic splits); not a method of the
studio because real footage has none.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator

import numpy as np

from mpvss_core.data.clip import Clip
from mpvss_core.evaluation.datasets import resolve_data
from mpvss_core.evaluation.evaluate import evaluate
from mpvss_core.evaluation.runner import run_evaluation
from mpvss_core.methods.baselines import OpticalFlow
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import resolve_model

COMPARED = ("copy", "optical_flow", "pixel_flow", "query_flow")


class ExactFlow(OpticalFlow):
    """`optical_flow` / `bi_optical_flow` with the clip's exact flow instead of DIS (set `clip` first)."""

    clip: Clip | None = None
    _index = 0

    def _predict(self, frame, index, key, nxt, diag):
        self._index = index  # the frame the next `_flow_to` calls flow from
        return super()._predict(frame, index, key, nxt, diag)

    def _flow_to(self, key, gray):
        flow, _valid = self.clip.flow(self._index, key.index)  # current -> key, HxWx2 px
        return flow, 0.0


def oracle(spec, clips: Iterable[Clip], method: str, k: int, device: str = "cpu"):
    """EvalResult of the exact-flow propagation (`method` optical_flow or bi_optical_flow) at K=k."""
    propagator = ExactFlow(spec.load("per_frame", device=device), method)
    predictor = VideoPredictor.from_propagator(propagator, spec)

    def each() -> Iterator[Clip]:
        for clip in clips:
            propagator.clip = clip  # evaluate() scores one clip before it asks for the next
            yield clip

    return evaluate(predictor, each(), ScheduleSpec(k), flow_epe_metric=False, costs=False, tc=False)


def per_clip(result) -> np.ndarray:
    return result.per_clip["miou"].to_numpy(dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="synthetic:val")
    ap.add_argument("--intervals", default="2,5,10")
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    spec = resolve_model(args.model)
    data = resolve_data(args.data, max_clips=args.max_clips)

    def stored(method: str, k: int):
        return run_evaluation(
            spec, data, method, ScheduleSpec(k), device=args.device, flow_epe=False, tc=False
        )

    base = stored("per_frame", 5).summary["miou"]  # every frame a key frame at any K
    print(f"model {args.model}, {args.data} ({len(data)} clips); per_frame {base:.2f} mIoU")
    print(f"{'K':>3} {'exact uni':>9} {'exact bi':>9} " + " ".join(f"{m:>12}" for m in COMPARED)
          + f" {'exact-qf (SE)':>16}")  # fmt: skip
    for k in (int(x) for x in args.intervals.split(",")):
        uni = oracle(spec, (e.load() for e in data.entries), "optical_flow", k, args.device)
        bi = oracle(spec, (e.load() for e in data.entries), "bi_optical_flow", k, args.device)
        others = {m: stored(m, k) for m in COMPARED}
        d = per_clip(uni) - per_clip(others["query_flow"])
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        print(
            f"{k:>3} {uni.summary['miou']:>9.2f} {bi.summary['miou']:>9.2f} "
            + " ".join(f"{others[m].summary['miou']:>12.2f}" for m in COMPARED)
            + f" {d.mean():>+9.2f} ± {se:.2f}"
        )


if __name__ == "__main__":
    main()
