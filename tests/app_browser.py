"""Drive the running app in Debian Chromium with Playwright: start `streamlit run`, open every page,
wait until it has rendered, report errors and save screenshots. Used by `tests/test_app_browser.py`,
and run as a script for the README's pictures (shipped model, 1400 px wide, full pages):

    python -m tests.app_browser --out docs            # writes docs/app_<page>.png
    python -m tests.app_browser --out docs --upload   # uploads the table clip of tests/footage.py in
                                                      # the sidebar: docs/upload_<page>.png
    python -m tests.app_browser --out /tmp/shots --pages flow,attention   # some pages only

With an upload, pages are reached through the sidebar's navigation links (a page load would start a
new session and lose the uploaded file), as a user clicks through them.

The first visit of a page computes its predictions (a few minutes on a 2-core CPU); they are cached
afterwards. Never runs `playwright install`: it uses the system browser at /usr/bin/chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# url path of each page (st.Page derives it from the file name) -> short name of the screenshot
PAGES = {
    "": "compare",
    "flow": "flow",
    "attention": "attention",
    "per_category": "per_category",
    "interval": "interval",
    "efficiency": "efficiency",
    "consistency": "consistency",
    "reproduce": "reproduce",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def app_server(env: dict[str, str] | None = None, timeout: float = 90.0) -> Iterator[str]:
    """Run the app on a free localhost port; yields its URL and stops it afterwards."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app" / "streamlit_app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not start listening in time")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _running(page) -> bool:
    """The script is running: the app root says so (`data-test-script-state`), or the status widget
    shows (it is hidden with `client.toolbarMode = "minimal"`, so the root's state is what counts)."""
    state = page.get_attribute('[data-testid="stApp"]', "data-test-script-state")
    if state in ("running", "rerunRequested"):
        return True
    widget = page.query_selector('[data-testid="stStatusWidget"]')
    return widget is not None and widget.is_visible() and state is None


def wait_rendered(page, timeout_ms: int) -> None:
    """Wait until the page's script run has finished (and stays finished: no rerun right after)."""
    page.wait_for_selector('[data-testid="stMain"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if not _running(page):
            page.wait_for_timeout(800)  # let charts draw; re-check the run did not restart
            if not _running(page):
                return
        page.wait_for_timeout(500)
    raise TimeoutError("the page kept running")


def visit_pages(
    url: str,
    out: Path,
    size=(1400, 1000),
    timeout_ms: int = 240_000,
    prefix: str = "app_",
    clicks: dict[str, str] | None = None,
    upload: Path | None = None,
    expect_text: str | None = None,
    only: set[str] | None = None,
):
    """Open every page, wait for it, screenshot it (full page); returns {name: [error texts]}.

    Every request the browser makes is logged (`page.on("request")`): one to any host but the app's
    own is a problem of the page that made it (the app must work offline). `only`: the names of the
    pages to visit (all when None; with an upload the first page is still opened, for the uploader).

    `clicks` maps a page name to the label of a button pressed (and waited for) before the screenshot.
    `upload`: choose "Upload" as the clip source on the first page, give the uploader this file, and
    reach the other pages through the sidebar's links (the same session). `expect_text`: a page whose
    main area does not show this text is reported as a problem (e.g. the uploaded file's name).
    """
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        for i, (path, name) in enumerate(PAGES.items()):
            if only is not None and name not in only and not (upload is not None and i == 0):
                continue
            requested.clear()
            if upload is None:
                page.goto(f"{url}/{path}", wait_until="domcontentloaded")
            elif i == 0:
                page.goto(url, wait_until="domcontentloaded")
                wait_rendered(page, timeout_ms)
                sidebar = page.locator('[data-testid="stSidebar"]')
                sidebar.get_by_text("Upload", exact=True).click()
                wait_rendered(page, timeout_ms)
                sidebar.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                    str(upload)
                )
                page.wait_for_timeout(1500)
                if only is not None and name not in only:
                    continue  # the upload is in the session: go on to the pages asked for
            else:
                page.locator('[data-testid="stSidebarNav"] a').nth(i).click()
                page.wait_for_timeout(1000)
            wait_rendered(page, timeout_ms)
            if clicks and name in clicks:
                page.get_by_role("button", name=clicks[name]).click()
                page.wait_for_timeout(1500)
                wait_rendered(page, timeout_ms)
            # the main area scrolls inside the window: grow the window to the content for a full picture
            height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": size[0], "height": max(size[1], int(height) + 20)})
            page.wait_for_timeout(1500)
            errors = [e.inner_text() for e in page.query_selector_all('[data-testid="stException"]')]
            errors += [e.inner_text() for e in page.query_selector_all('[data-testid="stAlertContentError"]')]
            if expect_text and expect_text not in page.locator('[data-testid="stMain"]').inner_text():
                errors.append(f"the page does not show {expect_text!r}")
            errors += [f"asked an external host for {u}" for u in external(requested, url)]
            problems[name] = errors
            page.screenshot(path=str(out / f"{prefix}{name}.png"), full_page=True)
            page.set_viewport_size({"width": size[0], "height": size[1]})
        browser.close()
    return problems


def external(urls: list[str], app_url: str) -> list[str]:
    """The requested URLs that leave the app's server (inline data: and blob: URLs stay in the page)."""
    own = urlsplit(app_url).netloc
    return sorted(
        {
            u
            for u in urls
            if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != own
        }
    )


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description="screenshots of every page of the app (shipped model)")
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder of the app_<page>.png files")
    ap.add_argument(
        "--upload", action="store_true", help="upload the table clip (tests/footage.py): upload_<page>.png"
    )
    ap.add_argument("--pages", help="comma-separated page names to visit (default: all), e.g. flow,attention")
    args = ap.parse_args()
    out = Path(args.out)
    upload = None
    if args.upload:
        import tempfile

        from tests.footage import write_table_video

        # the clip is regenerable: keep it out of the screenshots folder
        upload = write_table_video(Path(tempfile.mkdtemp()) / "table_clip.mp4")
    with app_server() as url:
        clicks = {"interval": "Compute the missing evaluations"}  # show a computed sweep, not an empty page
        problems = visit_pages(
            url,
            out,
            size=(1400, 1000),
            timeout_ms=1_800_000,
            clicks=clicks,
            upload=upload,
            prefix="upload_" if upload else "app_",
            only=set(args.pages.split(",")) if args.pages else None,
        )
    for name, errors in problems.items():
        print(f"{name}: {errors if errors else 'ok'}")
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
