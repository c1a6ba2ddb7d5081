"""Table III of the supplementary: key vs non-key GFLOPs (fvcore convention) and parameters, ours vs paper.

    python benchmarks/flops_table.py

Counts the paper-scale presets on fake tensors (no real forward, no memory) with
`analysis.table_3.paper_scale_costs` (what `mpvss reproduce table_3` shows): key and non-key frames at
480x853 (VSPW, 124 classes) and 1024x2048 (Cityscapes, 19 classes: the Cityscapes model's class head and
semantic einsum), the K=5 average `(key + 4 non-key) / 5` beside the README's per-frame GFLOPs, and the
parameter counts (segmenter, flow module, total) of the VSPW models beside the README's. Ends with the
tiny preset at 256x512. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import time

from analysis.paper_reference import PAPER_PARAMS, PRESET_BACKBONE
from analysis.table_3 import DATASETS, paper_scale_costs
from mpvss_core.config import PAPER_PRESETS, get_preset
from mpvss_core.evaluation.flops import count_parameters, frame_cost


def _gap(ours: float, paper: float) -> str:
    return f"{100 * (ours - paper) / paper:+6.1f}%"


def main() -> None:
    t0 = time.perf_counter()
    table = paper_scale_costs(PAPER_PRESETS)

    print("Table III: GFLOPs per frame, fvcore convention (1 per multiply-add), batch 1")
    for dataset, part in table.groupby("dataset", sort=False):
        size, classes = DATASETS[dataset]
        print(f"\n{dataset.upper()} {size[0]}x{size[1]} ({classes} classes)")
        print(
            f"{'backbone':9} {'key ours':>9} {'paper':>7} {'gap':>7}   "
            f"{'non-key ours':>12} {'paper':>6} {'gap':>7}   "
            f"{'K=5 avg ours':>12} {'paper':>6} {'gap':>7}"
        )
        for r in part.itertuples():
            key, non_key, avg = r.ours_gflops_key, r.ours_gflops_nonkey, r.ours_gflops_avg_k5
            pk, pn, pa = r.paper_gflops_key, r.paper_gflops_nonkey, r.paper_gflops_avg_k5
            print(
                f"{r.backbone:9} {key:9.1f} {pk:7.1f} {_gap(key, pk)}   "
                f"{non_key:12.1f} {pn:6.1f} {_gap(non_key, pn)}   "
                f"{avg:12.1f} {pa:6.1f} {_gap(avg, pa)}"
            )

    print("\nParameters (M), VSPW models (124 classes); paper = README MPVSS totals")
    print(f"{'backbone':9} {'segmenter':>9} {'flow':>7} {'total':>7} {'paper':>7} {'gap':>7}")
    for name in PAPER_PRESETS:
        p = {k: v / 1e6 for k, v in count_parameters(get_preset(name)).items()}
        bb = PRESET_BACKBONE[name]
        pp = PAPER_PARAMS[bb]
        note = "  (paper value suspect, docs/method-notes.md §1.11)" if name == "swin_t" else ""
        print(
            f"{bb:9} {p['segmenter']:9.2f} {p['flow']:7.2f} {p['total']:7.2f} {pp:7.1f} "
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
    print(f"\n(counted on fake tensors in {time.perf_counter() - t0:.0f} s; paper-scale counts are cached)")


if __name__ == "__main__":
    main()
