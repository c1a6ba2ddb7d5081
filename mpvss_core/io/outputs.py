"""Writing results: every destination is checked before any work starts, every file is written
atomically with the mode the umask gives, and no temporary file is left behind.

    out = check_file_dest("run/out.json", "--json", inputs=[data_path])    # InputError if unusable
    labels = check_dir_dest("png/", "--labels-dir", inputs=[source])
    with atomic_file(out, "w") as fh:                                       # temp file + os.replace
        json.dump(summary, fh)
    with atomic_path(table_path) as tmp:                                    # writers that need a path
        frame.to_csv(tmp, index=False)

A destination is refused (`InputError`) when it names an input, lies inside an input folder (the next
run would read the outputs as data), is a folder where a file is meant or the reverse, has a path
component longer than the file system allows (255 bytes), or sits where nothing can be written.
Missing folders on the way are created when the file is written, not when it is checked.
`tempfile.mkstemp` creates files 0600; `atomic_path` gives the finished file the mode of an ordinary
`open(path, "w")` (0644 under umask 022), so results can be shared like any other file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from mpvss_core.errors import InputError
from mpvss_core.io._common import PathLike, _short_reason

__all__ = [
    "NAME_MAX",
    "atomic_file",
    "atomic_path",
    "check_dir_dest",
    "check_distinct",
    "check_file_dest",
    "dir_mode",
    "file_mode",
]

NAME_MAX = 255  # bytes in one path component on Linux, macOS and Windows file systems
_TEMP_STEM_BYTES = 200  # room for the '.', '.' and 8 random characters of a temporary name


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it before Python 3.13: set and restore
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open(path, "w")` would give a new file: 0o666 less the umask (0o644 under 022)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode `mkdir` would give a new folder: 0o777 less the umask (0o755 under 022)."""
    return 0o777 & ~_umask()


def _label(path: Path, what: str | None) -> str:
    return f"{what} '{path}'" if what else f"'{path}'"


def _check_names(path: Path, what: str | None) -> None:
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise InputError(
                f"{_label(path, what)}: the name '{part[:40]}...' is {size} bytes; a file or folder "
                f"name can be at most {NAME_MAX} bytes"
            )


def _nearest_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if os.path.lexists(p):
            return p
    return Path.cwd()


def _check_writable_folder(dest: Path, folder: Path, what: str | None) -> None:
    """`folder` (which exists) is a folder a new file can be created in: tried, not assumed (a
    permission test says yes to root on a read-only mount)."""
    if not folder.is_dir():
        raise InputError(f"{_label(dest, what)}: '{folder}' is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mpvss-write-check.", dir=folder)
    except OSError as exc:
        reason = _short_reason(exc)
        raise InputError(f"{_label(dest, what)}: no file can be created in '{folder}' ({reason})") from None
    os.close(fd)
    os.unlink(probe)


def _check_not_input(dest: Path, inputs: Iterable[PathLike | None], what: str | None, kind: str) -> None:
    here = dest.resolve()
    for src in inputs:
        if src is None or not os.path.exists(src):
            continue
        source = Path(src).resolve()
        same = here == source or (dest.exists() and os.path.samefile(dest, source))
        if same:
            raise InputError(
                f"{_label(dest, what)} is an input of this command; writing the {kind} there would "
                "replace it: choose another name"
            )
        if source.is_dir() and source in here.parents:
            raise InputError(
                f"{_label(dest, what)} is inside the source folder '{src}'; outputs written there mix "
                "with the data (a later run reads them as input): write outside the source"
            )


def check_file_dest(path: PathLike, what: str | None = None, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Refuse a file destination that cannot be written or that names an input (see the module docstring).

    Args:
        path: where a file will be written (missing folders on the way are fine: they are created).
        what: how the user named it in messages, e.g. "--json".
        inputs: paths the command reads (None and paths that do not exist are skipped).
    Returns:
        `path` as a Path.
    Raises:
        InputError: the path is a folder, too long, under a file, in a folder that cannot be written,
            an input, or inside an input folder.
    """
    dest = Path(path)
    _check_names(dest, what)
    if dest.is_dir():
        raise InputError(f"{_label(dest, what)} is a folder; name a file")
    if str(path).endswith(("/", os.sep)):
        raise InputError(f"{_label(dest, what)} ends in a path separator; name a file")
    _check_not_input(dest, inputs, what, "output")
    _check_writable_folder(dest, _nearest_existing(dest.parent), what)
    return dest


def check_dir_dest(path: PathLike, what: str | None = None, inputs: Iterable[PathLike | None] = ()) -> Path:
    """Refuse a folder destination that cannot be written or that is (inside) an input folder.

    Args, Returns: as `check_file_dest`; the folder is created when the first file is written.
    Raises:
        InputError: the path is a file, too long, under a file, cannot be written, an input, or
            inside an input folder.
    """
    dest = Path(path)
    _check_names(dest, what)
    if os.path.lexists(dest) and not dest.is_dir():
        raise InputError(f"{_label(dest, what)} is a file; name a folder")
    _check_not_input(dest, inputs, what, "outputs")
    _check_writable_folder(dest, _nearest_existing(dest), what)
    return dest


def check_distinct(dests: dict[str, PathLike | None]) -> None:
    """Refuse two destinations of one command that name the same path ({what: path}, None skipped)."""
    seen: dict[Path, str] = {}
    for what, path in dests.items():
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise InputError(f"{what} '{path}' is also {seen[key]}: give each output its own name")
        seen[key] = what


@contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp", what: str | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends.

    The temporary file is in the same folder (so `os.replace` is atomic), hidden (`.NAME.XXXXXXXX`),
    and removed whatever happens; the finished file gets `file_mode()`. Missing folders are created.
    An OSError while writing (disk full, permissions changed) becomes an `InputError` naming `path`.
    """
    path = Path(path)
    stem = os.fsencode(path.name)[:_TEMP_STEM_BYTES].decode(errors="ignore")
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"could not write {_label(path, what)} ({_short_reason(exc)})") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_file(
    path: PathLike, mode: str = "w", what: str | None = None, encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """`open(path, mode)` through `atomic_path`: readers never see a half-written file."""
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    with (
        atomic_path(path, what=what) as tmp,
        open(tmp, mode, encoding=None if mode == "wb" else encoding) as fh,
    ):
        yield fh
