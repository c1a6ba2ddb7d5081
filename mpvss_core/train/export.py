"""Write trained models into a model bundle (`checkpoints.bundle` layout) with their provenance.

    export_segmenter("runs/segmenter/last", "assets/models/default")     # stage 0 -> <bundle>/segmenter
    export_flow(summary, "assets/models/default")                        # stage 1 -> <bundle>/<method>
    export_flow_run("runs/flow/last", "assets/models/default")          # the same from a run folder

Weights are stored in float16 (the shipped bundle must stay small). `bundle.json` keeps, per entry
("segmenter" and each method), the record Table IV needs: the training command, training time, device,
steps and the trainer's last validation mIoU (a quick subset check; `mpvss eval` gives the full numbers).
A variant must have been trained on the bundle's segmenter (from `--segmenter <bundle>`, or from the
stage-0 checkpoint the bundle's float16 copy was made of); `export_flow` checks this.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mpvss_core.checkpoints.bundle import BUNDLE_NAME, save_partial, trainable_state, write_bundle_index
from mpvss_core.checkpoints.checkpoint import WEIGHTS_NAME, save_checkpoint
from mpvss_core.config import PRESETS, MPVSSConfig, flow_preset_for, get_preset
from mpvss_core.errors import InputError
from mpvss_core.methods.table import METHODS, SEGMENTER_ONLY, method_spec
from mpvss_core.modeling.mpvss import MPVSS
from mpvss_core.train.common import load_segmenter

__all__ = [
    "BUNDLE_BUDGET_BYTES",
    "bundle_size",
    "export_flow",
    "export_flow_run",
    "export_segmenter",
    "read_bundle_index",
    "record_eval",
]

SEGMENTER_FOLDER = "segmenter"
BUNDLE_BUDGET_BYTES = 40 * 10**6  # the shipped bundle's size budget (issue 5)


def read_bundle_index(bundle: Path) -> dict[str, Any]:
    path = bundle / BUNDLE_NAME
    if not path.is_file():
        return {"segmenter": SEGMENTER_FOLDER, "variants": {}, "records": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def bundle_size(bundle: str | Path) -> int:
    """Bytes of every file in the bundle folder."""
    return sum(f.stat().st_size for f in Path(bundle).rglob("*") if f.is_file())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _write_fp16(model: MPVSS, folder: Path, meta: dict[str, Any], trained: dict[str, str]) -> None:
    """Float16 copy of the segmenter only; the loader fills in a seeded placeholder flow module."""
    meta = {**meta, "flow_omitted": True, "flow_init_seed": 0}
    save_checkpoint(model, folder, extra_meta=meta, trained=trained)
    state = {
        k: (v.half() if v.is_floating_point() else v).detach().cpu().contiguous().clone()
        for k, v in model.state_dict().items()
        if k.startswith("segmenter.")
    }
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt", "dtype": "float16"})


def _run_record(ckpt: Path) -> dict[str, Any]:
    """Provenance of a trainer checkpoint folder (<run>/last) from its trainer_state.json."""
    state_path = ckpt / "trainer_state.json"
    if not state_path.is_file():
        return {}
    state = json.loads(state_path.read_text(encoding="utf-8"))
    settings = state.get("settings") or {}
    rec = {
        "command": settings.get("command"),
        "device": settings.get("device"),
        "world_size": settings.get("world_size", 1),
        "steps": state.get("step"),
        "train_minutes": round(float(state.get("train_seconds", 0.0)) / 60.0, 2),
        "val_miou_trainer": (state.get("last_val") or {}).get("val_miou"),
    }
    init = (settings.get("config") or {}).get("init_flow")
    if init and Path(init).resolve() != ckpt.resolve():
        rec["init_flow_from"] = _init_record(init)
    return rec


def _init_record(init: str) -> dict[str, Any]:
    """What a flow module started from (--init-flow): the run's own record (a flow pre-training, say),
    so a bundle keeps every command that went into an entry (Table IV lists it); else its path."""
    path = Path(init)
    return _run_record(path) if (path / "trainer_state.json").is_file() else {"source": str(init)}


def export_segmenter(
    source: str | Path, bundle: str | Path, record: dict[str, Any] | None = None, preset: str | None = None
) -> Path:
    """Write a stage-0 checkpoint as `<bundle>/segmenter` (float16) and record it in bundle.json.

    Only the segmenter's tensors are stored (a random flow module would cost 4 MB of the 40 MB budget
    and is unused by the segmenter-only methods; loading fills in one seeded at 0). If the segmenter
    weights change, the variants trained on the old ones are dropped from the index, since they would no
    longer match it.
    """
    source, bundle = Path(source), Path(bundle)
    trained, inherited = load_segmenter(str(source))  # any model spec: a stage-0 run, an HF folder
    name = preset or flow_preset_for(trained.cfg)
    cfg = MPVSSConfig(
        segmenter=trained.cfg.segmenter,
        flow=get_preset(name).flow,
        warp_mode=trained.cfg.warp_mode,
        name=name if trained.cfg.name.split("-", 1)[0] in PRESETS else trained.cfg.name,
    )
    torch.manual_seed(0)
    model = MPVSS(cfg)
    model.segmenter.load_state_dict(trained.segmenter.state_dict(), strict=True)
    rec = {**_run_record(source), **(record or {}), "exported": _now(), "source": str(source)}
    folder = bundle / SEGMENTER_FOLDER
    unchanged = (folder / WEIGHTS_NAME).is_file() and _same_segmenter(model, folder, heads_too=True)
    parts = {"segmenter": inherited.get("segmenter") or rec.get("command") or str(source)}
    _write_fp16(model, folder, {"stage": "segmenter", "record": rec}, parts)
    index = read_bundle_index(bundle)
    variants = dict(index.get("variants") or {}) if unchanged else {}
    records = {k: v for k, v in (index.get("records") or {}).items() if k in variants}
    records["segmenter"] = rec
    write_bundle_index(bundle, SEGMENTER_FOLDER, variants, records)
    return folder


def _same_segmenter(model: MPVSS, base_folder: Path, heads_too: bool = False) -> bool:
    """Whether `model`'s segmenter weights equal the bundle segmenter's, up to its float16 rounding.

    Stage-1 heads are excepted unless `heads_too` (they are trained further and stored per variant).
    """
    base = load_file(str(base_folder / WEIGHTS_NAME))
    skip = set() if heads_too else set(trainable_state(model))
    ours = model.state_dict()

    def same(k: str) -> bool:
        a, b = ours[k].detach().cpu(), base.get(k)
        if b is None or a.shape != b.shape:
            return False
        return torch.equal(a.to(b.dtype).float(), b.float()) if b.is_floating_point() else torch.equal(a, b)

    return all(same(k) for k in ours if k.startswith("segmenter.") and k not in skip)


def export_flow(summary: dict[str, Any], bundle: str | Path) -> Path:
    """Write a stage-1 result (`train_flow`'s summary) as `<bundle>/<method>` and record it.

    Raises:
        InputError: the flow module was trained on a segmenter other than the bundle's.
    """
    bundle = Path(bundle)
    model: MPVSS = summary["model"]
    method = summary["method"]
    base = bundle / SEGMENTER_FOLDER
    if not (base / WEIGHTS_NAME).is_file():
        source = Path(summary["segmenter"])
        if (source / BUNDLE_NAME).is_file():
            raise InputError(f"{bundle} has no segmenter and {source} is another bundle: export it first")
        export_segmenter(source, bundle)
    if not _same_segmenter(model, base):
        raise InputError(
            f"the {method} flow module was trained on a segmenter other than {base}; train it with "
            f"--segmenter {bundle} (or export the matching segmenter first)"
        )
    rec = {
        "command": summary.get("command"),
        "device": summary.get("device"),
        "world_size": summary.get("world_size", 1),
        "steps": summary.get("steps"),
        "train_minutes": summary.get("train_minutes"),
        "wall_minutes": summary.get("wall_minutes"),
        "labels": summary.get("labels"),
        "val_miou_trainer": (summary.get("val") or {}).get("val_miou"),
        "exported": _now(),
    }
    if summary.get("init_flow"):
        rec["init_flow_from"] = _init_record(summary["init_flow"])
    parts = summary.get("trained") or {"heads": rec["command"], "flow": rec["command"]}
    folder = save_partial(model, bundle / method, base, extra_meta={"stage": "flow", "record": rec},
                          trained=parts)  # fmt: skip
    index = read_bundle_index(bundle)
    variants = {**(index.get("variants") or {}), method: method}
    records = {**(index.get("records") or {}), method: rec}
    write_bundle_index(bundle, SEGMENTER_FOLDER, variants, records)
    size = bundle_size(bundle)
    if size > BUNDLE_BUDGET_BYTES:
        budget = BUNDLE_BUDGET_BYTES / 1e6
        print(f"warning: bundle {bundle} is {size / 1e6:.1f} MB, over the {budget:.0f} MB budget")
    return folder


def export_flow_run(ckpt: str | Path, bundle: str | Path) -> Path:
    """`export_flow` from a stage-1 run checkpoint (`<run>/last`), e.g. a run stopped or resumed
    without `--export-to`: the record comes from its trainer_state.json.

    Raises:
        InputError: not a stage-1 run checkpoint (or the bundle's segmenter is another one).
    """
    from mpvss_core.spec import resolve_model

    ckpt = Path(ckpt)
    state_path = ckpt / "trainer_state.json"
    settings = (
        json.loads(state_path.read_text(encoding="utf-8")).get("settings") or {}
        if state_path.is_file()
        else {}
    )
    config = settings.get("config") or {}
    if settings.get("stage") != "flow" or "method" not in config:
        raise InputError(f"{ckpt} is not a stage-1 run checkpoint (no flow-stage trainer_state.json in it)")
    method = method_spec(config["method"]).name
    spec = resolve_model(str(ckpt))
    rec = _run_record(ckpt)
    summary = {
        **rec,
        "model": spec.load(method),
        "method": method,
        "segmenter": config.get("segmenter"),
        "init_flow": config.get("init_flow"),
        "labels": "none (exact flow only)" if config.get("pretrain_flow") else config.get("labels"),
        "trained": dict(spec.entry(method).trained),
        "val": {"val_miou": rec.get("val_miou_trainer")},
    }
    return export_flow(summary, bundle)


def record_eval(bundle: str | Path, entry: str, eval_json: str | Path) -> dict[str, Any]:
    """Add `mpvss eval --json` results to the record of `entry` ("segmenter" or a method) in bundle.json.

    Each result is kept as {method, interval, miou, wiou, mvc8, mvc16, data, num_frames}; a later
    result for the same (method, interval, data) replaces the earlier one. A method entry keeps only
    the results of the methods that run its weights (`pixel_flow` also keeps `bi_pixel_flow`'s) and
    "segmenter" only the segmenter-only methods', so one `--json` file that evaluated several methods
    can be recorded next to each of them.
    """
    bundle = Path(bundle)
    index = read_bundle_index(bundle)
    records = dict(index.get("records") or {})
    if entry not in records:
        raise InputError(f"{bundle / BUNDLE_NAME} has no record {entry!r} (it has {sorted(records)})")
    try:
        data = json.loads(Path(eval_json).read_text(encoding="utf-8"))
        # one method evaluated: the file is that result; several: {"results": [...]}
        results = data["results"] if "results" in data else [data] if "method" in data else data["results"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{eval_json}: not an `mpvss eval --json` file ({exc})") from exc
    keep = ("method", "interval", "miou", "wiou", "mvc8", "mvc16", "data", "num_frames", "device")
    evals = {(e["method"], e["interval"], e["data"]): e for e in records[entry].get("eval", [])}
    if entry == "segmenter":
        mine = tuple(SEGMENTER_ONLY)
    else:
        own = method_spec(entry).name
        runs_it = (n for n, m in METHODS.items() if m.weights and method_spec(m.weights).name == own)
        mine = tuple(runs_it) or (own,)
    results = [r for r in results if isinstance(r, dict) and r.get("method") in mine]
    if not results:
        raise InputError(f"{eval_json} has no results of {' / '.join(mine)} to record next to {entry!r}")
    for r in results:
        item = {k: r.get(k) for k in keep}
        item["miou"] = round(float(item["miou"]), 2) if item["miou"] is not None else None
        evals[(item["method"], item["interval"], item["data"])] = item
    records[entry] = {**records[entry], "eval": list(evals.values())}
    write_bundle_index(bundle, index.get("segmenter", SEGMENTER_FOLDER), index.get("variants") or {}, records)
    return records[entry]
