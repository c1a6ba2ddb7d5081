"""Class legends beside the app's overlays: a colour swatch, the class name and its share of the frame,
for exactly the classes present in the shown labels (`mpvss_core.viz.legend_entries`)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from mpvss_core.viz import LegendEntry, format_share

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
