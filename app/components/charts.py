"""Plotly figures of the pages (data in, figure out; no Streamlit here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from analysis.better_worse import OUTCOME_COLOURS
from analysis.method_colours import colour_methods  # noqa: F401 (re-exported: pages recolour with it)
from mpvss_core.viz import METRIC_PATTERNS, method_colour_map, metric_colour_map

HEIGHT = 360


def method_colours(methods) -> dict[str, str]:
    """Each method's one colour, fixed by its name (`mpvss_core.viz.palette`): the same in every chart
    of every page and in the analysis figures (px alone would recolour by trace order)."""
    return method_colour_map(methods)


def timeline(table: pd.DataFrame, frame: int, key_frames: list[int]) -> go.Figure:
    """Per-frame mIoU of each method (markers are clickable), key frames shaded, the current frame a line."""
    fig = px.line(
        table,
        color_discrete_map=method_colours(table["method"]),
        x="frame",
        y="miou",
        color="method",
        markers=True,
        custom_data=["frame"],
        labels={"miou": "frame mIoU (%)", "frame": "frame"},
        height=HEIGHT,
    )
    for k in key_frames:
        fig.add_vline(x=k, line_width=8, line_color="rgba(120,120,120,0.18)")
    fig.add_vline(x=frame, line_width=2, line_dash="dash", line_color="black")
    fig.add_annotation(
        x=key_frames[0] if key_frames else 0,
        y=1.06,
        yref="paper",
        showarrow=False,
        text="shaded: key frames · dashed: shown frame · click a point to jump",
    )
    fig.update_layout(margin=dict(t=40, b=40, l=50, r=10), legend_title_text="")
    return fig


def iou_bars(per_class: pd.DataFrame) -> go.Figure:
    """Per-category IoU (%) per method, grouped bars."""
    fig = px.bar(
        per_class,
        color_discrete_map=method_colours(per_class["method"]),
        x="category",
        y="iou",
        color="method",
        barmode="group",
        height=HEIGHT + 40,
        labels={"iou": "IoU (%)", "category": ""},
    )
    fig.update_layout(margin=dict(t=20, b=80, l=50, r=10), legend_title_text="")
    return fig


def delta_bars(split: pd.DataFrame, method: str, reference: str) -> go.Figure:
    """IoU difference method - reference per category, coloured by outcome (the paper's Figure B)."""
    fig = px.bar(
        split,
        x="category",
        y="delta",
        color="outcome",
        color_discrete_map=OUTCOME_COLOURS,
        height=HEIGHT,
        labels={"delta": f"IoU {method} - {reference} (points)", "category": ""},
    )
    fig.update_layout(margin=dict(t=20, b=80, l=50, r=10), legend_title_text="")
    return fig


def confusion(matrix: np.ndarray, names: list[str], method: str, rows_are: str = "ground truth") -> go.Figure:
    """Row-normalised confusion matrix (% of each reference class), classes present only.

    `rows_are` names what the rows count: the ground truth, or the per-frame prediction on a clip without
    labels."""
    keep = (matrix.sum(1) > 0) | (matrix.sum(0) > 0)
    m = matrix[np.ix_(keep, keep)].astype(float)
    rows = m.sum(1, keepdims=True)
    pct = np.divide(100.0 * m, rows, out=np.zeros_like(m), where=rows > 0)
    labels = [n for n, k in zip(names, keep, strict=True) if k]
    fig = px.imshow(
        pct,
        x=labels,
        y=labels,
        color_continuous_scale="Blues",
        zmin=0,
        zmax=100,
        aspect="auto",
        labels={"x": f"predicted ({method})", "y": rows_are, "color": "% of row"},
        height=520,
        text_auto=".0f",
    )
    fig.update_layout(margin=dict(t=20, b=20, l=20, r=20))
    return fig


def miou_vs_k(table: pd.DataFrame) -> go.Figure:
    fig = px.line(
        table,
        color_discrete_map=method_colours(table["method"]),
        x="K",
        y="miou",
        color="method",
        markers=True,
        height=HEIGHT,
        labels={"miou": "mIoU (%)", "K": "key-frame interval K"},
    )
    fig.update_layout(margin=dict(t=20, b=40, l=50, r=10), legend_title_text="")
    return fig


def tradeoff(table: pd.DataFrame, x: str, title: str) -> go.Figure:
    """mIoU against a cost column (GFLOPs per frame or FPS), one point per (method, K)."""
    data = table.dropna(subset=[x, "miou"])
    fig = px.scatter(
        data,
        color_discrete_map=method_colours(table["method"]),
        x=x,
        y="miou",
        color="method",
        text="K",
        height=HEIGHT,
        labels={"miou": "mIoU (%)", x: title},
    )
    fig.update_traces(textposition="top center", marker_size=10)
    fig.update_layout(margin=dict(t=20, b=40, l=50, r=10), legend_title_text="")
    return fig


def stacked(table: pd.DataFrame, y: str, title: str) -> go.Figure:
    """Stacked bars: columns `method`, `frame` (key / non-key), `part`, value column `y`."""
    fig = px.bar(
        table,
        x="method",
        y=y,
        color="part",
        facet_col="frame",
        height=HEIGHT + 40,
        labels={y: title, "method": ""},
    )
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_layout(margin=dict(t=40, b=60, l=50, r=10), legend_title_text="")
    return fig


def grouped(table: pd.DataFrame, y: str, title: str, colour: str = "metric") -> go.Figure:
    """Bars per method, one per `colour` value: metrics in their own greys and patterns (never method
    colours, since the methods are on the x axis already)."""
    scheme = {}
    if colour == "metric":
        scheme = dict(
            color_discrete_map=metric_colour_map(table[colour]),
            pattern_shape=colour,
            pattern_shape_map=METRIC_PATTERNS,
        )
    fig = px.bar(
        table,
        x="method",
        y=y,
        color=colour,
        **scheme,
        barmode="group",
        text_auto=".1f",
        height=HEIGHT,
        labels={y: title, "method": ""},
    )
    fig.update_layout(margin=dict(t=20, b=40, l=50, r=10), legend_title_text="")
    return fig


def segment_picker(image: np.ndarray, winner: np.ndarray, step: int) -> go.Figure:
    """The frame's query segments as an image with a grid of clickable points (customdata = query id).

    Streamlit selections do not work on image/heatmap traces, so a scatter of nearly transparent markers
    every `step` pixels carries the clicks.
    """
    h, w = winner.shape
    ys, xs = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    q = winner[ys, xs].ravel()
    fig = go.Figure(go.Image(z=image, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=xs.ravel(),
            y=ys.ravel(),
            mode="markers",
            customdata=q[:, None],
            marker=dict(size=max(6, step), opacity=0.05, color="white"),
            hovertemplate="query %{customdata[0]}<extra></extra>",
        )
    )
    fig.update_layout(
        height=int(520 * h / w) + 40,
        margin=dict(t=10, b=10, l=10, r=10),
        showlegend=False,
        clickmode="event+select",
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
