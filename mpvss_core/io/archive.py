"""Safe zip extraction for untrusted uploads.

`safe_extract_zip` validates every entry before writing anything: corrupt or encrypted archives,
absolute paths, drive letters, `..` components, links and special files, too many entries, too many
bytes and zip bombs (per entry and overall) raise `ArchiveError`. The byte cap is enforced again on the
bytes really produced, and a failure midway removes the files already written.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO

from mpvss_core.errors import ArchiveError
from mpvss_core.io._common import PathLike, _short_reason

GiB = 1024**3


_DRIVE = re.compile(r"^[A-Za-z]:")


_RATIO_MIN_BYTES = 1 << 20  # tiny entries compress extremely well legitimately and cannot bomb anything


def safe_extract_zip(
    src: PathLike | bytes | BinaryIO,
    dest_dir: PathLike,
    max_files: int = 5000,
    max_total_bytes: int = 2 * GiB,
    max_ratio: float = 200.0,
) -> list[Path]:
    """Extract a zip archive into `dest_dir` after validating every entry; return the files written.

    Rejected with `ArchiveError`, before anything is written: corrupt or encrypted archives, absolute
    paths, drive letters, `..` components, symlinks and other special entries, more than `max_files`
    entries, more than `max_total_bytes` uncompressed, and entries over 1 MiB whose uncompressed /
    compressed ratio exceeds `max_ratio` (zip bombs). macOS `__MACOSX/` resource entries are skipped.
    If extraction fails midway (e.g. a CRC error), the files already written are removed.
    """
    label = f"'{Path(src).name}'" if isinstance(src, (str, os.PathLike)) else "the uploaded zip"
    fp = io.BytesIO(bytes(src)) if isinstance(src, (bytes, bytearray, memoryview)) else src
    try:
        zf = zipfile.ZipFile(fp if not isinstance(fp, (str, os.PathLike)) else os.fspath(fp))
    except FileNotFoundError as exc:
        raise ArchiveError(f"{label} does not exist") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"{label} is not a valid zip archive ({_short_reason(exc)})") from exc
    with zf:
        dest = Path(dest_dir)
        plan = _validate_zip(zf, dest.resolve(), label, max_files, max_total_bytes, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        return _write_zip_entries(zf, plan, label, max_total_bytes)


def _validate_zip(
    zf: zipfile.ZipFile, root: Path, label: str, max_files: int, max_total: int, max_ratio: float
) -> list[tuple[zipfile.ZipInfo, Path]]:
    infos = zf.infolist()
    if len(infos) > max_files:
        raise ArchiveError(f"{label} has {len(infos)} entries; at most {max_files} are allowed")
    total = sum(i.file_size for i in infos)
    if total > max_total:
        raise ArchiveError(
            f"{label} would extract to {total / 2**20:.0f} MiB; "
            f"at most {max_total / 2**20:.0f} MiB is allowed"
        )
    plan: list[tuple[zipfile.ZipInfo, Path]] = []
    seen: set[Path] = set()
    for info in infos:
        name = info.filename.replace("\\", "/")  # Windows tools may write backslash separators
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or _DRIVE.match(name):
            raise ArchiveError(f"{label} contains an entry with an absolute path: {info.filename!r}")
        if ".." in parts:
            raise ArchiveError(f"{label} contains an entry that escapes the folder ('..'): {info.filename!r}")
        if "\0" in name:
            raise ArchiveError(f"{label} contains an entry with a NUL byte in its name")
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise ArchiveError(f"{label} contains a symbolic link: {info.filename!r}")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(f"{label} contains a special file (device, pipe...): {info.filename!r}")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{label} contains an encrypted entry: {info.filename!r}")
        if info.file_size > _RATIO_MIN_BYTES and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ArchiveError(
                f"{label} looks like a zip bomb: {info.filename!r} expands {ratio:.0f}x "
                f"(at most {max_ratio:.0f}x is allowed)"
            )
        if not parts or parts[0] == "__MACOSX":
            continue
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root):
            raise ArchiveError(f"{label} entry {info.filename!r} would be written outside the target folder")
        if target in seen and not info.is_dir():
            raise ArchiveError(f"{label} contains {info.filename!r} twice")
        seen.add(target)
        plan.append((info, target))
    packed = sum(i.compress_size for i in infos)  # many medium entries can bomb together
    if total > _RATIO_MIN_BYTES and total > max_ratio * max(packed, 1):
        raise ArchiveError(
            f"{label} looks like a zip bomb: it expands {total / max(packed, 1):.0f}x "
            f"(at most {max_ratio:.0f}x is allowed)"
        )
    return plan


def _write_zip_entries(
    zf: zipfile.ZipFile, plan: list[tuple[zipfile.ZipInfo, Path]], label: str, max_total: int
) -> list[Path]:
    written: list[Path] = []
    budget = max_total  # enforce the cap on bytes really produced, not only on declared sizes
    try:
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, open(target, "wb") as fout:
                written.append(target)
                while chunk := fin.read(1 << 20):
                    budget -= len(chunk)
                    if budget < 0:
                        raise ArchiveError(f"{label} extracts to more bytes than its entries declare")
                    fout.write(chunk)
    except ArchiveError:
        _remove(written)
        raise
    except Exception as exc:  # CRC errors, unsupported compression, truncated data, disk errors
        _remove(written)
        raise ArchiveError(f"{label} could not be extracted ({_short_reason(exc)})") from exc
    return written


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)
