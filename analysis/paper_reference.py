"""The paper's numbers, each with where it comes from, for the artifacts to show beside ours.

Values are transcribed from the paper's supplementary material (arXiv 2310.18954) and, where
docs/method-notes.md §2.1, §2.2 give them, the official README (main-paper Tables 1 and 2). Figures
A-D of the paper are images: only what their text states in numbers or words is here (`CLAIMS`).

    reference("table_1")      # tidy frame: backbone, item, metric, value, source
    TABLE_I["Swin-T"][3]      # 39.9
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "BACKBONES",
    "CLAIMS",
    "FIGURE_A_DROP",
    "FIGURE_B_WINS",
    "PAPER_AVG",
    "PAPER_KEY",
    "PAPER_NON_KEY",
    "PAPER_PARAMS",
    "PRESET_BACKBONE",
    "REFERENCE_BACKBONE",
    "SOURCES",
    "TABLE_I",
    "TABLE_II",
    "TABLE_IV",
    "TABLE_V",
    "TABLE_V_FLOPS",
    "VSPW_MPVSS",
    "reference",
]

BACKBONES: tuple[str, ...] = ("R50", "R101", "Swin-T", "Swin-S", "Swin-B", "Swin-L")
# Our tiny model is a small Swin + Mask2Former; Swin-T is the paper backbone closest to it, so the
# headline tables put its numbers next to ours (every backbone is in `reference(...)`).
REFERENCE_BACKBONE = "Swin-T"
PRESET_BACKBONE = {"swin_t": "Swin-T", "swin_s": "Swin-S", "swin_b": "Swin-B", "swin_l": "Swin-L"}

SOURCES = {
    "table_1": "supplementary Table I (VSPW val, mIoU %)",
    "figure_a": "supplementary A.3 text on Figure A (VSPW val)",
    "figure_b": "supplementary A.4 text on Figure B (VSPW val, Swin-L)",
    "table_2": "supplementary Table II (Cityscapes val, mIoU %)",
    "figure_c": "supplementary C text on Figure C (Cityscapes, qualitative)",
    "table_3": "supplementary Table III (GFLOPs per frame)",
    "table_3_avg": "official README / main paper Tables 1-2 (K=5 average GFLOPs)",
    "table_3_params": "official README (MPVSS params, M; Swin-T value suspect, docs/method-notes.md §1.11)",
    "table_4": "supplementary Table IV (hours, VSPW, batch 16 on 8 V100)",
    "table_5": "supplementary Table V (Cityscapes val, mIoU %; non-key GFLOPs)",
    "figure_d": "supplementary E text on Figure D (Cityscapes, qualitative)",
    "video_consistency": "official README / main paper Table 1 (VSPW val, MPVSS rows, K=5)",
}

# Table I: mIoU by number of motion-decoder stages S
TABLE_I: dict[str, dict[int, float]] = {
    "Swin-T": {1: 39.4, 2: 39.4, 3: 39.9, 4: 39.6},
    "Swin-B": {1: 51.8, 2: 52.0, 3: 52.6, 4: 51.8},
}

# Figure A text: query-based flow loses "only 0.9%, 1.3%, 1.4%, 1.5%" from K=2 to K=10 on "R50, R101,
# Swin-T, Swin-S and Swin-B" (four numbers for five backbones, so only the range is usable) and 2.7 on
# Swin-L; mIoU points.
FIGURE_A_DROP = {"query_flow_min": 0.9, "query_flow_max": 1.5, "query_flow_swin_l": 2.7}

# Figure B text: query-based flow beats optical flow in 91 of VSPW's 124 categories (Swin-L)
FIGURE_B_WINS = {"wins": 91, "categories": 124, "better": ("train", "truck"), "worse": ("sea", "water")}

# Table II: per-frame / FlowNet optical flow / query-learned / query-based flow, mIoU
TABLE_II: dict[str, dict[str, float]] = {
    "R50": {"per_frame": 79.4, "pixel_flow": 76.6, "query_learned": 77.3, "query_flow": 78.4},
    "R101": {"per_frame": 80.1, "pixel_flow": 77.7, "query_learned": 77.8, "query_flow": 78.2},
    "Swin-T": {"per_frame": 82.1, "pixel_flow": 79.6, "query_learned": 80.2, "query_flow": 80.7},
    "Swin-S": {"per_frame": 82.6, "pixel_flow": 80.4, "query_learned": 80.7, "query_flow": 81.3},
    "Swin-B": {"per_frame": 83.3, "pixel_flow": 80.5, "query_learned": 80.8, "query_flow": 81.7},
    "Swin-L": {"per_frame": 83.3, "pixel_flow": 80.7, "query_learned": 81.2, "query_flow": 81.6},
}

# Table III: GFLOPs of a key frame per backbone; the non-key frame is one number for all backbones
PAPER_KEY: dict[str, dict[str, float]] = {
    "vspw": {"R50": 110.6, "R101": 141.3, "Swin-T": 114.4, "Swin-S": 152.2, "Swin-B": 223.5, "Swin-L": 402.7},
    "cityscapes": {
        "R50": 529.9, "R101": 685.5, "Swin-T": 543.6, "Swin-S": 730.1, "Swin-B": 1057.0, "Swin-L": 1911.3,
    },
}  # fmt: skip
PAPER_NON_KEY: dict[str, float] = {"vspw": 21.0, "cityscapes": 84.0}
PAPER_AVG: dict[str, dict[str, float]] = {
    "vspw": {"R50": 38.9, "R101": 45.1, "Swin-T": 39.7, "Swin-S": 47.3, "Swin-B": 61.5, "Swin-L": 97.3},
    "cityscapes": {
        "R50": 173.2, "R101": 204.3, "Swin-T": 175.9, "Swin-S": 213.2, "Swin-B": 278.6, "Swin-L": 449.5,
    },
}  # fmt: skip
PAPER_PARAMS: dict[str, float] = {
    "R50": 84.1, "R101": 103.1, "Swin-T": 114.0, "Swin-S": 108.0, "Swin-B": 147.0, "Swin-L": 255.4,
}  # fmt: skip

# Table IV: training hours of the per-frame Mask2Former and of MPVSS (stage 1)
TABLE_IV: dict[str, dict[str, float]] = {
    "Mask2Former": {
        "R50": 11.4,
        "R101": 12.3,
        "Swin-T": 10.3,
        "Swin-S": 12.0,
        "Swin-B": 12.3,
        "Swin-L": 15.0,
    },
    "MPVSS": {"R50": 9.3, "R101": 11.5, "Swin-T": 10.2, "Swin-S": 11.1, "Swin-B": 12.2, "Swin-L": 13.4},
}

# Table V: uni- vs bi-directional optical flow vs query-based flow (mIoU), and non-key GFLOPs
# Table V's "uni- / bi-directional optical flow" are FlowNet flows (the uni column equals Table II's
# FlowNet column; 47.3 vs 89.6 GFLOPs: one and two FlowNet passes): our learned pixel-wise flow
# `pixel_flow` and its bi-directional fusion `bi_pixel_flow`
TABLE_V: dict[str, dict[str, float]] = {
    "Swin-T": {"pixel_flow": 79.6, "bi_pixel_flow": 80.2, "query_flow": 80.7},
    "Swin-B": {"pixel_flow": 80.5, "bi_pixel_flow": 81.1, "query_flow": 81.7},
}
TABLE_V_FLOPS: dict[str, float] = {"pixel_flow": 47.3, "bi_pixel_flow": 89.6, "query_flow": 84.7}

# Main paper Table 1 (README): MPVSS on VSPW val, K=5
VSPW_MPVSS: dict[str, dict[str, float]] = {
    "R50": {"miou": 37.5, "wiou": 59.0, "mvc8": 84.1, "mvc16": 77.2, "gflops_avg": 38.9, "fps": 33.93},
    "R101": {"miou": 38.8, "wiou": 59.0, "mvc8": 84.8, "mvc16": 79.6, "gflops_avg": 45.1, "fps": 32.38},
    "Swin-T": {"miou": 39.9, "wiou": 62.0, "mvc8": 85.9, "mvc16": 80.4, "gflops_avg": 39.7, "fps": 32.86},
    "Swin-S": {"miou": 40.4, "wiou": 62.0, "mvc8": 86.0, "mvc16": 80.7, "gflops_avg": 47.3, "fps": 30.61},
    "Swin-B": {"miou": 52.6, "wiou": 68.4, "mvc8": 89.5, "mvc16": 85.9, "gflops_avg": 61.5, "fps": 27.38},
    "Swin-L": {"miou": 53.9, "wiou": 69.1, "mvc8": 89.6, "mvc16": 85.8, "gflops_avg": 97.3, "fps": 23.22},
}

# What the paper states in words (the direction our findings are checked against)
CLAIMS: dict[str, str] = {
    "table_1": "mIoU rises up to S=3 decoder stages and drops at S=4 (Swin-T and Swin-B)",
    "figure_a": "copy drops noticeably as K grows; query-based flow degrades only slightly and beats "
    "optical flow at large K on R50, R101 and Swin-T",
    "figure_b": "query-based flow beats optical flow in 91 of 124 categories, e.g. dynamic 'train' and "
    "'truck'; it is worse on 'sea' and 'water'",
    "table_2": "per-frame > query-based flow > query-learned > optical flow (FlowNet) on every backbone",
    "figure_c": "query-based flow captures a segment's overall motion, pixel-wise flow adds detail; with "
    "Q_O^k initialisation the flow queries' attention focuses on particular regions",
    "table_3": "a non-key frame costs a fraction of a key frame (21.0 vs 114-403 GFLOPs on VSPW)",
    "table_4": "training MPVSS takes less time than training the per-frame Mask2Former",
    "table_5": "bi-directional optical flow beats uni-directional; query-based flow beats both with "
    "fewer non-key FLOPs than bi-directional",
    "figure_d": "query-based flow gives clearer boundaries than uni- and bi-directional optical flow",
    "video_consistency": "MPVSS is more consistent (mVC_8, mVC_16) than the per-frame baseline",
}


def _rows(name: str) -> list[dict]:
    src = SOURCES[name]
    rows: list[dict] = []

    def add(backbone: str | None, item: str, metric: str, value: float, source: str = src) -> None:
        rows.append({"backbone": backbone, "item": item, "metric": metric, "value": value, "source": source})

    if name == "table_1":
        for bb, by_s in TABLE_I.items():
            for s, v in by_s.items():
                add(bb, f"S={s}", "miou", v)
    elif name == "figure_a":
        add("R50..Swin-B", "query_flow", "miou_drop_k2_k10_min", FIGURE_A_DROP["query_flow_min"])
        add("R50..Swin-B", "query_flow", "miou_drop_k2_k10_max", FIGURE_A_DROP["query_flow_max"])
        add("Swin-L", "query_flow", "miou_drop_k2_k10", FIGURE_A_DROP["query_flow_swin_l"])
    elif name == "figure_b":
        add("Swin-L", "query_flow vs optical_flow", "categories_won", FIGURE_B_WINS["wins"])
        add("Swin-L", "query_flow vs optical_flow", "categories", FIGURE_B_WINS["categories"])
    elif name == "table_2":
        for bb, by_m in TABLE_II.items():
            for m, v in by_m.items():
                add(bb, m, "miou", v)
    elif name == "table_3":
        for ds in ("vspw", "cityscapes"):
            for bb, v in PAPER_KEY[ds].items():
                add(bb, ds, "gflops_key", v)
                add(bb, ds, "gflops_nonkey", PAPER_NON_KEY[ds])
                add(bb, ds, "gflops_avg_k5", PAPER_AVG[ds][bb], SOURCES["table_3_avg"])
        for bb, v in PAPER_PARAMS.items():
            add(bb, "vspw", "params_m", v, SOURCES["table_3_params"])
    elif name == "table_4":
        for model, by_bb in TABLE_IV.items():
            for bb, v in by_bb.items():
                add(bb, model, "train_hours", v)
    elif name == "table_5":
        for bb, by_m in TABLE_V.items():
            for m, v in by_m.items():
                add(bb, m, "miou", v)
        for m, v in TABLE_V_FLOPS.items():
            add("all", m, "gflops_nonkey", v)  # the paper gives one number for every backbone
    elif name == "video_consistency":
        for bb, by_metric in VSPW_MPVSS.items():
            for metric, v in by_metric.items():
                add(bb, "query_flow", metric, v)
    return rows


def reference(name: str) -> pd.DataFrame:
    """Tidy frame of the paper's numbers for artifact `name`: backbone, item, metric, value, source.

    Artifacts whose paper figure has no numbers in text (Figure C, Figure D) get one row with the claim.
    """
    if name not in SOURCES:
        raise KeyError(f"no paper reference for {name!r}")
    rows = _rows(name)
    if not rows:
        rows = [{"backbone": None, "item": "claim", "metric": "text", "value": float("nan"),
                 "source": SOURCES[name]}]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["backbone", "item", "metric", "value", "source"])
    frame["claim"] = CLAIMS.get(name, "")
    return frame
