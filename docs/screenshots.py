"""Screenshots of every page of the app with the shipped model, for the README.

    python docs/screenshots.py            # writes docs/app_<page>.png (1400 px wide, full page)

Starts the app on a free localhost port and drives Debian Chromium (docs/app_browser.py). The first
visit of a page computes its predictions (a few minutes on a 2-core CPU); they are cached afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_browser import app_server, visit_pages  # noqa: E402


def main() -> int:
    out = Path(__file__).resolve().parent
    with app_server() as url:
        clicks = {"interval": "Compute the missing evaluations"}  # show a computed sweep, not an empty page
        problems = visit_pages(url, out, size=(1400, 1000), timeout_ms=900_000, clicks=clicks)
    for name, errors in problems.items():
        print(f"{name}: {errors if errors else 'ok'}")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
