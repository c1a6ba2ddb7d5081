"""The app in a real browser: `streamlit run` + Debian Chromium driven by Playwright (tiny model, small
clip). Every page must render without an exception or error element; screenshots go to a tmp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# a real server and browser: about a minute here, more on a busy CI machine
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if shutil.which("streamlit") is None and pytest.importorskip("streamlit") is None:
    pytest.skip("streamlit is not installed", allow_module_level=True)

from tests.app_browser import PAGES, app_server, visit_pages  # noqa: E402
from tests.footage import write_table_video  # noqa: E402


def _env(tmp_path) -> dict[str, str]:
    return {
        "MPVSS_APP_TEST": "1",
        "MPVSS_APP_DATA": str(tmp_path / "data"),
        "MPVSS_RESULTS": str(tmp_path / "res"),
    }


def test_every_page_renders_in_chromium(tmp_path) -> None:
    with app_server(_env(tmp_path)) as url:
        problems = visit_pages(url, tmp_path / "shots", size=(1200, 900), timeout_ms=180_000)
    assert set(problems) == set(PAGES.values())
    assert not any(problems.values()), problems
    for name in problems:
        shot = tmp_path / "shots" / f"app_{name}.png"
        assert shot.is_file() and shot.stat().st_size > 10_000, name  # a rendered page, not a blank one


def test_an_uploaded_video_reaches_every_page_in_chromium(tmp_path) -> None:
    """A user's own unlabelled, non-street clip, uploaded in the sidebar and kept while they click
    through the pages: each page shows it (by file name) and renders without an error."""
    video = write_table_video(tmp_path / "table_top.mp4", 10, (96, 160))
    with app_server(_env(tmp_path)) as url:
        problems = visit_pages(
            url, tmp_path / "up", (1200, 900), 180_000, "upload_", upload=video, expect_text=video.name
        )
    assert set(problems) == set(PAGES.values())
    assert not any(problems.values()), problems
