"""Table III: GFLOPs of a key and a non-key frame (fvcore convention), paper-scale presets and our model.

Counted on fake tensors (`mpvss_core.evaluation.flops`, cached by `evaluation.costs.frame_gflops`), so
the Swin-L model at 1024x2048 costs seconds and no memory: VSPW at 480x853 (124 classes) and Cityscapes at
1024x2048 (19 classes: the Cityscapes model's class head and semantic einsum), plus the `--model`
we evaluate at 256x512. `benchmarks/flops_table.py` prints the same numbers from `paper_scale_costs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px

from mpvss_core.checkpoints.checkpoint import build_model
from mpvss_core.config import NUM_CITYSCAPES_CLASSES, NUM_VSPW_CLASSES, PAPER_PRESETS, MPVSSConfig, get_preset
from mpvss_core.evaluation.costs import FLOPS_UNIT, frame_gflops
from mpvss_core.evaluation.flops import count_parameters
from mpvss_core.spec import ModelSpec

from .common import K_DEFAULT, Artifact, ReproContext, fmt
from .paper_reference import (
    PAPER_AVG,
    PAPER_KEY,
    PAPER_NON_KEY,
    PAPER_PARAMS,
    PRESET_BACKBONE,
    SOURCES,
    reference,
)

TITLE = "Table III: computational cost of a key and a non-key frame"
DATASETS = {"vspw": ((480, 853), NUM_VSPW_CLASSES), "cityscapes": ((1024, 2048), NUM_CITYSCAPES_CLASSES)}
OUR_SIZE = (256, 512)


def _with_classes(cfg: MPVSSConfig, classes: int) -> MPVSSConfig:
    if cfg.segmenter.num_classes == classes:
        return cfg
    seg = dataclasses.replace(cfg.segmenter, num_classes=classes)
    return dataclasses.replace(cfg, segmenter=seg, name=f"{cfg.name}-{classes}cls")


def _costs(cfg: MPVSSConfig, size: tuple[int, int], non_key: bool = True) -> dict[str, float]:
    model = build_model(cfg, device="meta")  # shapes only: nothing is allocated
    key = frame_gflops(model, size, "key")
    nk = frame_gflops(model, size, "non_key") if non_key else np.nan
    return {
        "ours_gflops_key": key,
        "ours_gflops_nonkey": nk,
        "ours_gflops_avg_k5": (key + (K_DEFAULT - 1) * nk) / K_DEFAULT,
        "ours_nonkey_key_ratio": nk / key,
        "ours_params_m": count_parameters(model)["total"] / 1e6,
    }


def paper_scale_costs(
    presets: Sequence[str] = PAPER_PRESETS, datasets: Sequence[str] = tuple(DATASETS), progress=None
) -> pd.DataFrame:
    """Key / non-key / K=5 average GFLOPs and params of paper-scale presets, beside the paper's.

    Returns:
        One row per (dataset, preset): dataset, resolution, classes, backbone, ours_* and paper_* columns.
    """
    rows, todo = [], [(d, p) for d in datasets for p in presets]
    for i, (dataset, name) in enumerate(todo):
        if progress is not None:
            progress(i / len(todo), f"FLOPs {name} {dataset}")
        size, classes = DATASETS[dataset]
        bb = PRESET_BACKBONE[name]
        row = {
            "dataset": dataset,
            "resolution": f"{size[0]}x{size[1]}",
            "classes": classes,
            "model": name,
            "backbone": bb,
            **_costs(_with_classes(get_preset(name), classes), size),
        }
        key, nk = PAPER_KEY[dataset][bb], PAPER_NON_KEY[dataset]
        row.update(
            paper_gflops_key=key,
            paper_gflops_nonkey=nk,
            paper_gflops_avg_k5=PAPER_AVG[dataset][bb],
            paper_nonkey_key_ratio=nk / key,
            paper_params_m=PAPER_PARAMS[bb] if dataset == "vspw" else np.nan,
            paper_source=SOURCES["table_3"],
        )
        rows.append(row)
    return pd.DataFrame(rows)


def our_model_costs(spec: ModelSpec) -> pd.DataFrame:
    """The same columns for `--model` (its query_flow variant, else its segmenter) at 256x512."""
    method = "query_flow" if spec.can_run("query_flow") else "per_frame"
    cfg = spec.config(method)
    row = {
        "dataset": "synthetic",
        "resolution": f"{OUR_SIZE[0]}x{OUR_SIZE[1]}",
        "classes": cfg.segmenter.num_classes,
        "model": f"{spec.label} ({cfg.name}, {method})",
        "backbone": "ours",
        **_costs(cfg, OUR_SIZE, non_key=method == "query_flow"),
        "paper_source": "",
    }
    return pd.DataFrame([row])


def compute(
    ctx: ReproContext, presets: Sequence[str] = PAPER_PRESETS, datasets: Sequence[str] = tuple(DATASETS)
) -> Artifact:
    """Table III (fewer presets/datasets only to save time, e.g. in tests)."""
    scale = 0.9 / max(len(presets) * len(datasets), 1)
    table = paper_scale_costs(presets, datasets, lambda f, m: ctx.report(f * 0.9, m))
    ctx.report(0.9 + scale, f"FLOPs of {ctx.model.label}")
    table = pd.concat([table, our_model_costs(ctx.model)], ignore_index=True)
    ctx.report(1.0, "FLOPs done")

    long = table.melt(
        id_vars=["dataset", "model"],
        value_vars=["ours_gflops_key", "ours_gflops_nonkey"],
        var_name="frame",
        value_name="gflops",
    )
    long["frame"] = long["frame"].map({"ours_gflops_key": "key frame", "ours_gflops_nonkey": "non-key frame"})
    fig = px.bar(
        long,
        x="model",
        y="gflops",
        color="frame",
        barmode="group",
        facet_col="dataset",
        log_y=True,
        title=TITLE + " (ours, fvcore GFLOPs)",
        labels={"gflops": "GFLOPs"},
    )
    fig.update_xaxes(matches=None)

    findings = []
    paper = table[table["backbone"] != "ours"]
    for dataset, part in paper.groupby("dataset", sort=False):
        gap = (part["ours_gflops_key"] / part["paper_gflops_key"] - 1).abs().max()
        nk = part["ours_gflops_nonkey"]
        findings.append(
            f"{dataset}: our key-frame GFLOPs are within {100 * gap:.1f} % of the paper's for "
            f"{', '.join(part['backbone'])}; non-key {fmt(nk.min())}-{fmt(nk.max())} vs the paper's "
            f"{PAPER_NON_KEY[dataset]} for every backbone "
            + (
                "(agrees: one non-key cost whatever the backbone)."
                if nk.max() - nk.min() < 0.05 * nk.max()
                else "(differs: the non-key cost varies with the backbone)."
            )
        )
        ratio, pratio = part["ours_nonkey_key_ratio"], part["paper_nonkey_key_ratio"]
        findings.append(
            f"{dataset}: a non-key frame costs {100 * ratio.min():.0f}-{100 * ratio.max():.0f} % of a key "
            "frame "
            f"(paper {100 * pratio.min():.0f}-{100 * pratio.max():.0f} %): "
            + ("agrees." if (ratio < 1).all() else "differs.")
        )
    ours = table.iloc[-1]
    if np.isfinite(ours["ours_gflops_nonkey"]):
        findings.append(
            f"Our model at {ours['resolution']}: key {fmt(ours['ours_gflops_key'], 3)} G, non-key "
            f"{fmt(ours['ours_gflops_nonkey'], 3)} G ({100 * ours['ours_nonkey_key_ratio']:.1f} % of a key "
            "frame)."
        )
    else:
        findings.append(f"Our model {ctx.model.label!r} has no query_flow weights: key-frame cost only.")
    setting = {
        "model": ctx.model.label,
        "random_weights": ctx.model.random_init,
        "data": "none (FLOPs on fake tensors)",
        "resolution": {d: DATASETS[d][0] for d in datasets} | {"ours": OUR_SIZE},
        "K": K_DEFAULT,
        "device": "none (counted, not run)",
        "flops_unit": FLOPS_UNIT,
        "presets": list(presets),
    }
    return Artifact(
        "table_3",
        TITLE,
        {"table_3": table, "paper": reference("table_3")},
        {"gflops": fig},
        setting,
        findings,
    )
