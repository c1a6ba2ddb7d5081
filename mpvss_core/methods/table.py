"""The method table: every propagation method of the paper, one entry each (docs/architecture.md §6).

    spec = method_spec("stages_3")          # the query_flow entry (alias), or InputError listing choices
    spec.runner, spec.flow, spec.weights, spec.cost, spec.description
    method_config("tiny", "query_learned")  # the preset with that method's flow-module switches
    ALL_METHODS                             # what `--method all` runs (no Table-I ablations)

Everything that lists, parses, describes, costs or loads a method reads this table: the CLI's parsers
and help, the model spec (which weights a method needs), the propagators (which class runs it), the
FLOP counts (its non-key cost rule), the app's menus and the analyses. A new method is one entry
(plus its propagator class when no existing `runner` fits).

Fields:
- `runner`: the propagator class that runs it (`methods.runners.RUNNERS`).
- `flow`: the flow-module config switches of the method's own flow module (`FlowConfig` fields), or
  None when it has none (segmenter-only methods, and methods that reuse another's module).
- `weights`: the trained flow module it runs: its own name, another method's (`bi_pixel_flow` runs
  `pixel_flow`'s), or None (segmenter-only).
- `cost`: non-key frame cost rule (`evaluation.costs`): "segmenter" (every frame is a key frame),
  "zero" (copy), "classical" (OpenCV flow, not counted in FLOPs) or "flow_module".
- `bidirectional`: also uses the next key frame (buffers a segment).
- `group`: "baseline", "learned" or "ablation" (Table I stages; not in `ALL_METHODS`).

`stages_S` for any S >= 1 is a Table-I ablation with S decoder stages; the table lists S = 1, 2, 4,
and `stages_3` is an alias of `query_flow` (S = 3 is the full model).

This module imports no torch: the command line builds its parsers and help from it in milliseconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mpvss_core.config import FlowConfig, MPVSSConfig, get_preset
from mpvss_core.errors import InputError

__all__ = [
    "ALL_METHODS",
    "COST_RULES",
    "METHODS",
    "MethodSpec",
    "SEGMENTER_ONLY",
    "TRAINABLE",
    "canonical",
    "is_method",
    "method_config",
    "method_of_flow",
    "method_spec",
    "methods_help",
    "parse_methods",
]

COST_RULES = ("segmenter", "zero", "classical", "flow_module")
_STAGES = "stages_"


@dataclass(frozen=True)
class MethodSpec:
    """One propagation method (see the module docstring for the fields)."""

    name: str
    runner: str
    description: str
    paper: str
    cost: str
    flow: Mapping[str, Any] | None = None
    weights: str | None = None
    bidirectional: bool = False
    group: str = "learned"
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.cost not in COST_RULES:
            raise ValueError(f"{self.name}: cost rule {self.cost!r} not in {COST_RULES}")
        unknown = set(self.flow or {}) - {f.name for f in dataclasses.fields(FlowConfig)}
        if unknown:
            raise ValueError(f"{self.name}: unknown flow switches {sorted(unknown)}")

    @property
    def segmenter_only(self) -> bool:
        """Runs with the key-frame segmenter alone (no trained flow module)."""
        return self.weights is None


def _stages(s: int, **kw: Any) -> MethodSpec:
    return MethodSpec(
        name=f"{_STAGES}{s}",
        runner="learned",
        description=f"query_flow with S = {s} motion-decoder stages",
        paper="Table I",
        cost="flow_module",
        flow={"num_stages": s},
        weights=f"{_STAGES}{s}",
        group="ablation",
        **kw,
    )


# In display order: the paper's baselines, then the learned flows, then the Table-I ablations.
_TABLE: tuple[MethodSpec, ...] = (
    MethodSpec("per_frame", "per_frame", "Mask2Former on every frame", "Table II Per-frame", "segmenter",
               group="baseline"),
    MethodSpec("copy", "copy", "the key frame's labels copied to the frames after it", "Figure A Copy",
               "zero", group="baseline"),
    MethodSpec("optical_flow", "optical_flow",
               "key-frame masks warped by classical optical flow (OpenCV DIS) current -> key",
               "Figure A Optical flow", "classical", group="baseline"),
    MethodSpec("bi_optical_flow", "optical_flow",
               "optical_flow from the previous and the next key frame, scores fused by distance",
               "beside Table V", "classical", bidirectional=True, group="baseline"),
    MethodSpec("pixel_flow", "learned", "masks warped by the learned pixel-wise flow (FlowNetS) alone",
               "Table II Optical flow, Table V uni-directional", "flow_module",
               flow={"use_query_flow": False}, weights="pixel_flow"),
    MethodSpec("bi_pixel_flow", "learned",
               "pixel_flow from the previous and the next key frame, scores fused by distance",
               "Table V bi-directional", "flow_module", weights="pixel_flow", bidirectional=True),
    MethodSpec("query_learned", "learned", "query-based flow without the pixel-wise refinement",
               "Table II Query-learned", "flow_module", flow={"use_pixel_flow": False},
               weights="query_learned"),
    MethodSpec("query_flow", "learned", "MPVSS: query-based flow refined pixel-wise (S = 3)",
               "Table II Query-based flow", "flow_module", flow={}, weights="query_flow",
               aliases=(f"{_STAGES}3",)),
    MethodSpec("query_flow_noinit", "learned", "query_flow with flow queries not initialised from Q_O^k",
               "Figure C (g)-(i)", "flow_module", flow={"query_init": False}, weights="query_flow_noinit"),
    _stages(1),
    _stages(2),
    _stages(4),
)  # fmt: skip

METHODS: dict[str, MethodSpec] = {m.name: m for m in _TABLE}
_ALIASES: dict[str, str] = {a: m.name for m in _TABLE for a in m.aliases}
ALL_METHODS: tuple[str, ...] = tuple(m.name for m in _TABLE if m.group != "ablation")
SEGMENTER_ONLY: tuple[str, ...] = tuple(m.name for m in _TABLE if m.segmenter_only)
# methods with a flow module of their own: what stage 1 trains (plus any stages_S)
TRAINABLE: tuple[str, ...] = tuple(m.name for m in _TABLE if m.weights == m.name)


def _stages_of(name: str) -> int | None:
    rest = name[len(_STAGES) :] if name.startswith(_STAGES) else ""
    return int(rest) if rest.isdigit() and int(rest) >= 1 else None


def canonical(name: str) -> str:
    """The table name of `name` (resolves aliases: `stages_3` -> `query_flow`); unknown names unchanged."""
    return _ALIASES.get(name, name)


def method_spec(name: str) -> MethodSpec:
    """The entry of `name` (an alias resolves to its entry; `stages_S` for any S >= 1).

    Raises:
        InputError: unknown method, with the choices.
    """
    name = canonical(name)
    if name in METHODS:
        return METHODS[name]
    s = _stages_of(name)
    if s is not None:
        return _stages(s)
    raise InputError(f"unknown method {name!r}; choose one of {', '.join(ALL_METHODS)} or stages_S (S >= 1)")


def is_method(name: str) -> bool:
    try:
        method_spec(name)
    except InputError:
        return False
    return True


def parse_methods(text: str) -> list[str]:
    """A method, a comma list, or "all" (ALL_METHODS) -> table names, in the order given.

    Raises:
        InputError: an unknown name, or nothing given.
    """
    if text.strip() == "all":
        return list(ALL_METHODS)
    names = [method_spec(t.strip()).name for t in text.split(",") if t.strip()]
    if not names:
        raise InputError("no method given; choose one of " + ", ".join(ALL_METHODS))
    return list(dict.fromkeys(names))


def methods_help(groups: tuple[str, ...] = ("baseline", "learned", "ablation")) -> str:
    """One line per method of `groups`: its name and what it does (CLI help texts)."""
    width = max(len(m.name) for m in _TABLE)
    lines = [f"  {m.name:<{width}}  {m.description}" for m in _TABLE if m.group in groups]
    if "ablation" in groups:
        lines.append(f"  {'stages_S':<{width}}  any S >= 1 decoder stages (stages_3 = query_flow)")
    return "\n".join(lines)


def method_config(preset: str | MPVSSConfig, name: str) -> MPVSSConfig:
    """The model config of method `name` built on `preset`: its own flow module's switches applied.

    Segmenter-only methods return the preset unchanged; a method that runs another's flow module
    (`bi_pixel_flow`) returns that one's config. The result is named `<preset>-<method>` unless it
    equals the preset.
    """
    base = get_preset(preset) if isinstance(preset, str) else preset
    spec = method_spec(name)
    if spec.weights is not None and spec.weights != spec.name:
        spec = method_spec(spec.weights)
    if not spec.flow:
        return base
    flow = dataclasses.replace(base.flow, **spec.flow)
    return dataclasses.replace(base, flow=flow, name=f"{base.name}-{spec.name}")


_SWITCHES = ("use_query_flow", "use_pixel_flow", "query_init", "num_stages")


def method_of_flow(flow: FlowConfig) -> str:
    """The method whose own flow module has these switches (inverse of `method_config`)."""
    defaults = FlowConfig()
    have = tuple(getattr(flow, k) for k in _SWITCHES)
    for m in _TABLE:
        if m.flow is not None and m.weights == m.name:
            want = tuple(m.flow.get(k, getattr(defaults, k)) for k in _SWITCHES)
            if want == have:
                return m.name
    if flow.use_query_flow and flow.use_pixel_flow and flow.query_init:
        return f"{_STAGES}{flow.num_stages}"
    raise InputError(f"no method has a flow module with {dict(zip(_SWITCHES, have, strict=True))}")
