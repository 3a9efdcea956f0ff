"""``cut="smart"``: frame-exact clips at near stream-copy speed.

A clip ``[start, end)`` of H.264 video is cut in three pieces: the partial GOP from ``start`` to
the first keyframe ``k1`` inside the window and the partial GOP from the last keyframe ``k2`` to
``end`` are re-encoded; the whole GOPs ``[k1, k2)`` in between are stream-copied. The pieces
are MPEG-TS (parameter sets travel in-band, so the re-encoded and the copied H.264 join), then
concatenated without re-encoding and muxed with the clip's audio, re-encoded to AAC (cheap,
and sample-exact). Video that is not H.264, a window with fewer than two keyframes (or none
found before it), or one whose frames are not evenly spaced (:data:`UNEVEN`), is cut the
accurate way.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from m0core.media.ffmpeg import PLAYERS_TIMELINE, base_command, input_arg
from m0core.model import MediaInfo

from .command import track_titles
from .keyframes import NUDGE, keyframe_before, video_frames
from .naming import FASTSTART_EXTENSIONS

#: Video codecs whose GOPs can be stream-copied next to re-encoded libx264 pieces.
SMART_CODECS = frozenset({"h264"})
#: How far (a share of the typical one) the time between two frames of a window may be from
#: that of others for its video to be copied: the pieces are joined by their frame counts, as
#: if evenly spaced, so video that is not — a variable frame rate, a gap where a stream
#: reconnected (copied GOPs would close it) — is cut the accurate way, which keeps each frame
#: at its time (timestamps rounded to a container's milliseconds stay well within it).
UNEVEN = 0.25
#: Re-encoding settings of the partial GOPs (a little better than ``accurate``: they sit
#: next to the original's frames).
EDGE_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p"]


def smart_window(frames: list[tuple[float, bool]], start: float,
                 end: float) -> tuple[float, float] | None:
    """``(k1, k2)``: the first and last keyframes inside ``[start, end)``, or ``None`` when
    fewer than two are, so nothing could be copied."""
    inside = [t for t, key in frames if key and start <= t < end]
    if len(inside) < 2:
        return None
    return inside[0], inside[-1]


def evenly_spaced(times: list[float]) -> bool:
    """Whether the frames at ``times`` (sorted) follow each other at one rate, within
    :data:`UNEVEN` of the typical time between two of them."""
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    if not steps:
        return True
    typical = statistics.median(steps)
    return max(steps) - min(steps) <= UNEVEN * typical


def smart_commands(media: MediaInfo, start: float, duration: float, out: str | os.PathLike,
                   work: Path, *, source: str | None = None) -> list[list[str]] | None:
    """The ffmpeg commands, run in order, that smart-cut ``duration`` s from ``start`` s into
    ``out``, with their pieces in the folder ``work``; ``None`` when the clip cannot be cut
    this way (then cut it accurately). ``source``: the input ffmpeg reads in place of the
    file (an MP4's window, :mod:`~m0_plugins.ffmpeg_encoder.window`), if any.

    Each piece is bounded by its exact number of frames (counted from the packets), not by a
    duration, so no frame lands in two pieces or in none. Writes the concat list into ``work``.
    """
    if not media.has_video or media.video_codec not in SMART_CODECS:
        return None
    end = start + duration
    try:
        frames = video_frames(media.path, start, end)
    except Exception:  # PyAV raises its own error types for files it cannot demux
        return None
    window = smart_window(frames, start, end)
    if window is None:
        return None
    k0, (k1, k2) = keyframe_before(frames, start), window
    if k0 is None:  # the video starts after the window (a seek would skip its sound)
        return None
    times = [t for t, _ in frames]
    if not evenly_spaced([t for t in times if k0 <= t < end]):
        return None

    def count(a: float, b: float) -> int:
        return sum(1 for t in times if a <= t < b)

    src = source or input_arg(media.path)
    video = ["-map", "0:V:0", "-an", "-sn", "-dn"]
    pieces: list[tuple[Path, list[str]]] = []
    if count(start, k1):
        # from the keyframe before start, sought to as the middle is (a seek between
        # keyframes of an MPEG-TS lands on the later one); the output -ss drops the frames
        # before start
        pieces.append((work / "head.ts", [
            "-ss", f"{k0 + NUDGE:.6f}", "-i", src, *video,
            "-ss", f"{max(start - k0 - 2 * NUDGE, 0.0):.6f}",
            "-frames:v", str(count(start, k1)), *EDGE_VIDEO]))
    pieces.append((work / "middle.ts", ["-ss", f"{k1 + NUDGE:.6f}", "-i", src, *video,
                                        "-frames:v", str(count(k1, k2)), "-c:v", "copy"]))
    if count(k2, end):
        pieces.append((work / "tail.ts", ["-ss", f"{k2 - NUDGE:.6f}", "-i", src, *video,
                                          "-frames:v", str(count(k2, end)), *EDGE_VIDEO]))
    listing = work / "pieces.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p, _ in pieces), encoding="utf-8")
    commands = [base_command() + ["-y", *args, "-f", "mpegts", input_arg(p)]
                for p, args in pieces]
    final = base_command() + [
        "-y", "-f", "concat", "-safe", "0", "-i", input_arg(listing),
        *(["-ss", f"{start:.6f}"] if start > 0 else []), "-i", src,
        # the output's -t: an input's counts each track from its own start, so a track
        # that starts late ran past the window
        "-t", f"{duration:.6f}", "-map", "0:v:0", "-map", "1:a?", "-c:v", "copy",
        *(["-af", PLAYERS_TIMELINE] if media.has_audio else []), "-c:a", "aac", "-b:a", "160k",
        *track_titles(media),
    ]
    if Path(out).suffix.lower() in FASTSTART_EXTENSIONS:
        final += ["-movflags", "+faststart"]
    return commands + [final + [input_arg(out)]]
