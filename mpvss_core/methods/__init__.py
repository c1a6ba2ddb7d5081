"""Propagation methods: the method table (this package's namespace, no torch) and the propagators.

    from mpvss_core.methods import METHODS, method_spec, parse_methods      # the table (light)
    from mpvss_core.methods.runners import build_propagator                 # the classes (torch)

`table.py` lists every method with what it needs and costs; `propagator.py` is the streaming loop and
the exact random access every method shares; `baselines.py` and `learned.py` are how each kind of
method predicts a non-key frame; `runners.py` maps a table entry to its class.
"""

from mpvss_core.methods.table import (
    ALL_METHODS,
    COST_RULES,
    METHODS,
    SEGMENTER_ONLY,
    TRAINABLE,
    MethodSpec,
    canonical,
    is_method,
    method_config,
    method_of_flow,
    method_spec,
    methods_help,
    parse_methods,
)

__all__ = [
    "ALL_METHODS",
    "COST_RULES",
    "METHODS",
    "SEGMENTER_ONLY",
    "TRAINABLE",
    "MethodSpec",
    "canonical",
    "is_method",
    "method_config",
    "method_of_flow",
    "method_spec",
    "methods_help",
    "parse_methods",
]
