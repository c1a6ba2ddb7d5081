"""What every artifact shares: the run context, the artifact record, data and cached evaluations.

    ctx = ReproContext(model=resolve_model("tiny"), max_clips=1, max_frames=18)
    plan = Plan(ctx, [("query_flow", 5), ("copy", 5)])      # evaluations, with progress and skips
    result = plan.results[("query_flow", 5)]                  # EvalResult, or None when skipped

Evaluations go through `mpvss_core.evaluation.runner.run_evaluation`, so they are stored by content:
the artifacts that need the same (method, K) share one evaluation, and a repeat run reads them back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.paired import paired_difference
from mpvss_core.data.clip import Clip
from mpvss_core.errors import MethodUnavailableError
from mpvss_core.evaluation.datasets import ClipEntry, DataSet, resolve_data
from mpvss_core.evaluation.runner import run_evaluation
from mpvss_core.evaluation.store import EvalResult
from mpvss_core.methods import method_spec
from mpvss_core.predictor import VideoPredictor
from mpvss_core.schedules import ScheduleSpec
from mpvss_core.spec import ModelSpec, resolve_model

__all__ = [
    "Artifact",
    "K_DEFAULT",
    "Plan",
    "ReproContext",
    "context_data",
    "fmt",
    "predictor",
    "setting_of",
    "training_records",
]

K_DEFAULT = 5  # the paper's key-frame interval (docs/method-notes.md §1.1)
# Loaded clips are kept in memory for the next evaluation only when the data set is this small: a
# full split would hold hundreds of MB (frames plus the renderer's buffers for exact flow).
_CACHE_CLIPS_UP_TO = 2


@dataclass
class ReproContext:
    """How to regenerate an artifact.

    Attributes:
        model: the resolved model (`mpvss_core.spec.resolve_model`).
        data: `--data` spec (`mpvss_core.evaluation.datasets.resolve_data`).
        max_clips: only the first N clips.
        max_frames: only the first N frames of each clip (mVC_8/16 need clips of more than 16 frames).
        device: torch device of the evaluations.
        use_cache: read stored evaluations back (False recomputes them).
        progress: called as progress(fraction 0..1, message); may raise to cancel the run.
    """

    model: ModelSpec = field(default_factory=lambda: resolve_model("default"))
    data: str = "synthetic:val"
    max_clips: int | None = None
    max_frames: int | None = None
    device: str = "cpu"
    use_cache: bool = True
    progress: Callable[[float, str], None] | None = None

    def report(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            self.progress(float(min(max(fraction, 0.0), 1.0)), message)


@dataclass
class Artifact:
    """One regenerated table or figure of the paper.

    Attributes:
        name: module name ("table_1", ...).
        title: what the paper calls it.
        tables: tidy frames; the first is the headline (ours next to the paper's numbers).
        figures: plotly figures.
        setting: data, resolution, K, device, model, clips/frames, random weights, ...
        findings: sentences saying where ours agrees or differs in direction from the paper.
    """

    name: str
    title: str
    tables: dict[str, pd.DataFrame]
    figures: dict[str, go.Figure]
    setting: dict[str, Any]
    findings: list[str] = field(default_factory=list)

    @property
    def headline(self) -> pd.DataFrame:
        return next(iter(self.tables.values()))


_DATA: dict[tuple, DataSet] = {}


def _kept(entry: ClipEntry) -> ClipEntry:
    """The entry, its clip kept in memory after the first load (small data sets only)."""
    held: list[Clip] = []

    def load() -> Clip:
        if not held:
            held.append(entry.load())
        return held[0]

    return ClipEntry(entry.name, load, entry.identity, entry.origin)


def context_data(ctx: ReproContext) -> DataSet:
    """The clips of `ctx` (first max_clips, first max_frames frames), resolved once per process."""
    key = (ctx.data, ctx.max_clips, ctx.max_frames)
    if key not in _DATA:
        base = resolve_data(ctx.data, max_clips=ctx.max_clips, max_frames=ctx.max_frames)
        if len(base) <= _CACHE_CLIPS_UP_TO:
            base = DataSet(base.spec, [_kept(e) for e in base.entries], list(base.notes))
        _DATA[key] = base
    return _DATA[key]


def predictor(ctx: ReproContext, method: str) -> VideoPredictor | None:
    """The predictor of `method` for the context's model, or None when the model cannot run it."""
    if not ctx.model.can_run(method):
        return None
    return VideoPredictor(ctx.model, method, device=ctx.device)


class Plan:
    """Run a list of (method, K) evaluations for `ctx`, reporting progress; unavailable ones are skipped.

    `flow_epe` also scores each method's flow against the data's exact flow (where it has one).

    Attributes:
        results: {(method, K): EvalResult or None}.
        skipped: {method: reason} for methods the model has no weights for.
    """

    def __init__(
        self,
        ctx: ReproContext,
        wanted: Sequence[tuple[str, int]],
        start: float = 0.0,
        stop: float = 1.0,
        flow_epe: bool = False,
    ) -> None:
        self.ctx = ctx
        self.results: dict[tuple[str, int], EvalResult | None] = {}
        self.skipped: dict[str, str] = {}
        data = context_data(ctx)
        todo = list(dict.fromkeys(wanted))
        for i, (method, k) in enumerate(todo):
            ctx.report(start + (stop - start) * i / len(todo), f"{method} K={k}")
            if not ctx.model.can_run(method):
                self.skipped[method] = skip_reason(ctx, method)
                self.results[(method, k)] = None
                continue
            try:
                # only what an artifact shows is computed: flow EPE when asked (Table I), never TC
                # (no artifact shows it); on the full val split the two cost more than the methods
                self.results[(method, k)] = run_evaluation(
                    ctx.model, data, method, ScheduleSpec(k), device=ctx.device, use_cache=ctx.use_cache,
                    flow_epe=flow_epe, tc=False,
                )  # fmt: skip
            except MethodUnavailableError as exc:
                self.skipped[method] = str(exc)
                self.results[(method, k)] = None
        ctx.report(stop, "evaluations done")

    def value(self, method: str, k: int, metric: str) -> float:
        """A summary number (NaN when skipped or not applicable)."""
        r = self.results.get((method, k))
        v = None if r is None else r.summary.get(metric)
        return float(v) if isinstance(v, (int, float)) and v is not None else float("nan")

    def any_result(self) -> EvalResult | None:
        return next((r for r in self.results.values() if r is not None), None)

    def skip_findings(self) -> list[str]:
        return [f"{m} skipped: {why}." for m, why in self.skipped.items()]

    def clip_mious(self, method: str, k: int) -> np.ndarray:
        """Per-clip mIoU (%) of one evaluation (empty when skipped)."""
        r = self.results.get((method, k))
        if r is None or "miou" not in r.per_clip:
            return np.zeros(0)
        return r.per_clip["miou"].to_numpy(dtype=float)

    def spread(self) -> dict[str, float]:
        """{"method K=k": std over clips of the per-clip mIoU} (NaN with fewer than two clips)."""
        out = {}
        for m, k in self.results:
            v = self.clip_mious(m, k)
            out[f"{m} K={k}"] = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        return out

    def paired_se(self) -> float:
        """Median over pairs of evaluations of the standard error of their mean per-clip mIoU
        difference: how large a difference between two methods the clips can tell from noise."""
        keys = [key for key, r in self.results.items() if r is not None]
        ses = []
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                x, y = self.clip_mious(*a), self.clip_mious(*b)
                if len(x) == len(y) and len(x) > 1:
                    ses.append(paired_difference(x, y).se)
        return float(np.median(ses)) if ses else float("nan")

    def notes(self) -> list[str]:
        """The skips, and how large the clip-to-clip spread is (so an effect can be told from noise)."""
        out = self.skip_findings()
        spread = {m: v for m, v in self.spread().items() if np.isfinite(v)}
        if spread:
            n = max(len(self.clip_mious(*key)) for key in self.results)
            se = self.paired_se()
            out.append(
                f"Clip-to-clip spread (std of per-clip mIoU over {n} clips): "
                + ", ".join(f"{m} {v:.1f}" for m, v in spread.items())
                + f". A difference between two methods of less than about {2 * se:.2f} mIoU (2 standard "
                "errors of the mean per-clip difference) cannot be told from clip-to-clip noise here."
            )
        return out


def training_records(spec: ModelSpec) -> dict[str, dict]:
    """{bundle entry: its training record} (`bundle.json`; {} for anything but a bundle). A record
    continued from an earlier run (`continued_from`) counts both runs' minutes and steps."""
    if spec.kind != "bundle" or spec.path is None:
        return {}
    out = {}
    for entry, rec in spec.records.items():  # read with the bundle when the model was resolved
        if "train_minutes_total" in rec:
            rec = {
                **rec,
                "train_minutes": rec["train_minutes_total"],
                "steps": rec.get("steps_total", rec.get("steps")),
            }
        out[entry] = rec
    return out


def skip_reason(ctx: ReproContext, method: str) -> str:
    """Why the context's model cannot run `method` (the model spec's own words)."""
    return ctx.model.unavailable.get(
        method_spec(method).name, f"model {ctx.model.label!r} cannot run {method}"
    )


def setting_of(ctx: ReproContext, plan: Plan | None = None, **extra: Any) -> dict[str, Any]:
    """The setting an artifact states: data, resolution, K, device, model, clips and frames, weights."""
    setting: dict[str, Any] = {
        "model": ctx.model.label,
        "random_weights": ctx.model.random_init,
        "data": ctx.data,
        "max_clips": ctx.max_clips,
        "max_frames": ctx.max_frames,
        "device": ctx.device,
    }
    r = plan.any_result() if plan is not None else None
    if r is not None:
        s = r.summary
        size = s.get("frame_size")
        setting.update(
            resolution=f"{size[0]}x{size[1]}" if size else None,
            clips=s.get("num_clips"),
            frames=s.get("num_frames"),
            device=s.get("device", ctx.device),
        )
    if plan is not None and plan.skipped:
        setting["skipped_methods"] = sorted(plan.skipped)
    if plan is not None:
        spread = {m: round(v, 2) for m, v in plan.spread().items() if np.isfinite(v)}
        if spread:
            setting["clip_spread_miou_std"] = spread
            setting["paired_difference_se"] = round(plan.paired_se(), 3)
    untrained = [m for m, e in ctx.model.entries.items() if e.untrained]
    if untrained:
        setting["untrained_flow_modules"] = untrained
    setting.update(extra)
    return setting


def weights_finding(ctx: ReproContext) -> list[str]:
    if ctx.model.random_init:
        return [
            f"Model {ctx.model.label!r} has random weights: our scores are meaningless and any agreement "
            "with the paper's direction is chance (costs and shapes are real)."
        ]
    untrained = [m for m, e in ctx.model.entries.items() if e.untrained]
    if untrained:
        return [
            f"UNTRAINED flow modules were run on request (--allow-untrained): {', '.join(untrained)}; "
            "their numbers show an untrained module, not the method."
        ]
    return []


def fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def direction(a: float, b: float, tol: float = 0.0) -> int:
    """+1 if a > b, -1 if a < b, 0 if within tol or not comparable."""
    if not (np.isfinite(a) and np.isfinite(b)) or abs(a - b) <= tol:
        return 0
    return 1 if a > b else -1


def versus(
    what: str, ours: tuple[float, float], names: tuple[str, str], paper_direction: int, paper_text: str
) -> str:
    """Sentence on whether ours puts `names[0]` above or below `names[1]` as the paper does.

    Args:
        ours: our two numbers.
        paper_direction: +1 (paper has names[0] above), -1 (below) or 0 (level).
        paper_text: the paper's side, e.g. "(39.9 vs 39.4)" or "(stated in the text)".
    """
    rel = {1: "above", -1: "below", 0: "level with"}
    if not (np.isfinite(ours[0]) and np.isfinite(ours[1])):
        return f"{what}: not measured (a method was skipped or the metric does not apply)."
    d_ours = direction(*ours)
    verdict = "agrees with" if d_ours == paper_direction else "differs from"
    return (
        f"{what}: ours has {names[0]} {rel[d_ours]} {names[1]} ({fmt(ours[0], 2)} vs {fmt(ours[1], 2)}), "
        f"the paper {rel[paper_direction]} {paper_text}: {verdict} the paper."
    )


def compare(what: str, ours: tuple[float, float], paper: tuple[float, float], names: tuple[str, str]) -> str:
    """`versus` with the paper's two numbers."""
    return versus(what, ours, names, direction(*paper), f"({fmt(paper[0])} vs {fmt(paper[1])})")
