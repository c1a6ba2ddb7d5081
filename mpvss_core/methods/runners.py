"""Method name -> the propagator that runs it on a model (the `runner` column of the method table).

propagator = build_propagator("query_flow", model)    # model: the method's MPVSS (ModelSpec.load)
"""

from __future__ import annotations

from mpvss_core.methods.baselines import Copy, OpticalFlow, PerFrame
from mpvss_core.methods.learned import LearnedFlow
from mpvss_core.methods.propagator import Propagator
from mpvss_core.methods.table import method_of_flow, method_spec
from mpvss_core.modeling.mpvss import MPVSS

__all__ = ["RUNNERS", "build_propagator"]

RUNNERS: dict[str, type[Propagator]] = {
    "per_frame": PerFrame,
    "copy": Copy,
    "optical_flow": OpticalFlow,
    "learned": LearnedFlow,
}


def build_propagator(method: str, model: MPVSS, **kwargs) -> Propagator:
    """The propagator of `method` running on `model`.

    A learned method needs the model of the flow module it runs (`ModelSpec.load(method)` gives it).

    Raises:
        InputError: unknown method.
        ValueError: `model`'s flow module is another method's.
    """
    spec = method_spec(method)
    if spec.weights is not None:
        have = method_of_flow(model.cfg.flow)
        if method_spec(have).name != method_spec(spec.weights).name:
            raise ValueError(
                f"method {spec.name!r} needs the {spec.weights} flow module; this model has {have!r}"
            )
    return RUNNERS[spec.runner](model, spec.name, **kwargs)
