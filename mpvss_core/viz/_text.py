"""Font and text-measuring helpers for the `mpvss_core.viz` images.

`_font` returns PIL's built-in default font, at a requested pixel size when FreeType is available
(bitmap default otherwise), so no font file is needed; `_text_size` gives a string's rendered width
and height for layout.
"""

from __future__ import annotations

from PIL import ImageFont


def _font(size: int | None = None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's default font, at `size` when FreeType is available (bitmap default otherwise)."""
    if size is not None:
        try:
            return ImageFont.load_default(size=size)
        except (TypeError, ValueError, OSError):
            pass
    return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return int(right - left), int(bottom - top)
