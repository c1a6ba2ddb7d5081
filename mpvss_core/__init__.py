"""MPVSS Studio core library: model, propagation methods, metrics, data and I/O (no Streamlit)."""

__version__ = "0.1.0"
