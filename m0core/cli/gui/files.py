"""The files ``m0 gui`` may touch: paths confined to a folder, listings, atomic uploads."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterable
from pathlib import Path

from m0core.batch.runner import MEDIA_EXTENSIONS
from m0core.errors import M0Error

UPLOADS = "uploads"  # the folder of the output folder that receives uploads


class Forbidden(M0Error):
    """A path outside the folder it must stay in."""


class TooLarge(M0Error):
    """An upload over the size limit."""


def confine(root: Path, relative: str) -> Path:
    """``root / relative`` with symlinks resolved; :class:`Forbidden` unless it is inside
    ``root`` (which must be resolved already). ``..`` and absolute paths that leave ``root``
    are refused, as are symlinks pointing out of it."""
    if "\0" in relative:
        raise Forbidden("not a path")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise Forbidden(f"{relative}: outside the folder m0 gui may show")
    return target


def listing(root: Path, relative: str, hide: Path | None = None) -> dict:
    """The sub-folders and media files of ``root / relative`` (hidden files, links leading out
    of ``root`` and the folder ``hide`` left out)."""
    folder = confine(root, relative)
    if not folder.is_dir():
        raise Forbidden(f"{relative}: not a folder")
    dirs, files = [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith("."):
            continue
        real = entry.resolve()
        if not real.is_relative_to(root) or (hide is not None and real == hide):
            continue
        if real.is_dir():
            dirs.append(entry.name)
        elif entry.suffix.lower() in MEDIA_EXTENSIONS and real.is_file():
            files.append({"name": entry.name, "size": real.stat().st_size})
    rel = folder.relative_to(root).as_posix()
    rel = "" if rel == "." else rel
    parent = None if not rel else Path(rel).parent.as_posix().removeprefix(".")
    return {"path": rel, "parent": parent, "dirs": dirs, "files": files}


def upload_name(name: str) -> str:
    """A safe file name for an upload: the last component, a media extension, not hidden."""
    base = Path(name.replace("\\", "/")).name
    if not base or base.startswith(".") or Path(base).suffix.lower() not in MEDIA_EXTENSIONS:
        raise M0Error(f"{name!r}: upload a media file ({', '.join(sorted(MEDIA_EXTENSIONS))})")
    return base


async def save_upload(chunks: AsyncIterable[bytes], folder: Path, name: str,
                      limit: int) -> Path:
    """Write ``chunks`` to ``folder / name`` under a temporary name and rename it when complete;
    :class:`TooLarge` (and nothing written) past ``limit`` bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / upload_name(name)
    temp = folder / f".upload-{secrets.token_hex(8)}.tmp"
    size = 0
    try:
        with open(temp, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is larger than the limit ({format_size(limit)})")
                out.write(chunk)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)
    return final


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
    """``8589934592`` → ``"8G"``."""
    for unit in "TGMK":
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return f"{size} bytes"
