"""Exceptions for untrusted input (docs/architecture.md §9).

Every user-facing failure is an `InputError` with a message that names the file and what is wrong
with it; the CLI prints the message and exits non-zero, the app shows it and keeps running.
"""

from __future__ import annotations


class InputError(ValueError):
    """Base class: the user's input cannot be used (the message says why)."""


class VideoDecodeError(InputError):
    """A file is not a decodable video (empty, not a video, truncated, corrupt, no frames)."""


class ArchiveError(InputError):
    """A zip archive is unsafe (absolute or `..` paths, links, too many files, too large) or corrupt."""


class LabelError(InputError):
    """A label map is unusable (wrong size, unknown class ids, unreadable)."""


class CheckpointError(InputError):
    """A checkpoint is unusable (pickle format, wrong shapes, missing or unexpected keys)."""


class MethodUnavailableError(InputError):
    """The chosen model cannot run a method (e.g. it has no trained flow module for it)."""
