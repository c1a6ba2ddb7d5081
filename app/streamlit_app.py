"""MPVSS Studio, the Streamlit app: `streamlit run app/streamlit_app.py` (http://localhost:8501).

This entrypoint is the frame shared by every page: page config, the sidebar (model, device, clip,
K, methods) and the navigation. Pages live in `app/views/` and only lay things out; the work is done
by `mpvss_core` and `analysis`, with caching and progress in `app/state.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts app/ on sys.path, not the repository root that holds the packages; add it so
# the app also runs from a plain checkout (without `pip install -e .`).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from app import state  # noqa: E402
from app.components import sidebar  # noqa: E402
from mpvss_core.labels import SYNTH_PALETTE  # noqa: E402


def _page_icon() -> Image.Image:
    """The tab's icon as pixels (a 2x2 grid of class colours), served by the app itself: a `:material/`
    page icon is fetched from fonts.gstatic.com (and an emoji one from a CDN), and the app works offline.
    The navigation's material icons are drawn from the font Streamlit bundles, so they stay."""
    icon = np.empty((32, 32, 3), np.uint8)
    for i, (y, x) in enumerate(((0, 0), (0, 16), (16, 0), (16, 16))):
        icon[y : y + 16, x : x + 16] = SYNTH_PALETTE[(2, 0, 8, 13)[i]]
    return Image.fromarray(icon)


VIEWS = Path(__file__).resolve().parent / "views"
PAGES = {
    "Explore": [
        st.Page(VIEWS / "compare.py", title="Compare methods", icon=":material/compare:", default=True),
        st.Page(VIEWS / "flow.py", title="Flow explorer", icon=":material/air:"),
        st.Page(VIEWS / "attention.py", title="Attention", icon=":material/visibility:"),
    ],
    "Measure": [
        st.Page(VIEWS / "per_category.py", title="Per-category", icon=":material/bar_chart:"),
        st.Page(VIEWS / "interval.py", title="Key-frame interval", icon=":material/timeline:"),
        st.Page(VIEWS / "efficiency.py", title="Efficiency", icon=":material/speed:"),
        st.Page(VIEWS / "consistency.py", title="Video consistency", icon=":material/animation:"),
    ],
    "Paper": [st.Page(VIEWS / "reproduce.py", title="Reproduce", icon=":material/science:")],
}

st.set_page_config(page_title="MPVSS Studio", page_icon=_page_icon(), layout="wide")
nav = st.navigation(PAGES)
state.set_settings(sidebar.render())
nav.run()
