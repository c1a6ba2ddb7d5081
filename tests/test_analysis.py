"""The paper's artifacts (`analysis`) on the tiny configuration: random weights, one written synthetic
clip of 17 frames at 64x128 (17 > 16 frames, so mVC_8/16 exist), a temporary results store.

Every artifact is computed once (module fixture, ~1 min on one core); the tests check their columns,
finiteness, the paper's numbers beside ours, figures, progress, skips, the store and the CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest
import torch

from analysis import NAMES, table_1, table_4
from analysis.artifacts import ARTIFACTS, TITLES
from analysis.better_worse import better_worse
from analysis.common import Plan, ReproContext, context_data
from analysis.store import PLOTLY_JS, load_artifact, save_artifact, write_pngs
from mpvss_cli import main
from mpvss_core.checkpoints.checkpoint import build_model, save_checkpoint
from mpvss_core.data.writer import write_split
from mpvss_core.spec import resolve_model

TINY = resolve_model("tiny")

# every artifact is computed once in a module fixture (~30 s here): the module is slow as a whole
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FRAMES, SIZE = 17, (64, 128)
FAST = {"table_3": {"presets": ("swin_t",), "datasets": ("vspw",)}, "figure_a": {"intervals": (2, 10)}}
# headline columns each artifact must have (ours beside the paper's)
COLUMNS = {
    "table_1": ["stages", "method", "ours_miou", "paper_swin_t_miou", "paper_swin_b_miou", "paper_source"],
    "figure_a": ["method", "ours_miou_k2", "ours_miou_k10", "ours_drop", "paper_drop_min", "paper_drop_max"],
    "figure_b": ["comparison", "ours_better", "ours_categories", "paper_better", "paper_categories"],
    "table_2": ["method", "ours_miou", "paper_swin_t_miou", "paper_r50_miou", "paper_source"],
    "figure_c": ["model", "frame", "query", "class", "epe_fused", "epe_query_branch", "epe_pixel_branch"],
    "table_3": ["dataset", "backbone", "ours_gflops_key", "paper_gflops_key", "ours_gflops_nonkey",
                "paper_gflops_nonkey", "ours_gflops_avg_k5", "paper_gflops_avg_k5"],
    "table_4": ["entry", "ours_hours", "ours_steps", "paper_swin_t_hours", "paper_source"],
    "table_5": ["method", "ours_miou", "ours_gflops_nonkey", "ours_nonkey_ms", "paper_swin_t_miou",
                "paper_gflops_nonkey"],
    "figure_d": ["method", "frame", "key_frame", "ours_frame_miou", "paper_claim"],
    "video_consistency": ["method", "ours_miou", "ours_wiou", "ours_mvc8", "ours_mvc16", "ours_gflops_avg",
                          "ours_fps", "paper_miou", "paper_mvc8"],
}  # fmt: skip
# ours_* columns that must be finite on every evaluated row (n/a by definition elsewhere: DIS FLOPs)
FINITE = {
    "table_1": ["ours_miou", "ours_flow_epe", "ours_gflops_nonkey"],
    "figure_a": ["ours_miou_k2", "ours_miou_k10", "ours_drop"],
    "figure_b": ["ours_better", "ours_categories", "ours_win_share"],
    "table_2": ["ours_miou"],
    "figure_c": ["epe_fused", "epe_query_branch", "epe_pixel_branch", "mask_share"],
    "table_3": ["ours_gflops_key", "ours_gflops_nonkey", "ours_params_m"],
    "table_5": ["ours_miou", "ours_nonkey_ms"],
    "figure_d": ["ours_frame_miou"],
    "video_consistency": ["ours_miou", "ours_wiou", "ours_mvc8", "ours_mvc16", "ours_fps"],
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("analysis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MPVSS_RESULTS", str(root / "results"))  # never the repo's store
        write_split("val", root / "data", 1, FRAMES, SIZE, progress=False)
        calls: dict[str, list] = {}
        arts = {}
        for name in NAMES:
            calls[name] = []
            ctx = ReproContext(
                model=TINY, data=str(root / "data"), progress=lambda f, m, n=name: calls[n].append(f)
            )
            arts[name] = ARTIFACTS[name](ctx, **FAST.get(name, {}))
        yield {"root": root, "arts": arts, "calls": calls, "data": str(root / "data")}


def test_registry_in_paper_order():
    assert list(ARTIFACTS) == list(NAMES) == list(TITLES)
    assert list(NAMES) == ["table_1", "figure_a", "figure_b", "table_2", "figure_c", "table_3", "table_4",
                           "table_5", "figure_d", "video_consistency"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_artifact(env, name):
    art = env["arts"][name]
    assert art.name == name and art.title == TITLES[name]
    head = art.headline
    assert set(COLUMNS[name]) <= set(head.columns), set(COLUMNS[name]) - set(head.columns)
    assert len(head) > 0
    ok = head[head["status"] == "ok"] if "status" in head else head
    for col in FINITE.get(name, []):
        assert np.isfinite(ok[col].astype(float)).all(), (col, ok[col].tolist())
    paper_cols = [
        c for c in head.columns if c.startswith("paper_") and c not in ("paper_source", "paper_claim")
    ]
    if paper_cols:  # the paper's numbers sit beside ours (Figures C/D: the paper's claim in words)
        assert head[paper_cols].notna().any().any()
    ref = art.tables["paper"]
    assert {"backbone", "item", "metric", "value", "source"} <= set(ref.columns)
    assert ref["source"].str.len().gt(0).all()
    assert art.figures and all(isinstance(f, go.Figure) and len(f.data) > 0 for f in art.figures.values())
    assert art.findings and all(isinstance(s, str) and s.endswith(".") for s in art.findings)
    assert {"model", "random_weights", "device"} <= set(art.setting)
    if name not in ("table_3", "table_4"):
        assert art.setting["random_weights"] is True
        assert art.setting["resolution"] == f"{SIZE[0]}x{SIZE[1]}"
        assert any("random weights" in s for s in art.findings)
    calls = env["calls"][name]
    assert calls and all(0.0 <= f <= 1.0 for f in calls) and calls[-1] == 1.0


def test_numbers_are_ours(env):
    arts = env["arts"]
    t1 = arts["table_1"].headline
    assert t1["paper_swin_t_miou"].tolist() == [39.4, 39.4, 39.9, 39.6]
    assert t1["ours_gflops_nonkey"].is_monotonic_increasing  # one more decoder stage costs more
    t3 = arts["table_3"].headline
    swin_t = t3[t3["backbone"] == "Swin-T"].iloc[0]
    assert abs(swin_t["ours_gflops_key"] / swin_t["paper_gflops_key"] - 1) < 0.02
    assert abs(swin_t["ours_gflops_nonkey"] / 21.0 - 1) < 0.02
    vc = arts["video_consistency"].headline.set_index("method")
    learned = ["per_frame", "copy", "pixel_flow", "query_learned", "query_flow"]
    assert np.isfinite(vc.loc[learned, "ours_gflops_avg"]).all()
    assert vc.loc[["optical_flow", "bi_optical_flow"], "ours_gflops_avg"].isna().all()  # DIS: no FLOPs
    assert vc.loc["query_flow", "ours_gflops_avg"] < vc.loc["per_frame", "ours_gflops_avg"]
    assert np.isnan(vc.loc["per_frame", "paper_miou"]) and vc.loc["query_flow", "paper_miou"] == 39.9
    t5 = arts["table_5"].headline.set_index("method")
    assert np.isnan(t5.loc["optical_flow", "ours_gflops_nonkey"])  # DIS has no FLOPs: CPU time instead
    assert np.isfinite(t5.loc["optical_flow", "ours_dis_ms"])
    fb = arts["figure_b"]
    s = fb.headline.iloc[0]
    assert (
        s["ours_better"] + s["ours_worse"] + s["ours_tie"]
        == s["ours_categories"]
        == len(fb.tables["better_worse"])
    )
    fa = arts["figure_a"].tables["curve"]
    assert sorted(fa["interval"].unique()) == [2, 10] and len(fa) == 6


def test_evaluations_are_shared_and_cached(env, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(env["root"] / "results"))
    plan = Plan(ReproContext(model=TINY, data=env["data"]), [("query_flow", 5), ("per_frame", 5)])
    assert all(r is not None and r.cached for r in plan.results.values())
    clip = context_data(ReproContext(model=TINY, data=env["data"], max_frames=5)).entries[0].load()
    assert clip.num_frames == 5 and clip.labels.shape[0] == 5
    ids = {context_data(ReproContext(data=env["data"], max_frames=n)).identity for n in (5, None)}
    assert len(ids) == 2  # a cut changes the result key


def test_cancel_from_progress(env, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(env["root"] / "results"))

    def stop(fraction, message):
        raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        table_1.compute(ReproContext(model=TINY, data=env["data"], progress=stop))


def _fake_bundle(path, records, variants=None):
    """A bundle with a (random) segmenter and the given training records."""
    torch.manual_seed(0)
    save_checkpoint(build_model("tiny"), path / "segmenter")
    index = {"format": "mpvss-model-bundle", "format_version": 1, "segmenter": "segmenter",
             "variants": variants or {}, "records": records}  # fmt: skip
    (path / "bundle.json").write_text(json.dumps(index))
    return resolve_model(str(path))


def test_table_4_reads_records_and_missing_variants_are_skipped(tmp_path, env, monkeypatch):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))
    seg = {"command": "mpvss train segmenter --max-minutes 80", "train_minutes": 80.0, "steps": 2000}
    flow = {"command": "mpvss train flow --max-minutes 40", "train_minutes": 40.0, "steps": 1500}
    supervised = {**flow, "command": "mpvss train flow --max-minutes 40 --flow-loss-weight 0.5"}
    records = {
        "segmenter": {**seg, "device": "CPU"},
        "query_flow": {**flow, "device": "CPU"},
        "pixel_flow": {**supervised, "device": "CPU"},
    }
    model = _fake_bundle(tmp_path / "bundle", records)
    art = table_4.compute(ReproContext(model=model))
    t = art.headline.set_index("entry")
    assert t.loc["segmenter", "ours_hours"] == pytest.approx(80 / 60)
    assert t.loc["query_flow", "ours_steps"] == 1500 and bool(t.loc["query_flow", "time_capped"])
    assert (
        t.loc["query_flow", "paper_swin_t_hours"] == 10.2 and t.loc["segmenter", "paper_swin_t_hours"] == 10.3
    )
    assert any("0.50x" in s and "agrees" in s and "budgets" in s for s in art.findings)
    assert t.loc["query_flow", "loss"] == "set loss through the warped masks (paper)"
    assert t.loc["pixel_flow", "loss"] == "set loss + 0.5 x exact-flow EPE (our addition)"
    # no trained variants: every stage count of Table I is skipped with a reason, nothing crashes
    art = table_1.compute(ReproContext(model=model, data=env["data"]))
    assert (art.headline["status"] != "ok").all() and art.headline["ours_miou"].isna().all()
    assert sum("skipped" in s for s in art.findings) == 4


def test_better_worse_exact():
    per_class = pd.DataFrame(
        {
            "method": ["qf", "qf", "qf", "qf", "of", "of", "of", "of", "pf"],
            "category": ["car", "road", "sky", "bus", "car", "road", "sky", "truck", "car"],
            "iou": [50.0, 70.0, 90.0, 10.0, 40.0, 75.0, 90.0, 5.0, 99.0],
        }
    )
    out = better_worse(per_class, "qf", "of")
    assert list(out.columns) == ["category", "iou_method", "iou_reference", "delta", "outcome"]
    assert out["category"].tolist() == ["car", "sky", "road"]  # bus / truck: only one side has them
    assert out["delta"].tolist() == [10.0, 0.0, -5.0]
    assert out["outcome"].tolist() == ["better", "tie", "worse"]
    assert out["iou_reference"].tolist() == [40.0, 90.0, 75.0]
    per_class.loc[5, "iou"] = np.nan  # a NaN IoU is not comparable either
    assert better_worse(per_class, "qf", "of")["category"].tolist() == ["car", "sky"]
    assert better_worse(per_class, "qf", "of", tol=15.0)["outcome"].tolist() == ["tie", "tie"]


def test_figure_b_split_counts_and_colours_are_shared_with_the_app():
    from analysis import figure_b
    from analysis.better_worse import OUTCOME_COLOURS, outcome_counts
    from app.components.charts import delta_bars

    per_class = pd.DataFrame(
        {
            "method": ["qf"] * 3 + ["of"] * 3,
            "category": ["car", "road", "sky"] * 2,
            "iou": [50.0, 70.0, 90.0, 40.0, 75.0, 90.0],
        }  # fmt: skip
    )
    split = better_worse(per_class, "qf", "of")
    assert outcome_counts(split) == {"better": 1, "worse": 1, "tie": 1}
    assert outcome_counts(split.iloc[:0]) == {"better": 0, "worse": 0, "tie": 0}
    assert figure_b.better_worse is better_worse and figure_b.OUTCOME_COLOURS is OUTCOME_COLOURS
    page = {bar.name: bar.marker.color for bar in delta_bars(split, "qf", "of").data}
    assert page == OUTCOME_COLOURS  # the page colours outcomes as the artifact does


def _assert_same_table(read: pd.DataFrame, written: pd.DataFrame) -> None:
    """Equal up to what CSV cannot keep: dtypes, and None / "" read back as NaN."""
    assert list(read.columns) == list(written.columns) and len(read) == len(written)
    for col in written.columns:
        if pd.api.types.is_numeric_dtype(written[col]) and not pd.api.types.is_bool_dtype(written[col]):
            assert np.allclose(read[col].astype(float), written[col].astype(float), equal_nan=True), col
        else:
            text = written[col].map(lambda v: "" if v is None or v != v else str(v))
            assert (read[col].astype(object).fillna("").astype(str) == text).all(), col


def test_save_and_load_round_trip(env, tmp_path):
    for name in ("table_1", "figure_c", "table_4", "table_3"):
        art = env["arts"][name]
        files = save_artifact(art, tmp_path, png=False)
        assert all(f.is_file() for f in files)
        html = (tmp_path / name / f"{next(iter(art.figures))}.html").read_text()
        assert f'src="../{PLOTLY_JS}"' in html and "cdn.plot.ly" not in html
        back = load_artifact(name, tmp_path)
        assert back is not None and back.title == art.title and back.findings == art.findings
        assert back.setting == json.loads(json.dumps(art.setting, default=str))
        for t, frame in art.tables.items():
            _assert_same_table(back.tables[t], frame)
        for f, fig in art.figures.items():
            assert back.figures[f].to_json() == pio.from_json(fig.to_json()).to_json()
    assert (tmp_path / PLOTLY_JS).stat().st_size > 1_000_000  # plotly.js once, offline
    assert load_artifact("table_2", tmp_path) is None


def test_png_export_or_note(tmp_path, capsys):
    paths = write_pngs({"bar": go.Figure(go.Bar(x=[1, 2], y=[3, 4]))}, tmp_path)
    if paths:
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "PNG export skipped" in capsys.readouterr().err


def test_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MPVSS_RESULTS", str(tmp_path / "results"))
    assert main(["reproduce", "table_4", "--model", "tiny", "--no-png", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Table IV" in out and "no training records" in out and "artifact(s) in" in out
    assert json.loads((tmp_path / "out" / "table_4" / "artifact.json").read_text())["name"] == "table_4"
    assert main(["reproduce", "table_9", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown artifact" in err[0] and "table_1" in err[0]
    assert main(["reproduce", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
