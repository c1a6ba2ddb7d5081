"""How well each learned method's flows move the key-frame masks: mask-weighted end-point error against
the exact flow of written synthetic val pairs (prints figures; asserts nothing).

    python benchmarks/flow_error.py [--model default] [--data data/synth] [--clips 3] [--threads 1]
        [--methods query_flow,pixel_flow,...] [--gaps 1,2,5,9] [--direction forward|backward]

For every (key, target) pair (target - key = each gap, at three places per clip) and every method it
runs segment_key + propagate and reports the error `modeling/flow_loss.flow_supervision_loss` trains
on: per query, |flow - exact| on the 1/8 flow grid, weighted by where the query's key mask lands in the
target frame and by its object probability. Columns: the final (fused) flow, the query branch, the
pixel branch, and "zero" = the same error for a flow of 0 (what copying the key frame does), so
fused / zero < 1 means the flow module moves masks better than not moving them. Units: pixels of the
1/8 grid (x8 for image pixels). Needs a split written by `mpvss data synth` (it reads the stored
per-frame flow files).

`--direction backward` puts the key frame AFTER the target (key = target + gap), as the
bi-directional methods use their next key frame. Training only ever sees forward pairs (key before
target), so this measures the direction no flow module was trained on; its exact flow is rendered
from the clip's scene (`FrameDataset.pair_flow`), as the stored flows only chain backward.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from mpvss_core.labels import SYNTH_CLASSES
from mpvss_core.modeling.flow_loss import flow_supervision_loss
from mpvss_core.spec import resolve_model
from mpvss_core.train.data import FrameDataset

METHODS = "query_flow,pixel_flow,query_learned,query_flow_noinit,stages_1,stages_2,stages_4"


def to_batch(image) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


@torch.no_grad()
def pair_errors(model, ds: FrameDataset, clip: int, key: int, target: int) -> dict[str, float]:
    key_img, _ = ds.read(clip, key, with_label=False)
    tgt_img, _ = ds.read(clip, target, with_label=False)
    flow, valid = ds.pair_flow(clip, key, target)  # rendered from the scene when the key comes after
    state = model.segment_key(to_batch(key_img))
    prop = model.propagate(state, to_batch(tgt_img), return_flows=True)
    context = (flow[None], valid[None], state.class_logits, state.mask_logits, model.cfg.warp_mode)
    out = {"fused": flow_supervision_loss(prop.flow, *context).item()}
    out["zero"] = flow_supervision_loss(torch.zeros_like(prop.flow), *context).item()
    for name in ("query_flow", "pixel_flow"):
        branch = getattr(prop, name)
        out[name.split("_")[0]] = (
            flow_supervision_loss(branch, *context).item() if branch is not None else None
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="data/synth", help="a written synthetic root (with val.txt)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--gaps", default="1,2,5,9")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--direction", choices=("forward", "backward"), default="forward",
                    help="key before the target (as trained) or after it (a next key frame)")  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = FrameDataset.open(args.data, args.split, num_classes=len(SYNTH_CLASSES))
    gaps = [int(g) for g in args.gaps.split(",")]
    print(
        f"model {args.model}, {args.data} {args.split}: {args.clips} clips, gaps {gaps}, {args.direction} "
        "pairs; EPE in 1/8-grid px"
    )
    header = " ".join(f"{h:>7s}" for h in ("fused", "query", "pixel", "zero"))
    print(f"{'method':18s} {'gap':>4s} {header} {'fused/zero':>10s}")
    spec = resolve_model(args.model)
    for method in args.methods.split(","):
        model = spec.load(method)
        by_gap: dict[str, list[dict[str, float]]] = {}
        for gap in gaps:
            rows = by_gap.setdefault(str(gap), [])
            for clip in range(min(args.clips, len(ds.clips))):
                last = len(ds.clips[clip].frames) - 1 - gap
                for first in sorted({0, last // 2, last}):
                    forward = args.direction == "forward"
                    key, target = (first, first + gap) if forward else (first + gap, first)
                    rows.append(pair_errors(model, ds, clip, key, target))
        by_gap["all"] = [r for rows in list(by_gap.values()) for r in rows]
        for label, rows in by_gap.items():
            cells = []
            for column in ("fused", "query", "pixel", "zero"):
                vals = [r[column] for r in rows if r[column] is not None]
                cells.append(f"{statistics.mean(vals):7.3f}" if vals else f"{'-':>7s}")
            ratio = statistics.mean(r["fused"] for r in rows) / statistics.mean(r["zero"] for r in rows)
            print(f"{method:18s} {label:>4s} {' '.join(cells)} {ratio:10.3f}")


if __name__ == "__main__":
    main()
