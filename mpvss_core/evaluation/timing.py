"""The one timing protocol: latency and FPS that can be compared, with the conditions they were made in.

    report = method_speeds({"per_frame": p1, "query_flow": p2}, clip.frames, interval=5, rounds=3)
    report.rows["query_flow"].fps.median, report.rows["query_flow"].fps.low, .high   # median, min, max
    report.conditions.describe()      # "cpu (x86_64, 2 torch threads), load 1.9 on 2 cores, 3 rounds ..."
    report.within_noise("query_flow") # the methods whose FPS range overlaps query_flow's

A figure timed once, whenever it happened to run, on a shared machine, is noise (issue 22: one
segmenter's key-frame latency read 4,000 ms for one method and 550 ms for another). The protocol:

1. **Warm-up**: every workload runs `warmup` times first, untimed (lazy initialisation, allocator and
   cache warm-up would otherwise land in the first method's figures).
2. **Interleaved rounds**: `rounds` rounds, each running every workload once; round r starts at
   workload r mod n (a rotation), so no method is always first or always last after another one.
   A burst of load then hits several methods alike instead of one method's every sample.
3. **The median** of the rounds is the figure; min and max of the rounds are its spread.
4. **The conditions** are recorded with every report: device and torch threads, the CPU count, the
   1-minute load average before and after (`os.getloadavg`), rounds and warm-up.
5. **Noise is said**: two figures whose [min, max] ranges overlap are "within noise" of each other
   (their difference is smaller than the spread of the rounds), and every figure of a report taken
   with a load average above the CPU count is within noise (`Conditions.loaded`).

Key-frame latency is a property of the segmenter, not of the method: every method whose key frames
run the same segmenter (same config and parameter shapes, and the same key-frame heads pass) gets
the ONE key-frame latency of its segmenter, measured once per round by a workload of its own
(`segmenter_identity`). A method's own workload times only its non-key frames; FPS at K is then
K / (key + (K-1) * non-key) per round, from the round's key and non-key figures. Timings are model
time (`FrameResult.timings["model_s"]`: segmenter, flow, warping, semantic inference; synchronised
on CUDA; no decoding), as in `evaluation.costs`.

`benchmarks/methods_speed.py` and the app's Efficiency page both run `method_speeds`.
"""

from __future__ import annotations

import hashlib
import os
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from mpvss_core.evaluation.costs import device_description
from mpvss_core.predictor import VideoPredictor

__all__ = [
    "Conditions",
    "Figure",
    "SpeedReport",
    "Timings",
    "conditions",
    "load_average",
    "measure",
    "method_speeds",
    "segmenter_identity",
]

Workload = Callable[[], Mapping[str, float]]
Step = Callable[[int, int, str], None]  # (steps done, steps in all, workload about to run)


def load_average() -> float | None:
    """The 1-minute load average of the machine (None where the OS has none)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average on this OS
        return None


@dataclass(frozen=True)
class Conditions:
    """How a set of figures was made (stored beside them; see the module docstring, step 4).

    Attributes:
        device: `costs.device_description` ("cpu (x86_64, 2 torch threads)" or the GPU's name).
        threads: torch intra-op threads.
        cpu_count: logical CPUs of the machine.
        load_before, load_after: 1-minute load average before and after the runs (None: not known).
        rounds: timed rounds (each figure is the median of this many samples).
        warmup: untimed runs of each workload before the rounds (for an evaluation: warm-up frames).
        protocol: "interleaved rounds" (this module) or "single pass" (an evaluation's own timings).
    """

    device: str
    threads: int
    cpu_count: int
    load_before: float | None
    load_after: float | None
    rounds: int
    warmup: int
    protocol: str = "interleaved rounds"
    torch: str = torch.__version__

    @property
    def load(self) -> float | None:
        """The higher of the two load averages (None when the OS gives none)."""
        known = [v for v in (self.load_before, self.load_after) if v is not None]
        return max(known) if known else None

    @property
    def loaded(self) -> bool:
        """More runnable work than CPUs while timing: every figure is within noise."""
        return self.load is not None and self.load > self.cpu_count

    def describe(self) -> str:
        load = "load average unknown" if self.load is None else f"load average {self.load:.1f}"
        text = f"{self.device}, {load} on {self.cpu_count} CPUs, "
        if self.protocol == "single pass":
            return text + f"one pass (first {self.warmup} frames warm-up, untimed)"
        return text + f"median of {self.rounds} interleaved rounds after {self.warmup} warm-up run(s)"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "load": self.load, "loaded": self.loaded}


def conditions(
    device: torch.device | str,
    rounds: int,
    warmup: int,
    *,
    load_before: float | None = None,
    load_after: float | None = None,
    protocol: str = "interleaved rounds",
) -> Conditions:
    """The conditions of a measurement on this machine (`load_before` not given: read now)."""
    return Conditions(
        device=device_description(device),
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count() or 1,
        load_before=load_average() if load_before is None else load_before,
        load_after=load_after,
        rounds=rounds,
        warmup=warmup,
        protocol=protocol,
    )


@dataclass(frozen=True)
class Figure:
    """One measured quantity: a sample per round; the figure is their median, the spread min..max."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return float(statistics.median(self.samples))

    @property
    def low(self) -> float:
        return float(min(self.samples))

    @property
    def high(self) -> float:
        return float(max(self.samples))

    @property
    def spread(self) -> float:
        return self.high - self.low

    def overlaps(self, other: Figure) -> bool:
        """The two ranges overlap: their difference is within the noise of the rounds."""
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class Timings:
    """What `measure` returns: {workload: {quantity: Figure}}, the order the runs took, the conditions."""

    figures: dict[str, dict[str, Figure]]
    order: list[str]
    conditions: Conditions


def measure(
    workloads: Mapping[str, Workload],
    rounds: int = 3,
    warmup: int = 1,
    *,
    device: torch.device | str = "cpu",
    on_step: Step | None = None,
    load: Callable[[], float | None] = load_average,
) -> Timings:
    """Run every workload `warmup` times untimed, then `rounds` interleaved rounds (module docstring).

    Args:
        workloads: name -> a callable that runs the work once and returns what it measured
            ({quantity: value}, e.g. {"key_ms": 512.0}); the same quantities every time.
        on_step: called before each run (warm-up runs included) with (runs done, runs in all, name):
            progress bars (it may raise to stop).
        load: the load-average reader (injected by tests).
    Returns:
        Timings: each quantity's samples of the timed rounds (warm-up runs are discarded).
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"need rounds >= 1 and warmup >= 0, got {rounds} and {warmup}")
    names = list(workloads)
    total, done = (warmup + rounds) * len(names), 0
    before = load()
    samples: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    order: list[str] = []
    for r in range(-warmup, rounds):
        start = r % len(names) if r >= 0 and names else 0
        for name in names[start:] + names[:start]:
            if on_step is not None:
                on_step(done, total, name)
            values = workloads[name]()
            done += 1
            if r < 0:
                continue  # warm-up: discarded
            order.append(name)
            for q, v in values.items():
                samples[name].setdefault(q, []).append(float(v))
    figures = {n: {q: Figure(tuple(v)) for q, v in qs.items()} for n, qs in samples.items()}
    cond = Conditions(
        device_description(device),
        torch.get_num_threads(),
        os.cpu_count() or 1,
        before,
        load(),
        rounds,
        warmup,
    )
    return Timings(figures, order, cond)


def segmenter_identity(model) -> str:
    """What decides a key frame's cost: the segmenter's config and parameter shapes, and the stage-0
    key heads when the model runs them (a second decoder pass). Weights' values do not count."""
    parts = [repr(model.cfg.to_dict()["segmenter"])]
    modules = [model.segmenter] + ([model.key_decoder] if getattr(model, "key_decoder", None) else [])
    for module in modules:
        parts += [f"{n}:{tuple(p.shape)}" for n, p in module.named_parameters()]
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MethodSpeed:
    """One method's figures in a `SpeedReport` (ms per frame of model time; FPS at the report's K).

    `segmenter`: the label of its segmenter's workload ("segmenter 1", ...): methods sharing it share
    `key_ms`, the same Figure. `nonkey_ms` is None for per_frame (every frame is a key frame).
    """

    method: str
    segmenter: str
    key_ms: Figure
    nonkey_ms: Figure | None
    fps: Figure


@dataclass(frozen=True)
class SpeedReport:
    """`method_speeds`' result: a row per method, the conditions, what was timed."""

    rows: dict[str, MethodSpeed]
    conditions: Conditions
    interval: int
    frames: int
    size: tuple[int, int]
    segmenters: dict[str, list[str]] = field(default_factory=dict)  # label -> methods

    def within_noise(self, method: str) -> list[str]:
        """The other methods whose FPS cannot be told apart from `method`'s (all of them when the
        machine was loaded)."""
        row = self.rows[method]
        return [
            m
            for m, other in self.rows.items()
            if m != method and (self.conditions.loaded or row.fps.overlaps(other.fps))
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: conditions, K, frames, and per method median / min / max of each figure."""

        def fig(f: Figure | None) -> dict[str, Any] | None:
            return (
                None
                if f is None
                else {"median": f.median, "min": f.low, "max": f.high, "samples": list(f.samples)}
            )

        return {
            "conditions": self.conditions.as_dict(),
            "interval": self.interval,
            "frames": self.frames,
            "size": list(self.size),
            "methods": {
                m: {
                    "segmenter": r.segmenter,
                    "key_ms": fig(r.key_ms),
                    "nonkey_ms": fig(r.nonkey_ms),
                    "fps": fig(r.fps),
                    "within_noise_of": self.within_noise(m),
                }
                for m, r in self.rows.items()
            },
        }


def _model_ms(predictor: VideoPredictor, frames: np.ndarray, interval: int, key: bool, batch: bool) -> float:
    """Median model ms of the key (or non-key) frames of one run over `frames` at `interval`."""
    state = predictor.init_video(frames, interval)
    results = predictor.propagate(state, batch_segment=batch)
    times = [r.timings["model_s"] for r in results if r.is_key == key]
    return 1000.0 * float(np.median(times))


def method_speeds(
    predictors: Mapping[str, VideoPredictor],
    frames: np.ndarray,
    interval: int,
    rounds: int = 3,
    warmup: int = 1,
    *,
    key_frames: int = 3,
    batch_segment: bool = False,
    on_step: Step | None = None,
    load: Callable[[], float | None] = load_average,
) -> SpeedReport:
    """Key-frame latency per segmenter, non-key latency and FPS at K per method, under `measure`.

    Args:
        predictors: method -> its predictor (all on one device).
        frames: T x H x W x 3 uint8; a segmenter workload runs its first `key_frames` frames as key
            frames, a method workload the first K+1 (key frames 0 and K, K-1 non-key frames between).
        interval: K (>= 2).
        batch_segment: the offline mode of `VideoPredictor.propagate` (a segment as one batch).
    Returns:
        SpeedReport (see the module docstring for how FPS is made from the two latencies).
    """
    if interval < 2:
        raise ValueError("timing non-key frames needs K >= 2")
    frames = np.asarray(frames)
    names = list(predictors)
    groups: dict[str, list[str]] = {}
    for m in names:
        groups.setdefault(segmenter_identity(predictors[m].model), []).append(m)
    labels = {ident: f"segmenter {i + 1}" for i, ident in enumerate(groups)}
    workloads: dict[str, Workload] = {}
    for ident, members in groups.items():
        # per_frame's own predictor when it is in the group: it is nothing but the segmenter
        runner = predictors["per_frame" if "per_frame" in members else members[0]]
        head = frames[: max(1, key_frames)]
        workloads[labels[ident]] = lambda p=runner, f=head: {
            "key_ms": _model_ms(p, f, 1, True, batch_segment)
        }
    segment = frames[: interval + 1]
    for m in names:
        if m != "per_frame" and len(segment) > 1:
            p = predictors[m]
            workloads[m] = lambda p=p: {"nonkey_ms": _model_ms(p, segment, interval, False, batch_segment)}
    device = next(iter(predictors.values())).device if predictors else "cpu"
    t = measure(workloads, rounds, warmup, device=device, on_step=on_step, load=load)
    rows = {}
    for ident, members in groups.items():
        key = t.figures[labels[ident]]["key_ms"]
        for m in members:
            nonkey = t.figures[m]["nonkey_ms"] if m in t.figures else None
            if nonkey is None:
                fps = Figure(tuple(1000.0 / k for k in key.samples))
            else:  # round by round: the round's key and non-key samples make its FPS
                pairs = zip(key.samples, nonkey.samples, strict=True)
                fps = Figure(tuple(1000.0 * interval / (k + (interval - 1) * n) for k, n in pairs))
            rows[m] = MethodSpeed(m, labels[ident], key, nonkey, fps)
    size = tuple(int(v) for v in frames.shape[1:3])
    segs = {labels[i]: ms for i, ms in groups.items()}
    return SpeedReport({m: rows[m] for m in names}, t.conditions, interval, len(segment), size, segs)
