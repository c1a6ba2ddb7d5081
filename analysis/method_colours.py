"""Method colours on the artifacts' figures: the library's one colour per method
(`mpvss_core.viz.palette`), applied to every trace that stands for a method.

Figures name their traces by method (`query_flow`) or by the paper's words for it (`DISPLAY_NAMES`:
"query-based flow"); `colour_methods` recolours such traces and leaves the others (outcomes, frame
kinds) alone. `analysis.store.load_artifact` applies it too, so figures stored before the palette
existed show the same colours as the app's charts.
"""

from __future__ import annotations

import plotly.graph_objects as go

from mpvss_core.viz import METHOD_COLOURS, method_colour

# The paper's words for the methods, as the figures' legends show them (Figure A).
DISPLAY_NAMES: dict[str, str] = {
    "query_flow": "query-based flow",
    "optical_flow": "optical flow",
    "copy": "copy",
}
_METHOD_OF = {**{m: m for m in METHOD_COLOURS}, **{v: k for k, v in DISPLAY_NAMES.items()}}


def colour_methods(fig: go.Figure) -> go.Figure:
    """`fig` with each method's traces (by trace name) in the method's colour; returns `fig`."""
    for trace in fig.data:
        method = _METHOD_OF.get(str(trace.name))
        if method is None:
            continue
        colour = method_colour(method)
        trace.update(marker_color=colour)
        if trace.type == "scatter":
            trace.update(line_color=colour)
    return fig
