"""Class legends beside the app's overlays: a colour swatch, the class name and its share of the frame,
for exactly the classes present in the shown labels (`mpvss_core.viz.legend_entries`); on the Flow
explorer's segment picture, the queries that win pixels, named by their most likely class."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from mpvss_core.labels import generic_class_names, palette_for
from mpvss_core.viz import LegendEntry, format_share, legend_entries

# one entry per class; `data-class` carries the name so tests (and readers of the HTML) find it exactly
_ENTRY = (
    '<span data-class="{name}" style="white-space:nowrap;margin-right:0.8em">'
    '<span style="display:inline-block;width:0.85em;height:0.85em;background:rgb{colour};'
    'border:1px solid #555;vertical-align:-0.1em;margin-right:0.3em"></span>{name} {share}</span>'
)


def legend_html(entries: Sequence[LegendEntry]) -> str:
    """The entries as one line of inline HTML (wrapping where the column is narrow)."""
    if not entries:
        return '<div style="font-size:0.8em;color:#666">no class shown</div>'
    spans = "".join(
        _ENTRY.format(
            name=html.escape(e.name, quote=True), colour=e.colour, share=html.escape(format_share(e.share))
        )
        for e in entries
    )
    return f'<div class="mpvss-legend" style="font-size:0.8em;line-height:1.6">{spans}</div>'


def show(container, entries: Sequence[LegendEntry]) -> None:
    """Write the legend of `entries` into `container` (a column, or `st`)."""
    container.markdown(legend_html(entries), unsafe_allow_html=True)


def query_segments(winner: np.ndarray, table: pd.DataFrame) -> list[LegendEntry]:
    """Entries of the Flow explorer's segment picture (HxW winning query ids, drawn in the generic
    palette of `flow_panels.segments_image`): "query q · category" per query present."""
    n = int(np.asarray(winner).max()) + 1
    category = dict(zip(table["query"], table["category"], strict=True))
    names = [f"query {q} · {category[q]}" if q in category else f"query {q}" for q in range(n)]
    return legend_entries(winner, names, palette_for(generic_class_names(n)))
