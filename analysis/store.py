"""Write an Artifact to disk and read it back (what `mpvss reproduce --out` writes and the app shows).

    paths = save_artifact(art, "assets/results")       # assets/results/<name>/...
    art = load_artifact("table_1")                     # from assets/results, or None

Layout of `<out>/<name>/`: one CSV per table (`<table>.csv`), per figure an interactive HTML
(`<figure>.html`), its plotly JSON (`<figure>.json`, what `load_artifact` reads) and a PNG
(`<figure>.png`, when kaleido and a Chromium are available; otherwise skipped with a note), and
`artifact.json` (name, title, setting, findings, files). The HTML pages load plotly.js from one copy
at `<out>/plotly.min.js` written beside the artifact folders: the app and users are offline, so no CDN,
and one 4 MB copy instead of one per figure.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import plotly.io as pio

from mpvss_core.evaluation.store import json_safe
from mpvss_core.io import atomic_file

from .common import Artifact
from .method_colours import colour_methods

__all__ = ["ASSETS_RESULTS", "PLOTLY_JS", "load_artifact", "save_artifact", "write_pngs"]

ASSETS_RESULTS = Path(__file__).resolve().parent.parent / "assets" / "results"
PLOTLY_JS = "plotly.min.js"
CHROMIUM = Path("/usr/bin/chromium")


def _write_plotly_js(out_dir: Path) -> Path:
    path = out_dir / PLOTLY_JS
    if not path.is_file():
        from plotly.offline import get_plotlyjs

        with atomic_file(path, "w", what="--out") as fh:
            fh.write(get_plotlyjs())
    return path


def write_pngs(figures: dict, folder: Path) -> list[Path]:
    """PNG of each figure via kaleido (one Chromium start for all); [] with a printed note if unavailable."""
    if not figures:
        return []
    if "BROWSER_PATH" not in os.environ and CHROMIUM.is_file():
        os.environ["BROWSER_PATH"] = str(CHROMIUM)  # kaleido 1.x looks for Chrome; Debian ships chromium
    paths = [folder / f"{name}.png" for name in figures]
    try:
        figs = list(figures.values())
        # kaleido's write_images ignores the layout's size (700x500 default): image grids need theirs
        pio.write_images(
            figs, paths, width=[f.layout.width for f in figs], height=[f.layout.height for f in figs]
        )
    except Exception as exc:  # no kaleido, no browser, a renderer crash: PNGs are optional
        print(
            f"note: PNG export skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
            file=sys.stderr,
        )
        for p in paths:
            p.unlink(missing_ok=True)
        return []
    return [p for p in paths if p.is_file()]


def save_artifact(art: Artifact, out_dir: str | os.PathLike, png: bool = True) -> list[Path]:
    """Write `art` under `<out_dir>/<art.name>/` (see the module docstring); returns the files written.

    The artifact's folder is replaced as a whole, so no stale table or figure of an earlier run stays.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = _write_plotly_js(out_dir)
    final = out_dir / art.name
    tmp = out_dir / f".{art.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:  # a failure half-way leaves neither the temporary folder nor a half artifact
        files = _write_into(art, tmp, png)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [js, *(final / f for f in files), final / "artifact.json"]


def _write_into(art: Artifact, tmp: Path, png: bool) -> list[str]:
    """Every file of `art` in the folder `tmp`; returns their names (artifact.json aside)."""
    files: list[str] = []
    for name, table in art.tables.items():
        table.to_csv(tmp / f"{name}.csv", index=False)
        files.append(f"{name}.csv")
    for name, fig in art.figures.items():
        (tmp / f"{name}.json").write_text(fig.to_json(), encoding="utf-8")
        # relative script path: the page works wherever <out_dir> is copied, offline
        fig.write_html(tmp / f"{name}.html", include_plotlyjs=f"../{PLOTLY_JS}", full_html=True)
        files += [f"{name}.json", f"{name}.html"]
    if png:
        files += [p.name for p in write_pngs(art.figures, tmp)]
    meta = {
        "name": art.name,
        "title": art.title,
        "setting": art.setting,
        "findings": art.findings,
        "tables": list(art.tables),
        "figures": list(art.figures),
        "files": files,
    }
    (tmp / "artifact.json").write_text(
        json.dumps(json_safe(meta), indent=2, default=str) + "\n", encoding="utf-8"
    )
    return files


def load_artifact(name: str, root: str | os.PathLike = ASSETS_RESULTS) -> Artifact | None:
    """The artifact saved under `<root>/<name>/`, or None when it is absent or unreadable."""
    folder = Path(root) / name
    try:
        meta = json.loads((folder / "artifact.json").read_text(encoding="utf-8"))
        tables = {t: pd.read_csv(folder / f"{t}.csv") for t in meta["tables"]}
        figures = {
            f: colour_methods(pio.from_json((folder / f"{f}.json").read_text(encoding="utf-8")))
            for f in meta["figures"]
        }
    except (OSError, ValueError, KeyError):
        return None
    return Artifact(
        meta["name"], meta["title"], tables, figures, meta.get("setting", {}), meta.get("findings", [])
    )
