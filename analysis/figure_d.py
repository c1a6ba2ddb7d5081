"""Figure D: the same frames segmented by uni-directional optical flow, bi-directional optical flow and
query-based flow, beside the ground truth, with each frame's mIoU.

As in Table V, the paper's optical flows are learned (FlowNet) flows, so rows (a) and (b) are
`pixel_flow` and its bi-directional fusion `bi_pixel_flow`; classical DIS flow (uni and bi) follows as
labelled extra rows. Frames: the non-key frames at distance K-1 of the first clip
(`images.chosen_frames`), where the methods differ most; bi-directional flow fuses the next key frame
there when the clip has one.
"""

from __future__ import annotations

import pandas as pd

from mpvss_core.metrics import frame_miou
from mpvss_core.viz import colorize_labels, overlay_labels

from .common import (
    K_DEFAULT,
    Artifact,
    ReproContext,
    context_data,
    fmt,
    predictor,
    setting_of,
    skip_reason,
    versus,
    weights_finding,
)
from .images import chosen_frames, image_grid, shrink
from .paper_reference import CLAIMS, SOURCES, reference

TITLE = "Figure D: uni- vs bi-directional optical flow vs query-based flow"
METHODS = {
    "pixel_flow": "(a) uni-directional OF (learned)",
    "bi_pixel_flow": "(b) bi-directional OF (learned)",
    "query_flow": "(c) query-based flow",
    "optical_flow": "extra: uni-directional DIS flow",
    "bi_optical_flow": "extra: bi-directional DIS flow",
}
BI = ("bi_pixel_flow", "bi_optical_flow")


def compute(ctx: ReproContext) -> Artifact:
    """Label maps of the three methods on the chosen frames, and their per-frame mIoU."""
    clip = context_data(ctx).entries[0].load()
    frames = chosen_frames(clip.num_frames, K_DEFAULT)
    labels: dict[str, dict[int, object]] = {}
    for i, m in enumerate(METHODS):
        ctx.report(i / len(METHODS), f"propagating {m}")
        p = predictor(ctx, m)
        if p is not None:  # random access: each frame from its key frame(s) only
            state = p.init_video(clip, K_DEFAULT)
            labels[m] = {f: p.predict_frame(state, f, diagnostics=False) for f in frames}
    methods = list(labels)

    rows, titles, table_rows = [], [], []
    rows.append([shrink(clip.frames[f]) for f in frames])
    titles.append("input frame")
    if clip.labels is not None:
        rows.append(
            [
                shrink(colorize_labels(clip.labels_at_frame_size(f), clip.palette), nearest=True)
                for f in frames
            ]
        )
        titles.append("ground truth")
    for m in methods:
        rows.append(
            [
                shrink(overlay_labels(clip.frames[f], labels[m][f].labels, clip.palette, alpha=0.6))
                for f in frames
            ]
        )
        titles.append(METHODS[m])
        for f in frames:
            r = labels[m][f]
            table_rows.append(
                {
                    "method": m,
                    "frame": f,
                    "key_frame": r.key_index,
                    "next_key_frame": r.next_key_index if r.next_key_index is not None else -1,
                    "ours_frame_miou": 100 * frame_miou(r.labels, clip.labels[f], clip.num_classes)
                    if clip.labels is not None
                    else float("nan"),
                }
            )
    table = pd.DataFrame(
        table_rows, columns=["method", "frame", "key_frame", "next_key_frame", "ours_frame_miou"]
    )
    table["paper_claim"] = CLAIMS["figure_d"]
    table["paper_source"] = SOURCES["figure_d"]
    shown = next(iter(labels.values()), {})
    cols = [f"frame {f} (key {shown[f].key_index})" if f in shown else f"frame {f}" for f in frames]
    fig = image_grid(rows, titles, cols, TITLE)

    findings = weights_finding(ctx)
    for m in METHODS:
        if m not in labels:
            findings.append(f"{m} skipped: {skip_reason(ctx, m)}.")
    mean = table.groupby("method")["ours_frame_miou"].mean()
    for other in ("pixel_flow", "bi_pixel_flow", "optical_flow", "bi_optical_flow"):
        if "query_flow" in mean and other in mean:
            findings.append(
                versus(
                    f"Mean mIoU of the shown frames, query-based flow vs {other}",
                    (mean["query_flow"], mean[other]),
                    ("query_flow", other),
                    1,
                    "(shown qualitatively in Figure D)",
                )
            )
    for bi in (b for b in BI if b in labels):
        fused = int((table.loc[table["method"] == bi, "next_key_frame"] >= 0).sum())
        findings.append(
            f"{bi} fused a next key frame on {fused} of {len(frames)} shown frames "
            f"(mean shown-frame mIoU {fmt(mean.get(bi, float('nan')), 2)})."
        )
    setting = setting_of(
        ctx,
        None,
        K=K_DEFAULT,
        clip=clip.name,
        frames_shown=frames,
        resolution=f"{clip.size[0]}x{clip.size[1]}",
    )
    ctx.report(1.0, "done")
    return Artifact(
        "figure_d",
        TITLE,
        {"frames": table, "paper": reference("figure_d")},
        {"comparison": fig},
        setting,
        findings,
    )
