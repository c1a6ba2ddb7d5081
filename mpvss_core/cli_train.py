"""`mpvss train segmenter` and `mpvss train flow`: subcommands registered on the `mpvss` parser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the `mpvss` parser (none yet)."""
