"""Clip file names: deterministic, sortable, and telling when and how loud the moment was."""

from __future__ import annotations

import math
from pathlib import Path

from m0core.model import Highlight, MediaInfo
from m0core.outputs import level, numbered

#: Containers a clip keeps when its input has them: ffmpeg picks the muxer from the extension.
KNOWN_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".m4a", ".3gp", ".mkv", ".mka", ".webm", ".flv", ".avi",
    ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".asf", ".wmv", ".wma",
    ".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".aac", ".ac3", ".aif", ".aiff",
})

#: Containers an accurate (re-encoded, H.264 + AAC) clip with video may keep.
ACCURATE_VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov"})

#: Containers that take ``-movflags +faststart`` (the index moved to the front).
FASTSTART_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".m4a", ".3gp"})


def clip_extension(media: MediaInfo, cut: str = "copy") -> str:
    """The extension (with the dot, lowercase) of the clips cut from ``media``.

    The input's own extension when it is a known container. Otherwise a copied clip is
    Matroska (``.mkv``, or ``.mka`` for audio only), which takes any codec as it is (an MP4
    takes no Vorbis, an M4A no Opus), and a re-encoded one ``.mp4`` (``.m4a``: AAC). An
    ``accurate`` or ``smart`` clip with video is H.264 + AAC, so it keeps only
    ``.mp4``/``.mkv``/``.mov`` and becomes ``.mp4`` otherwise.
    """
    ext = Path(media.path).suffix.lower()
    if ext not in KNOWN_EXTENSIONS:
        if cut == "copy":
            ext = ".mkv" if media.has_video else ".mka"
        else:
            ext = ".mp4" if media.has_video else ".m4a"
    if cut in ("accurate", "smart") and media.has_video and ext not in ACCURATE_VIDEO_EXTENSIONS:
        ext = ".mp4"
    return ext


def clip_name(highlight: Highlight, ext: str, index: int | None = None, count: int = 0) -> str:
    """``{index}_{H}h{MM}m{SS}s_{peak_db:.1f}dB{ext}``, e.g. ``01_0h05m12s_-6.3dB.mp4``.

    The time is the highlight's ``peak_time`` rounded down to the second; a level of −∞ dB is
    ``silent`` (``01_0h05m12s_silent.mp4``), one that is no number (NaN) is left out
    (``01_0h05m12s.mp4``, see :func:`m0core.outputs.level`); ``index`` defaults to
    ``highlight.index``, padded to the width of ``count`` (the run's number of highlights, see
    :func:`m0core.outputs.numbered`; two digits at least).
    """
    number = numbered(highlight.index if index is None else index, count)
    seconds = int(highlight.peak_time) if math.isfinite(highlight.peak_time) else 0
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, secs = divmod(rest, 60)
    loud = level(highlight.peak_db, "dB")
    return f"{number}_{hours}h{minutes:02d}m{secs:02d}s{f'_{loud}' if loud else ''}{ext}"


def renumbered(name: str, count: int) -> str:
    """The clip name ``name`` (see :func:`clip_name`) with its number padded to the width of
    ``count``; a name that does not start with a number is returned as it is."""
    number, sep, rest = name.partition("_")
    if not sep or not number.isdigit():
        return name
    return f"{numbered(int(number), count)}_{rest}"
