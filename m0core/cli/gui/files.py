"""The files ``m0 gui`` may touch: paths confined to a folder, listings, atomic uploads."""

from __future__ import annotations

import os
import secrets
import unicodedata
from collections.abc import AsyncIterable, Collection
from pathlib import Path

from m0core.batch.runner import MEDIA_EXTENSIONS
from m0core.errors import M0Error

UPLOADS = "uploads"  # the folder of the output folder that receives uploads


class Forbidden(M0Error):
    """A path outside the folder it must stay in."""


class TooLarge(M0Error):
    """An upload over the size limit."""


class QuotaFull(TooLarge):
    """An upload that would take the uploads folder over its total quota."""


#: The longest path the page may send and the longest name an upload may have (UTF-8 bytes;
#: a file system takes 255, and a name made unique gets a few more).
MAX_PATH = 1024
MAX_NAME_BYTES = 200


def confine(root: Path, relative: str) -> Path:
    """``root / relative`` with symlinks resolved; :class:`Forbidden` unless it is inside
    ``root`` (which must be resolved already). ``..`` and absolute paths that leave ``root``
    are refused, as are symlinks pointing out of it; anything but a string, a NUL, control
    characters or more than :data:`MAX_PATH` characters is a bad request (:class:`M0Error`)."""
    if not isinstance(relative, str):
        raise M0Error(f"{relative!r}: a path must be a string")
    if len(relative) > MAX_PATH:
        raise M0Error(f"a path of {len(relative)} characters: at most {MAX_PATH}")
    if _has_control(relative):
        raise M0Error(f"{relative!r}: a path may not hold control characters")
    try:
        target = (root / relative).resolve()
    except (OSError, RuntimeError) as exc:  # a name too long for the file system, a loop
        raise M0Error(f"{relative!r}: not a usable path ({exc})") from None
    if not target.is_relative_to(root):
        raise Forbidden(f"{relative}: outside the folder m0 gui may show")
    return target


def listing(root: Path, relative: str, hide: Collection[Path] = ()) -> dict:
    """The sub-folders and media files of ``root / relative`` (hidden files, links leading out
    of ``root`` and the folders ``hide`` (resolved) left out)."""
    folder = confine(root, relative)
    if not folder.is_dir():
        raise Forbidden(f"{relative}: not a folder")
    dirs, files = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith("."):
            continue
        real = entry.resolve()
        if not real.is_relative_to(root) or real in hide:
            continue
        if real.is_dir():
            dirs.append(entry.name)
        elif entry.suffix.lower() in MEDIA_EXTENSIONS and real.is_file():
            files.append({"name": entry.name, "size": real.stat().st_size})
    rel = folder.relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    parent = None if not rel else Path(rel).parent.as_posix().removeprefix(".")
    return {"path": rel, "parent": parent, "dirs": dirs, "files": files}


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (C0, DEL, C1) or a line/paragraph
    separator: they would be raw terminal codes in ``m0 batch --status`` and break links."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def upload_name(name: str) -> str:
    """A safe file name for an upload: the last component, a media extension, not hidden,
    no control characters, at most :data:`MAX_NAME_BYTES` bytes."""
    if _has_control(name):
        raise M0Error(f"{name!r}: a file name may not hold control characters or line breaks")
    base = Path(name.replace("\\", "/")).name
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:
        raise M0Error(f"{base[:40]!r}…: the file name is too long "
                      f"(at most {MAX_NAME_BYTES} bytes); rename the file")
    if not base or base.startswith(".") or Path(base).suffix.lower() not in MEDIA_EXTENSIONS:
        raise M0Error(f"{name!r}: upload a media file ({', '.join(sorted(MEDIA_EXTENSIONS))})")
    return base


def used_space(folder: Path) -> int:
    """Bytes the files in ``folder`` (not below it) take: what counts against the quota."""
    total = 0
    if folder.is_dir():
        for entry in os.scandir(folder):
            try:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


async def save_upload(chunks: AsyncIterable[bytes], folder: Path, name: str,
                      limit: int, quota: int | None = None) -> Path:
    """Write ``chunks`` into ``folder`` under a temporary name and, when complete, give it
    ``name`` — or, when a file of that name exists (a run may be reading it), ``stem-2.ext``,
    ``stem-3.ext``…: an upload never replaces a file. Returns the path it got.

    :class:`TooLarge` (and nothing written) past ``limit`` bytes; :class:`QuotaFull` when the
    folder's files and this upload would be more than ``quota`` bytes; :class:`M0Error` (and
    nothing written) for an empty file.
    """
    base = upload_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    used = used_space(folder) if quota is not None else 0
    temp = folder / f".upload-{secrets.token_hex(8)}.tmp"
    size = 0
    try:
        with open(temp, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is larger than the limit ({format_size(limit)})")
                if quota is not None and used + size > quota:
                    raise QuotaFull(f"the uploads would pass their total quota "
                                    f"({format_size(quota)}, {format_size(used)} used): "
                                    f"remove files from {folder}")
                out.write(chunk)
        if not size:  # a recording that failed, a copy cut short: no job could read it
            raise M0Error("the file is empty (0 bytes): nothing to upload")
        return _link_unique(temp, folder, base)
    finally:
        temp.unlink(missing_ok=True)


def _link_unique(temp: Path, folder: Path, base: str) -> Path:
    """Give ``temp`` the first free name of ``base``, ``stem-2.ext``, … (a hard link made only
    if the name is free: never replacing a file, even one made meanwhile)."""
    stem, ext = Path(base).stem, Path(base).suffix
    for number in range(1, 10_000):
        final = folder / (base if number == 1 else f"{stem}-{number}{ext}")
        try:
            os.link(temp, final)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: reserve the name, then rename
            try:
                os.close(os.open(final, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            os.replace(temp, final)
        return final
    raise M0Error(f"{base}: too many uploads of that name")


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """``"500M"``, ``"8G"``, ``"1024"`` → bytes."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        raise M0Error(f"{text!r}: not a size (e.g. 500M, 8G)") from None
    if number <= 0:
        raise M0Error(f"{text!r}: a size must be more than 0")
    return int(number * _UNITS[unit])


def format_size(size: int) -> str:
    """``8589934592`` → ``"8G"``; ``1500`` → ``"1500 bytes"``."""
    for unit in "TGMK":
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return f"{size} bytes"
