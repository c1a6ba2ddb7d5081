"""Placeholder while building (replaced below)."""

import streamlit as st

st.title("reproduce")
