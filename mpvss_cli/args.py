"""argparse value types every `mpvss` subcommand shares (one message per kind of bad value)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["non_negative_int", "positive_int", "size_type"]


def _int_at_least(text: str, low: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer >= 0")


def size_type(min_side: int, example: str, what: str = "size") -> Callable[[str], tuple[int, int]]:
    """An `HxW` argument type whose sides must lie within min_side..4096."""

    def parse(text: str) -> tuple[int, int]:
        try:
            h, w = (int(x) for x in text.lower().split("x"))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{what} must look like {example} (HxW), got {text!r}") from exc
        if not (min_side <= h <= 4096 and min_side <= w <= 4096):
            raise argparse.ArgumentTypeError(f"{what} sides must be within {min_side}..4096, got {text!r}")
        return h, w

    return parse
