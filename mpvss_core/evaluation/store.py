"""Results store: every evaluation's per-frame and per-clip tables and its summary, under a content key.

    key = result_key(model_key="random-tiny-tiny", data="3f2a...", method="query_flow", schedule="K5")
    store = ResultStore()                       # $MPVSS_RESULTS, else ./.mpvss_cache/results
    cached = store.load(key)                    # EvalResult or None
    store.save(key, result, key_payload)

Layout: `<root>/<key>/{summary.json, per_frame.parquet, per_clip.parquet, windows.parquet,
confusion.npy, key.json}`. The key is a hash of the model's identity for the method
(`ModelSpec.method_identity`: content hashes of its weights and configs, or the random preset and its
seed), the data identity (`evaluation.datasets.DataSet.identity`: clip names, file sizes and times,
or seeds), the method, the schedule, the evaluation options and `CODE_VERSION` (bumped whenever the
numbers an evaluation produces would change). A result is written into a temporary folder and renamed into
place in one step, so a crash never leaves a half result; a rerun with the same key reads the stored
result instead of recomputing it (timings included: they are those of the run that computed it, and
`summary["timing"]` says how they were made: device, threads, load average, one pass, warm-up frames;
`evaluation.timing.Conditions`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mpvss_core.io.outputs import dir_mode

__all__ = ["CODE_VERSION", "EvalResult", "ResultStore", "default_results_root", "json_safe", "result_key"]

# engine-3: VC windows and the confusion matrix are stored too; engine-4: FLOPs no longer depend on the
# inference path (a fast-path model's count could be cached as the method's)
CODE_VERSION = "engine-4"
SUMMARY = "summary.json"


@dataclass
class EvalResult:
    """One evaluation: `summary` (JSON-able dict), the `per_frame`, `per_clip` and VC `windows` tidy
    tables, the pooled KxK `confusion` matrix (rows ground truth, columns prediction), and, when the
    evaluation kept them (not stored), the predicted `labels` of each clip {name: TxHxW uint8}."""

    summary: dict[str, Any]
    per_frame: pd.DataFrame
    per_clip: pd.DataFrame
    windows: pd.DataFrame
    confusion: np.ndarray
    labels: dict[str, np.ndarray] | None = None
    cached: bool = False
    key: str | None = None


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def result_key(**parts: Any) -> str:
    """Hash of the named parts (model, data, method, schedule, options) and CODE_VERSION."""
    payload = json.dumps({**json_safe(parts), "code_version": CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def default_results_root() -> Path:
    return Path(os.environ.get("MPVSS_RESULTS") or Path(".mpvss_cache") / "results")


class ResultStore:
    """Evaluation results on disk, one folder per key (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_results_root()

    def path(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.path(key) / SUMMARY).is_file()

    def load(self, key: str) -> EvalResult | None:
        """The stored result, or None when absent or unreadable (then it is simply recomputed)."""
        folder = self.path(key)
        if not self.has(key):
            return None
        try:
            summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
            per_frame = pd.read_parquet(folder / "per_frame.parquet")
            per_clip = pd.read_parquet(folder / "per_clip.parquet")
            windows = pd.read_parquet(folder / "windows.parquet")
            confusion = np.load(folder / "confusion.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:  # damaged entry: recompute rather than fail
            warnings.warn(f"ignoring unreadable stored result {folder}: {exc}", stacklevel=2)
            return None
        return EvalResult(summary, per_frame, per_clip, windows, confusion, cached=True, key=key)

    def save(self, key: str, result: EvalResult, key_payload: dict[str, Any] | None = None) -> Path:
        """Write `result` under `key` atomically; an existing entry for the key is kept as is."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.root))
        try:
            os.chmod(tmp, dir_mode())  # mkdtemp makes it 0700; a result folder is shared like any other
            result.per_frame.to_parquet(tmp / "per_frame.parquet", index=False)
            result.per_clip.to_parquet(tmp / "per_clip.parquet", index=False)
            result.windows.to_parquet(tmp / "windows.parquet", index=False)
            np.save(tmp / "confusion.npy", np.asarray(result.confusion, np.int64), allow_pickle=False)
            (tmp / "key.json").write_text(json.dumps(json_safe(key_payload or {}), indent=2, sort_keys=True))
            text = json.dumps(json_safe(result.summary), indent=2, sort_keys=True)
            (tmp / SUMMARY).write_text(text + "\n", encoding="utf-8")
            try:
                os.replace(tmp, final)  # atomic; fails if the key's folder exists and is not empty
            except OSError:
                if not self.has(key):  # a damaged entry (no summary): replace it
                    shutil.rmtree(final, ignore_errors=True)
                    os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result.key = key
        return final
