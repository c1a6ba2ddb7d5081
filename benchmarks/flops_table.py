"""Table III of the supplementary: key vs non-key GFLOPs (fvcore convention) and parameters, ours vs paper.

    python benchmarks/flops_table.py

Counts the paper-scale presets on fake tensors (no real forward, no memory): key and non-key frames at
480x853 (VSPW, 124 classes) and 1024x2048 (Cityscapes, 19 classes: the Cityscapes model's class head and
semantic einsum), the K=5 average `(key + 4 non-key) / 5` beside the README's per-frame GFLOPs, and the
parameter counts (segmenter, flow module, total) of the VSPW models beside the README's. Ends with the
tiny preset at 256x512. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import dataclasses
import time

from mpvss_core.config import NUM_CITYSCAPES_CLASSES, PAPER_PRESETS, get_preset
from mpvss_core.flops import count_parameters, frame_cost

VSPW = (480, 853)
CITYSCAPES = (1024, 2048)
K = 5
BACKBONE = {"swin_t": "Swin-T", "swin_s": "Swin-S", "swin_b": "Swin-B", "swin_l": "Swin-L"}
# Supplementary Table III (GFLOPs); non-key is one number for all backbones
PAPER_KEY = {
    "vspw": {"swin_t": 114.4, "swin_s": 152.2, "swin_b": 223.5, "swin_l": 402.7},
    "cityscapes": {"swin_t": 543.6, "swin_s": 730.1, "swin_b": 1057.0, "swin_l": 1911.3},
}
PAPER_NON_KEY = {"vspw": 21.0, "cityscapes": 84.0}
# README / main paper Tables 1-2: K-averaged GFLOPs and MPVSS params (M); Swin-T 114.0 M is suspect
PAPER_AVG = {
    "vspw": {"swin_t": 39.7, "swin_s": 47.3, "swin_b": 61.5, "swin_l": 97.3},
    "cityscapes": {"swin_t": 175.9, "swin_s": 213.2, "swin_b": 278.6, "swin_l": 449.5},
}
PAPER_PARAMS = {"swin_t": 114.0, "swin_s": 108.0, "swin_b": 147.0, "swin_l": 255.4}


def _cityscapes(cfg):
    seg = dataclasses.replace(cfg.segmenter, num_classes=NUM_CITYSCAPES_CLASSES)
    return dataclasses.replace(cfg, segmenter=seg, name=cfg.name + "-cityscapes")


def _gap(ours: float, paper: float) -> str:
    return f"{100 * (ours - paper) / paper:+6.1f}%"


def main() -> None:
    t0 = time.perf_counter()
    rows = []
    for name in PAPER_PRESETS:
        cfg = get_preset(name)
        row = {"name": name}
        for dataset, size, c in (("vspw", VSPW, cfg), ("cityscapes", CITYSCAPES, _cityscapes(cfg))):
            row[dataset] = {
                "key": frame_cost(c, size, "key").gflops("fvcore"),
                "non_key": frame_cost(c, size, "non_key").gflops("fvcore"),
            }
        row["params"] = count_parameters(cfg)
        rows.append(row)

    print("Table III: GFLOPs per frame, fvcore convention (1 per multiply-add), batch 1")
    for dataset, size in (("vspw", VSPW), ("cityscapes", CITYSCAPES)):
        classes = 124 if dataset == "vspw" else NUM_CITYSCAPES_CLASSES
        print(f"\n{dataset.upper()} {size[0]}x{size[1]} ({classes} classes)")
        print(
            f"{'backbone':9} {'key ours':>9} {'paper':>7} {'gap':>7}   "
            f"{'non-key ours':>12} {'paper':>6} {'gap':>7}   "
            f"{'K=5 avg ours':>12} {'paper':>6} {'gap':>7}"
        )
        for row in rows:
            name, r = row["name"], row[dataset]
            key, non_key = r["key"], r["non_key"]
            avg = (key + (K - 1) * non_key) / K
            pk, pn, pa = PAPER_KEY[dataset][name], PAPER_NON_KEY[dataset], PAPER_AVG[dataset][name]
            print(
                f"{BACKBONE[name]:9} {key:9.1f} {pk:7.1f} {_gap(key, pk)}   "
                f"{non_key:12.1f} {pn:6.1f} {_gap(non_key, pn)}   "
                f"{avg:12.1f} {pa:6.1f} {_gap(avg, pa)}"
            )

    print("\nParameters (M), VSPW models (124 classes); paper = README MPVSS totals")
    print(f"{'backbone':9} {'segmenter':>9} {'flow':>7} {'total':>7} {'paper':>7} {'gap':>7}")
    for row in rows:
        p = {k: v / 1e6 for k, v in row["params"].items()}
        pp = PAPER_PARAMS[row["name"]]
        note = "  (paper value suspect, notes 1.11)" if row["name"] == "swin_t" else ""
        print(
            f"{BACKBONE[row['name']]:9} {p['segmenter']:9.2f} {p['flow']:7.2f} {p['total']:7.2f} {pp:7.1f} "
            f"{_gap(p['total'], pp)}{note}"
        )

    tiny = get_preset("tiny")
    key, non_key = frame_cost(tiny, (256, 512), "key"), frame_cost(tiny, (256, 512), "non_key")
    p = {k: v / 1e6 for k, v in count_parameters(tiny).items()}
    print("\nTiny preset, 256x512 (18 classes)")
    for conv in ("fvcore", "torch"):
        k, n = key.gflops(conv), non_key.gflops(conv)
        print(f"  {conv:6}: key {k:.3f} G, non-key {n:.3f} G, non-key/key {n / k:.3f}")
    print(f"  params: segmenter {p['segmenter']:.2f} M, flow {p['flow']:.2f} M, total {p['total']:.2f} M")
    parts = non_key.breakdown()
    print("  non-key parts (fvcore G): " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()))
    print(f"\n(counted on fake tensors in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
