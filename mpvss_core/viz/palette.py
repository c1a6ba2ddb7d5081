"""The one colour scheme of methods and the distinct one of metrics, for every chart that colours them.

A method's colour is fixed by its *name* (`METHOD_COLOURS`), never by which methods a chart happens to
show, so per_frame is the same colour on every page of the app and in every `analysis` figure. The
colours are chosen to stay apart (Paul Tol's "bright" and "vibrant" sets plus darker shades): the two
learned flows that matter most (query_flow red, pixel_flow teal) and the classical baseline
(optical_flow blue) sit far apart in hue; each bi-directional variant is a lighter shade of its
uni-directional method; per_frame, the reference, is near-black. Metrics (mIoU, mVC_n, TC) use greys
with bar patterns (`METRIC_COLOURS`, `METRIC_PATTERNS`), so a metric is never read as a method.

Colours are "#rrggbb" strings (what plotly takes); `hex_to_rgb` gives the RGB tuple for images.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from mpvss_core.viz._common import Colour

METHOD_COLOURS: dict[str, str] = {
    "per_frame": "#222222",
    "copy": "#EE7733",
    "optical_flow": "#0077BB",
    "bi_optical_flow": "#33BBEE",
    "pixel_flow": "#009988",
    "bi_pixel_flow": "#7FD4C8",
    "query_learned": "#AA3377",
    "query_flow": "#CC3311",
    "query_flow_noinit": "#997700",
    "stages_1": "#DDAA33",
    "stages_2": "#117733",
    "stages_4": "#66328E",
}

# Names outside the table (a user's own label) get one of these, by a stable hash of the name.
_SPARE_COLOURS = ("#4477AA", "#228833", "#EE6677", "#AA7744", "#5566AA", "#BB5566", "#44AA99")

METRIC_COLOURS: dict[str, str] = {
    "mIoU": "#4D4D4D",
    "mVC_8": "#8C8C8C",
    "mVC_16": "#B8B8B8",
    "TC": "#DDDDDD",
}
METRIC_PATTERNS: dict[str, str] = {"mIoU": "", "mVC_8": "/", "mVC_16": "x", "TC": "."}


def method_colour(name: str) -> str:
    """The colour of method `name` ("#rrggbb"); an unknown name gets a spare colour by a stable hash."""
    if name in METHOD_COLOURS:
        return METHOD_COLOURS[name]
    return _SPARE_COLOURS[zlib.crc32(name.encode()) % len(_SPARE_COLOURS)]


def method_colour_map(methods: Iterable[str]) -> dict[str, str]:
    """{method: colour} for plotly's `color_discrete_map` (the same colour whatever else is shown)."""
    return {m: method_colour(m) for m in dict.fromkeys(methods)}


def metric_colour_map(metrics: Iterable[str]) -> dict[str, str]:
    """{metric: grey} for the metric bars; unknown metrics get a mid grey."""
    return {m: METRIC_COLOURS.get(m, "#A0A0A0") for m in dict.fromkeys(metrics)}


def hex_to_rgb(colour: str) -> Colour:
    """ "#rrggbb" -> (r, g, b)."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
