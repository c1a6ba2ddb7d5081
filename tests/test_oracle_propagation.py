"""scripts/oracle_propagation.py: the exact-flow upper bound warps every frame from its own key frames."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mpvss_core.data.synthetic import render_clip
from mpvss_core.spec import resolve_model

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "oracle_propagation.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("oracle_propagation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("optical_flow", {(1, 0), (2, 0), (4, 3), (5, 3)}),
        ("bi_optical_flow", {(1, 0), (2, 0), (4, 3), (5, 3), (1, 3), (2, 3), (4, 6), (5, 6)}),
    ],
)
def test_each_non_key_frame_is_warped_by_the_exact_flow_to_its_keys(
    script, one_torch_thread, method, expected
):
    clip = render_clip(900003, num_frames=7, size=(64, 128))
    asked = []
    exact = clip.flow

    def recorded(src, dst):
        asked.append((src, dst))
        return exact(src, dst)

    clip.flow = recorded
    result = script.oracle(resolve_model("tiny"), [clip], method, 3)
    assert set(asked) == expected and len(asked) == len(expected)  # keys 0, 3, 6; each pair once
    assert result.summary["num_frames"] == 7 and np.isfinite(result.summary["miou"])
