"""``compilation.mp4``: the clips of a run joined in time order, crossfaded, with chapters.

One ffmpeg command reads every clip, chains ``xfade`` (video) and ``acrossfade`` (audio)
filters of ``fade`` seconds between neighbours, re-encodes to H.264 + AAC and muxes an
ffmetadata document with one chapter per clip. Each crossfade overlaps two clips, so the
compilation lasts the clips' total less ``fade`` per join. Without a fade, clips in an mp4
are joined by copying their streams (the concat demuxer: no re-encode, seconds for an hour);
other clips go through the ``concat`` filter and are re-encoded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from m0core.media.chapters import ffmetadata
from m0core.media.ffmpeg import base_command, input_arg
from m0core.model import Highlight

from .command import ACCURATE_VIDEO

COMPILATION_VIDEO = "compilation.mp4"
COMPILATION_AUDIO = "compilation.m4a"  # of an audio-only recording
#: Clip containers whose streams a compilation without fades copies instead of re-encoding.
COPY_JOINABLE = frozenset({".mp4", ".m4a", ".mov"})


def compilation_name(has_video: bool) -> str:
    """The compilation's file name: ``compilation.mp4``, or ``.m4a`` without video."""
    return COMPILATION_VIDEO if has_video else COMPILATION_AUDIO


def clip_info(path: str | os.PathLike, has_video: bool) -> tuple[float, Fraction | None]:
    """``(seconds, frame rate)`` of a clip, read by PyAV from the container (no decoding):
    the container's duration, and its video's frame rate (``None`` without video)."""
    import av

    with av.open(os.fspath(path)) as container:
        rate = None
        if has_video:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
        return (container.duration or 0) / 1_000_000, rate


def offsets(durations: Sequence[float], fade: float) -> list[float]:
    """Where each clip starts in the compilation: each join overlaps ``fade`` seconds."""
    starts, t = [], 0.0
    for d in durations:
        starts.append(t)
        t += d - fade
    return starts


def chapters(highlights: Sequence[Highlight], durations: Sequence[float],
             fade: float) -> list[Highlight]:
    """The clips' highlights with ``start``/``end`` moved to their span in the compilation
    (a chapter starts where its clip's crossfade begins), for :func:`ffmetadata`."""
    starts = offsets(durations, fade)
    total = starts[-1] + durations[-1]
    ends = starts[1:] + [total]
    return [replace(h, start=a, end=b) for h, a, b in zip(highlights, starts, ends, strict=True)]


def filter_graph(durations: Sequence[float], fade: float, rate: Fraction | None) -> str:
    """The ``-filter_complex`` that joins the inputs ``0…n-1`` into ``[v]`` (with video, at
    frame ``rate``) and ``[a]``: crossfades of ``fade`` s, or a plain ``concat`` when ``fade``
    is 0.

    Each input's video and audio are first made exactly its duration long: a clip cut between
    two frames starts its video up to a frame after its audio, and a chain of crossfades would
    add up those gaps into a lag of the picture; the ``fps`` filter repeats the first frame
    from 0 and ``tpad`` + ``trim`` the last one to the end.
    """
    n = len(durations)
    has_video = rate is not None
    parts = []
    for i, d in enumerate(durations):
        if has_video:
            parts.append(f"[{i}:v:0]settb=AVTB,fps={rate}:start_time=0,"
                         f"tpad=stop_mode=clone:stop_duration=1,trim=duration={d:.6f},"
                         f"setpts=PTS-STARTPTS,format=yuv420p[v{i}]")
        parts.append(f"[{i}:a:0]asetpts=PTS-STARTPTS,apad,atrim=duration={d:.6f}[a{i}]")
    if fade <= 0 or n == 1:
        pads = "".join((f"[v{i}]" if has_video else "") + f"[a{i}]" for i in range(n))
        outs = ("[v]" if has_video else "") + "[a]"
        parts.append(f"{pads}concat=n={n}:v={int(has_video)}:a=1{outs}")
        return ";".join(parts)
    starts = offsets(durations, fade)
    video, audio = "v0", "a0"
    for i in range(1, n):
        last = i == n - 1
        if has_video:
            out = "v" if last else f"vx{i}"
            parts.append(f"[{video}][v{i}]xfade=transition=fade:duration={fade:.3f}:"
                         f"offset={starts[i]:.3f}[{out}]")
            video = out
        out = "a" if last else f"ax{i}"
        parts.append(f"[{audio}][a{i}]acrossfade=d={fade:.3f}[{out}]")
        audio = out
    return ";".join(parts)


def compilation_command(clips: Sequence[str | os.PathLike], durations: Sequence[float],
                        fade: float, rate: Fraction | None, metadata: Path,
                        out: str | os.PathLike) -> list[str]:
    """The ffmpeg command that writes the compilation of ``clips`` (in order; video at frame
    ``rate``, ``None`` for audio only) to ``out``, with the chapters of the ffmetadata file
    ``metadata``."""
    has_video = rate is not None
    cmd = base_command() + ["-y"]
    for clip in clips:
        cmd += ["-i", input_arg(clip)]
    cmd += ["-f", "ffmetadata", "-i", input_arg(metadata),
            "-filter_complex", filter_graph(durations, fade, rate)]
    if has_video:
        cmd += ["-map", "[v]"]
    cmd += ["-map", "[a]", "-map_chapters", str(len(clips))]
    cmd += [*ACCURATE_VIDEO, "-pix_fmt", "yuv420p"] if has_video else ["-c:a", "aac",
                                                                         "-b:a", "160k"]
    return cmd + ["-movflags", "+faststart", "-f", "mp4", input_arg(out)]


def joins_by_copy(clips: Sequence[str | os.PathLike], fade: float) -> bool:
    """Whether the compilation can be the clips' streams copied one after another: no fade,
    and clips in a container whose codecs an mp4 takes (they come from one encoder, so they
    share their codec settings)."""
    return fade <= 0 and all(Path(c).suffix.lower() in COPY_JOINABLE for c in clips)


def concat_command(clips: Sequence[str | os.PathLike], listing: Path, metadata: Path,
                   out: str | os.PathLike) -> list[str]:
    """The ffmpeg command that copies the streams of ``clips`` one after another into
    ``out`` (the concat demuxer, no re-encode) with the chapters of ``metadata``; writes the
    demuxer's list to ``listing``."""
    def quoted(path: str | os.PathLike) -> str:
        return "'" + os.fspath(Path(path).absolute()).replace("'", "'\\''") + "'"

    listing.write_text("".join(f"file {quoted(c)}\n" for c in clips), encoding="utf-8")
    return base_command() + [
        "-y", "-f", "concat", "-safe", "0", "-i", input_arg(listing),
        "-f", "ffmetadata", "-i", input_arg(metadata),
        "-map", "0:v:0?", "-map", "0:a:0", "-map_chapters", "1", "-c", "copy",
        "-movflags", "+faststart", "-f", "mp4", input_arg(out)]


def metadata_text(highlights: Sequence[Highlight], durations: Sequence[float],
                  fade: float) -> str:
    """The ffmetadata document of the compilation's chapters."""
    return ffmetadata(chapters(highlights, durations, fade))
