"""Pictures for the app and the analyses: label colouring and overlays, optical-flow colouring with a
fixed scale, the colour-wheel legend, attention heatmaps, legends, image grids and key-frame badges.

Everything here is numpy in, `uint8` RGB (or RGBA) numpy out; no matplotlib, no torch. Inputs are never
modified in place.

Flow colouring follows the Middlebury colour wheel of Baker et al. (ICCV 2007), as used by RAFT and
`flow_vis`: direction -> hue, magnitude -> saturation, rightward = red, downward = orange-yellow, zero =
white. Unlike `flow_vis` and torchvision, the magnitude is normalised by a scale the *caller* fixes (one
per clip, see `flow_scale`), never by the image's own maximum, so that colours mean the same thing across
frames and across methods.

Package layout (one concept per module; import everything from `mpvss_core.viz`): `labels` (colouring,
overlays, legends), `flow` (colour wheel, `flow_to_rgb`, `flow_scale`, wheel legend), `heatmap`
(colormap LUTs, attention heatmaps), `layout` (image grids, key-frame badges), and the shared helpers
`_common` (colour type, palette check, blending) and `_text` (fonts); `palette` (the one colour of each
method and the distinct metric scheme, for every chart), `legend` (the classes present in a shown label
map, and the strip burnt into videos), `agreement` (error view: right / wrong / ignored against a
reference; difference view of two methods).
"""

from __future__ import annotations

from mpvss_core.viz._common import Colour
from mpvss_core.viz.agreement import (
    CORRECT,
    DIFFERENCE_COLOUR,
    ERROR_NAMES,
    ERROR_PALETTE,
    IGNORED,
    WRONG,
    difference_map,
    difference_share,
    draw_difference,
    draw_errors,
    error_map,
    error_shares,
)
from mpvss_core.viz.flow import (
    COLOUR_WHEEL,
    DEFAULT_INVALID_COLOUR,
    colour_wheel_legend,
    flow_scale,
    flow_to_rgb,
)
from mpvss_core.viz.heatmap import INFERNO_LUT, apply_colormap, attention_heatmap
from mpvss_core.viz.labels import colorize_labels, label_legend, overlay_labels
from mpvss_core.viz.layout import KEY_BADGE_COLOUR, PROPAGATED_BADGE_COLOUR, draw_key_marker, tile_images
from mpvss_core.viz.legend import LegendEntry, format_share, legend_entries, legend_strip, with_legend
from mpvss_core.viz.palette import (
    METHOD_COLOURS,
    METRIC_COLOURS,
    METRIC_PATTERNS,
    hex_to_rgb,
    method_colour,
    method_colour_map,
    metric_colour_map,
)

__all__ = [
    "CORRECT",
    "DIFFERENCE_COLOUR",
    "ERROR_NAMES",
    "ERROR_PALETTE",
    "IGNORED",
    "LegendEntry",
    "METHOD_COLOURS",
    "METRIC_COLOURS",
    "METRIC_PATTERNS",
    "WRONG",
    "difference_map",
    "difference_share",
    "draw_difference",
    "draw_errors",
    "error_map",
    "error_shares",
    "format_share",
    "hex_to_rgb",
    "legend_entries",
    "legend_strip",
    "method_colour",
    "method_colour_map",
    "metric_colour_map",
    "with_legend",
    "COLOUR_WHEEL",
    "Colour",
    "DEFAULT_INVALID_COLOUR",
    "INFERNO_LUT",
    "KEY_BADGE_COLOUR",
    "PROPAGATED_BADGE_COLOUR",
    "apply_colormap",
    "attention_heatmap",
    "colorize_labels",
    "colour_wheel_legend",
    "draw_key_marker",
    "flow_scale",
    "flow_to_rgb",
    "label_legend",
    "overlay_labels",
    "tile_images",
]
