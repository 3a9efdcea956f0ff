"""Chapters: one per highlight, as an ffmetadata document and muxed into a copy of the VOD."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from m0core.errors import OutputError
from m0core.media.ffmpeg import base_command, check_input_file, input_arg, run
from m0core.model import Highlight
from m0core.outputs import position, prepare_out_dir, temp_name, temp_prefix


def chapter_title(highlight: Highlight) -> str:
    """``Highlight 1 · 0:05:12 · -6.3 dB`` (the peak time and level)."""
    return f"Highlight {highlight.index} · {position(highlight.peak_time)} · " \
           f"{highlight.peak_db:.1f} dB"


def _escape(value: str) -> str:
    for ch in "\\=;#\n":
        value = value.replace(ch, "\\" + ch)
    return value


#: The title of a chapter between highlights (:func:`ffmetadata` with ``contiguous``).
BETWEEN = "—"


def ffmetadata(highlights: Sequence[Highlight], contiguous: bool = False) -> str:
    """An ffmetadata document (``;FFMETADATA1``) with one chapter per highlight, in ms.

    Each chapter spans its highlight's clip window (``start`` to ``end``), up to the next
    chapter's start where windows overlap. ``contiguous``: for
    a container whose chapters have a start only (MP4, MOV: each lasts to the next, the first
    from 0), the time before and between highlights is a chapter of its own
    (:data:`BETWEEN`), so every highlight's chapter starts and ends where its window does.
    No highlights: a document without chapters.
    """
    lines = [";FFMETADATA1"]
    reached = 0
    ordered = sorted(highlights, key=lambda h: h.start)
    for i, h in enumerate(ordered):
        after = ordered[i + 1] if i + 1 < len(ordered) else None
        start, end = round(h.start * 1000), round(h.end * 1000)
        if after is not None:  # windows may overlap; chapters do not
            end = max(start, min(end, round(after.start * 1000)))
        if contiguous and start > reached:
            lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={reached}", f"END={start}",
                      f"title={BETWEEN}"]
        lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}",
                  f"title={_escape(chapter_title(h))}"]
        reached = max(reached, end)
    return "\n".join(lines) + "\n"


def chapters_target(video: str | os.PathLike, out: str | os.PathLike) -> tuple[Path, Path]:
    """``(video, out)`` checked for :func:`embed_chapters`: an input file, an output that is
    not it, in a folder that exists and can be written in, and in a container that takes
    chapters (else :class:`~m0core.errors.InputError` / :class:`OutputError`), before any
    analysis."""
    src = check_input_file(video)
    target = Path(out)
    if target.resolve() == src.resolve():
        raise OutputError(f"{target}: would overwrite the input; choose another name")
    if not target.parent.is_dir():
        raise OutputError(f"{target.parent}: no such folder")
    chapter_muxer(target)
    prepare_out_dir(target.parent)  # a folder m0 cannot write in fails now too
    return src, target


def embed_chapters(video: str | os.PathLike, highlights: Sequence[Highlight],
                   out: str | os.PathLike, *, timeout: float | None = None) -> Path:
    """Write a stream copy of ``video`` to ``out`` with one chapter per highlight.

    Every stream is copied (no re-encode); the chapters replace any the input had. ``out`` is
    written under a temporary name in its folder and renamed, so it is complete or absent.
    """
    src, target = chapters_target(video, out)
    muxer = chapter_muxer(target)
    partial = target.with_name(temp_name(target.name))
    meta = None
    try:
        fd, meta = tempfile.mkstemp(dir=target.parent, prefix=temp_prefix(),
                                    suffix="-chapters.txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(ffmetadata(highlights, contiguous=muxer in ("mp4", "mov")))
        run(base_command() + [
            "-y", "-i", input_arg(src), "-f", "ffmetadata", "-i", input_arg(meta),
            "-map", "0", "-map_metadata", "0", "-map_chapters", "1", "-c", "copy",
            "-f", muxer, input_arg(partial),
        ], timeout=timeout, what=str(target))
        os.replace(partial, target)
    except OSError as exc:  # a read-only folder, a full disk
        raise OutputError(f"{target.parent}: cannot write in the folder "
                          f"({exc.strerror or exc})") from None
    finally:
        for leftover in (meta, partial):
            if leftover is not None:
                with suppress(OSError):  # none there; a read-only folder says so as EROFS
                    Path(leftover).unlink()
    return target


def chapter_muxer(target: Path) -> str:
    """The muxer for ``target``'s extension (a ``.partial-`` name must not change it)."""
    ext = target.suffix.lower()
    muxers = {".mp4": "mp4", ".m4v": "mp4", ".m4a": "mp4", ".mov": "mov", ".mkv": "matroska",
              ".mka": "matroska", ".webm": "webm"}
    if ext not in muxers:
        raise OutputError(f"{target}: chapters need an .mp4, .m4a, .mov, .mkv or .webm file")
    return muxers[ext]
