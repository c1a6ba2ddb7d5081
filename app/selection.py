"""Parsing of `st.plotly_chart(..., on_select=...)` events, kept pure so it is unit-tested.

Streamlit returns a dict-like `PlotlyState` (and, when a test injects it through session_state, a
plain dict), so only key access is used: `event["selection"]["points"]`, never attributes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["frame_from_selection", "points_of", "query_from_selection", "selection_signature"]


def points_of(event: Any) -> list[Mapping[str, Any]]:
    """The selected points of an event (empty for None, an empty selection or an unexpected shape)."""
    if not isinstance(event, Mapping):
        return []
    selection = event.get("selection")
    if not isinstance(selection, Mapping):
        return []
    points = selection.get("points") or []
    return [p for p in points if isinstance(p, Mapping)]


def _first_custom(point: Mapping[str, Any]) -> Any:
    custom = point.get("customdata")
    if isinstance(custom, (list, tuple)):
        return custom[0] if custom else None
    return custom


def _as_int(value: Any) -> int | None:
    try:
        return int(round(float(value)))
    except (TypeError, ValueError):
        return None


def frame_from_selection(event: Any, num_frames: int | None = None) -> int | None:
    """Frame index of the first clicked point of a per-frame chart, or None.

    The frame is the point's customdata (first value) when present, else its x coordinate; values
    outside [0, num_frames) are rejected.
    """
    for point in points_of(event):
        value = _first_custom(point)
        frame = _as_int(value if value is not None else point.get("x"))
        if frame is not None and frame >= 0 and (num_frames is None or frame < num_frames):
            return frame
    return None


def query_from_selection(event: Any, valid: set[int] | None = None) -> int | None:
    """Query id (customdata) of the first clicked point of the segment-picking image, or None."""
    for point in points_of(event):
        query = _as_int(_first_custom(point))
        if query is not None and (valid is None or query in valid):
            return query
    return None


def selection_signature(event: Any) -> str:
    """A stable text of an event's selected points (to tell a new click from one already handled)."""
    return json.dumps([dict(p) for p in points_of(event)], sort_keys=True, default=str)
