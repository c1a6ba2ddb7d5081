"""The design lives in the repository: every reference to a document names a file and a section that
exist here, every relative link of the README and docs/ resolves, and the README stays a front door.

A reference is `docs/<page>.md §N` (several: `§1.3-1.8`, `§3.1, §3.2`); inside a page of docs/ a bare
`§N` means that page, and `other.md §N` is resolved beside it. Section N is a heading that starts with
that number (`## 3. Metric definitions`, `### 1.12 Training recipe`, `#### 4.2.9 Supervision`).
The forms used before the design moved into docs/ (a design page or method notes cited by number, the
development checkout's shared folder) are refused outright.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("mpvss_core", "analysis", "mpvss_cli", "app", "benchmarks", "scripts", "tests")
THIS = Path(__file__).resolve()

# "docs/x.md §1.2", "(x.md) §3", "x.md §3.1, §3.2", "x.md §1.3-1.8"
_SECS = r"§\s*\d+(?:\.\d+)*(?:\s*-\s*\d+(?:\.\d+)*)?"
REFERENCE = re.compile(rf"(?P<file>(?:[\w.-]+/)*[\w-]+\.md)\)?\s*(?P<secs>{_SECS}(?:\s*,\s*{_SECS})*)")
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)(?:\s*-\s*(\d+(?:\.\d+)*))?")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HEADING_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?(?:\s|$)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
# the old forms: a design page by section, method notes by number, the development checkout's files
STALE = {
    "a design page outside the repository": re.compile(r"\bDESIGN\b"),
    "method notes cited by number": re.compile(r"\bmethod[- ]notes?,?\s+(?:sections?\s+)?§?\s*\d"),
    "notes cited by number": re.compile(r"(?<!method )(?<![\w/-])notes\s+(?:sections?\s+)?§?\s*\d+\.\d"),
    "notes outside the repository": re.compile(r"reference-notes"),
    "the development checkout": re.compile(r"development checkout|\.\./shared\b|\bshared/(?:paper|DESIGN)"),
}


def _code_files() -> list[Path]:
    files = [p for d in CODE_DIRS for p in sorted((ROOT / d).rglob("*.py")) if "__pycache__" not in p.parts]
    files += sorted(ROOT.glob("*.py")) + sorted(ROOT.glob("*.toml")) + sorted((ROOT / ".streamlit").glob("*"))
    return [p for p in files if p.is_file() and p.resolve() != THIS]


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slug(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _headings(path: Path) -> tuple[set[str], set[str]]:
    """(section numbers, anchors) of a markdown file's headings, outside code blocks."""
    numbers, anchors, seen = set(), set(), {}
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = HEADING.match(line)
        if not m:
            continue
        title = m.group(2)
        if n := HEADING_NUMBER.match(title):
            numbers.add(n.group(1))
        slug = _slug(title)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return numbers, anchors


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _problems(path: Path) -> list[str]:
    """Every reference in `path` that names a missing document or section, and every stale form."""
    text = path.read_text(encoding="utf-8")
    rel = path.relative_to(ROOT)
    problems = [
        f"{rel}:{_line(text, m.start())}: {what}: {m.group(0)!r}"
        for what, pattern in STALE.items()
        for m in pattern.finditer(text)
    ]
    in_docs = path.parent == ROOT / "docs"
    covered: list[tuple[int, int]] = []
    for m in REFERENCE.finditer(text):
        covered.append(m.span())
        name = m.group("file")
        target = (path.parent / name) if in_docs and not name.startswith("docs/") else ROOT / name
        problems += _check_sections(rel, _line(text, m.start()), target, m.group("secs"))
    for m in SECTION.finditer(text):  # a bare § belongs to no document unless it is in docs/
        if any(a <= m.start() < b for a, b in covered):
            continue
        if in_docs:
            problems += _check_sections(rel, _line(text, m.start()), path, m.group(0))
        else:
            problems.append(f"{rel}:{_line(text, m.start())}: {m.group(0)!r} names no document")
    return problems


def _check_sections(rel: Path, line: int, target: Path, secs: str) -> list[str]:
    if not target.resolve().is_relative_to(ROOT) or not target.is_file():
        return [f"{rel}:{line}: {target.name} is not a file of the repository"]
    numbers, _ = _headings(target)
    cited = [n for m in SECTION.finditer(secs) for n in m.groups() if n]
    return [f"{rel}:{line}: {target.relative_to(ROOT)} has no section {n}" for n in cited if n not in numbers]


@pytest.mark.parametrize("path", _code_files() + _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_references_name_sections_that_exist(path: Path) -> None:
    assert _problems(path) == []


@pytest.mark.parametrize("path", _doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for m in LINK.finditer(text):
        link = m.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        file, _, anchor = link.partition("#")
        target = (path.parent / file).resolve() if file else path
        if not target.is_relative_to(ROOT) or not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in _headings(target)[1]:
            broken.append(f"{link}: no heading with that anchor")
    assert broken == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refusal, on files made for it: stale forms, a missing page, a missing section, a bare §."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("# Notes\n\n## 1. One\n\n### 1.2 Two\n\nSee §1, §3.\n")
    code = tmp_path / "mod.py"
    code.write_text(
        '"""A (docs/notes.md §1.2), B (docs/notes.md §1-1.2, §2), C (docs/gone.md §1), D §1,\n'
        'E (DESIGN section 2), F (method-notes 1.1), G (notes 4.2.9), H (../shared/x)."""\n'
    )
    found = _problems(code)
    assert [p.split(": ", 1)[1] for p in found] == [
        "a design page outside the repository: 'DESIGN'",
        "method notes cited by number: 'method-notes 1'",
        "notes cited by number: 'notes 4.2'",
        "the development checkout: '../shared'",
        "docs/notes.md has no section 2",
        "gone.md is not a file of the repository",
        "'§1' names no document",
    ]
    assert [p.split(": ", 1)[1] for p in _problems(tmp_path / "docs" / "notes.md")] == [
        "docs/notes.md has no section 3"
    ]


def test_readme_is_a_front_door() -> None:
    """At most about 300 lines, and its test command is the one CI runs (.ci/run)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = [line for line in ci if "python3 -m pytest" in line]
    assert len(command) == 1 and f"\n{command[0]}\n" in readme


def test_slug_is_githubs() -> None:
    assert _slug("4. Data flow") == "4-data-flow"
    assert _slug("Methods at K = 5 and over K") == "methods-at-k--5-and-over-k"
    assert _slug("An unlabelled clip in the app") == "an-unlabelled-clip-in-the-app"
