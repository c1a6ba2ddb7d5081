"""How far a model string travels before it becomes a model (prints figures; asserts nothing).

    python benchmarks/model_walk.py [--model default] [--methods all] [--skip-app]

Two walks, traced with a profile hook over this repository's own functions:
- `mpvss eval --method M1,M2,... --max-clips 1 --max-frames 2`: how many times a model string is
  resolved per evaluated method, and how many calls of resolution-like functions there are;
- the app's first page (Streamlit AppTest, the Compare page with its default methods): the modules
  on the call stacks that lead from the page run to each model construction (`MPVSS.__init__`), and
  how many times the string is resolved.

"Resolution-like" functions are those that turn the string into something: resolve_model,
resolve_spec, check_model_spec, is_hf_mask2former_dir, model_stamp, model_key, available_methods,
methods_of, config_of (the names of this and the earlier layout).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESOLVERS = {
    "resolve_model", "resolve_spec", "check_model_spec", "is_hf_mask2former_dir", "model_stamp",
    "model_key", "available_methods", "methods_of", "config_of",
}  # fmt: skip


def _module(filename: str) -> str | None:
    try:
        rel = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return None
    if rel.parts[0] in ("tests", "benchmarks", "docs") or rel.suffix != ".py":
        return None
    return ".".join(rel.with_suffix("").parts)


class Tracer:
    """Counts calls of resolution-like functions and records the stacks of model constructions."""

    def __init__(self) -> None:
        self.resolvers: Counter[str] = Counter()
        self.stacks: list[list[str]] = []

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        code = frame.f_code
        mod = _module(code.co_filename)
        if mod is None:
            return
        if code.co_name in RESOLVERS:
            self.resolvers[code.co_name] += 1
        is_model = type(frame.f_locals.get("self")).__name__ == "MPVSS"
        if code.co_name == "__init__" and mod.endswith("modeling.mpvss") and is_model:
            stack, f = [], frame
            while f is not None:
                m = _module(f.f_code.co_filename)
                if m is not None and (not stack or stack[-1] != m):
                    stack.append(m)
                f = f.f_back
            self.stacks.append(stack)

    def install(self) -> None:
        sys.setprofile(self)
        threading.setprofile(self)

    def remove(self) -> None:
        sys.setprofile(None)
        threading.setprofile(None)

    def report(self, what: str, per: int | None = None) -> None:
        modules = sorted({m for s in self.stacks for m in s})
        total = sum(self.resolvers.values())
        print(f"{what}: {total} resolution-like calls " + (f"({total / per:.1f} per method) " if per else "")
              + f"{dict(self.resolvers)}")  # fmt: skip
        print(f"  model constructions: {len(self.stacks)}; modules on their call stacks: {len(modules)}")
        for m in modules:
            print(f"    {m}")


def eval_walk(model: str, methods: str) -> None:
    try:
        from mpvss_cli import main
    except ImportError:  # the layout before the front-door change
        from mpvss_core.cli import main
    n = len(methods.split(",")) if methods != "all" else None
    tracer = Tracer()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MPVSS_RESULTS"] = tmp
        argv = ["eval", "--model", model, "--data", "synthetic:900000", "--method", methods, "--quiet",
                "--no-epe", "--no-cache"]  # fmt: skip
        tracer.install()
        try:
            main(argv)
        finally:
            tracer.remove()
    tracer.report(f"mpvss eval --method {methods}", n)


def app_walk() -> None:
    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(MPVSS_APP_TEST="1", MPVSS_APP_DATA=tmp, MPVSS_RESULTS=tmp)
        tracer = Tracer()
        at = AppTest.from_file(str(ROOT / "app" / "streamlit_app.py"), default_timeout=300)
        tracer.install()
        try:
            at.run()
        finally:
            tracer.remove()
    tracer.report("app, first run of the Compare page")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--methods", default="copy,optical_flow,query_flow")
    ap.add_argument("--skip-app", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    eval_walk(args.model, args.methods)
    if not args.skip_app:
        app_walk()


if __name__ == "__main__":
    main()
