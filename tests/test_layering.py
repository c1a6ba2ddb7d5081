"""The import rules of docs/architecture.md, checked on the source: no import circle (module-level,
TYPE_CHECKING and function-level imports alike), and imports run one way between the packages:
`app` -> `analysis` -> `mpvss_core`, `mpvss_cli` -> `analysis` -> `mpvss_core`; `mpvss_core` imports no
other package of the project and never Streamlit."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mpvss_core", "mpvss_cli", "analysis", "app")
# package -> the project packages it may import
ALLOWED = {
    "mpvss_core": set(),
    "analysis": {"mpvss_core"},
    "mpvss_cli": {"mpvss_core", "analysis"},
    "app": {"mpvss_core", "analysis"},
}


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _project_module(name: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is a project module."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, mods: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(project modules, top-level names of every import) of one module, at any depth of its code."""
    found, tops = set(), set()
    is_pkg = mods[module].name == "__init__.py"
    for node in ast.walk(ast.parse(mods[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                tops.add(alias.name.split(".")[0])
                found.add(_project_module(alias.name, mods))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module if is_pkg else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rpartition(".")[0]
                base = f"{pkg}.{base}" if base else pkg
            tops.add(base.split(".")[0])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in mods else _project_module(base, mods))
    found.discard(None)
    found.discard(module)
    return found, tops


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    graph, tops = {}, {}
    for m in mods:
        graph[m], tops[m] = _imports(m, mods)
    return graph, tops


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_imports_run_one_way_between_packages():
    graph, tops = _graph()
    wrong = sorted(
        (m, e)
        for m, edges in graph.items()
        for e in edges
        if e.split(".")[0] != m.split(".")[0] and e.split(".")[0] not in ALLOWED[m.split(".")[0]]
    )
    assert wrong == []
    core_streamlit = sorted(m for m, t in tops.items() if m.startswith("mpvss_core") and "streamlit" in t)
    assert core_streamlit == []


def test_importing_the_core_loads_no_app_analysis_or_streamlit():
    code = (
        "import sys, mpvss_core, mpvss_core.predictor, mpvss_core.spec, mpvss_core.evaluation.runner;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'analysis', 'app', 'streamlit', "
        "'mpvss_cli'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
