"""Types and helpers shared by the `mpvss_core.io` modules.

The source type aliases accepted by the readers and writers (`PathLike`, `VideoSource`, `ImageSource`)
and `_short_reason`, which turns an exception raised by PyAV, Pillow, zipfile or the OS into the short
phrase quoted in an `InputError` message.
"""

from __future__ import annotations

import os
from typing import BinaryIO

PathLike = str | os.PathLike


VideoSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


ImageSource = str | os.PathLike | bytes | bytearray | memoryview


def _short_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")
