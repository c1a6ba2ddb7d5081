"""`torchrun --nproc_per_node 2 -m mpvss_cli eval` (Gloo on CPU) gives the numbers of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mpvss_core.data.writer import write_split

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TIMINGS = {"fps", "fps_e2e", "latency_key_ms", "latency_nonkey_ms", "nonkey_key_latency_ratio", "dis_ms",
           "timed_frames", "warmup_frames", "world_size",
           # per-process counts and the conditions timings were taken in, not scores
           "segmenter_calls", "shared_key_frames", "timing"}  # fmt: skip


def _eval(root, out, results, nproc: int) -> list[dict]:
    argv = ["eval", "--model", "tiny", "--data", "synthetic:val", "--data-root", str(root),
            "--max-clips", "3",
            "--method", "copy,query_flow", "--interval", "3", "--no-cache", "--quiet", "--threads", "1",
            "--results", str(results), "--json", str(out)]  # fmt: skip
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [*launcher, "-m", "mpvss_cli", *argv] if nproc > 1 else [sys.executable, "-m", "mpvss_cli", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())["results"]


def test_two_processes_equal_one(tmp_path):
    root = tmp_path / "synth"
    write_split("val", root, num_clips=3, num_frames=17, size=(64, 128), progress=False)
    one = _eval(root, tmp_path / "one.json", tmp_path / "r1", 1)
    two = _eval(root, tmp_path / "two.json", tmp_path / "r2", 2)
    assert [r["world_size"] for r in one] == [1, 1] and [r["world_size"] for r in two] == [2, 2]
    for a, b in zip(one, two, strict=True):
        same = {k: v for k, v in a.items() if k not in TIMINGS}
        assert same == {k: v for k, v in b.items() if k not in TIMINGS}, a["method"]
        assert a["mvc8"] is not None and a["tc"] is not None and a["flow_epe"] is not None
