"""``compilation.mp4``: the clips of a run joined in time order, crossfaded, with chapters.

Neighbouring clips are crossfaded over ``fade`` seconds (``xfade`` for the picture,
``acrossfade`` for the sound), so the compilation lasts the clips' total less ``fade`` per
join; an ffmetadata document gives it one chapter per clip.

Memory stays bounded whatever the number of clips: the picture is made in pieces, one per
clip (its part after the previous crossfade, ending with the crossfade into the next clip),
each an ffmpeg with at most two inputs, run in parallel and written as MPEG-TS with the same
H.264 settings; a last ffmpeg copies the pieces one after another (concat demuxer), makes the
sound in one pass (audio frames are small) and muxes both with the chapters. (One ffmpeg with
every clip as an input and a chain of ``xfade`` filters holds seconds of decoded frames per
clip: 400 MB for 8 clips at 404x720.) Without a fade, clips in an mp4 are joined by copying
their streams (no re-encode at all); an audio-only compilation is one ffmpeg.

Its sound is the clips' analysed sound: ``track`` (numbered from 1) of clips that keep every
track of the recording (copied, ``accurate``, ``smart``), or, with ``"all"``, the ``count``
tracks mixed (:func:`~m0_plugins.ffmpeg_encoder.command.sound_graph`); a short-form clip has
that sound alone, its track 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from m0core.checks import ALL_TRACKS
from m0core.media.chapters import ffmetadata
from m0core.media.ffmpeg import base_command, input_arg
from m0core.model import Highlight

from .command import ACCURATE_VIDEO, single_track, sound_graph

COMPILATION_VIDEO = "compilation.mp4"
COMPILATION_AUDIO = "compilation.m4a"  # of an audio-only recording
#: Clip containers whose streams a compilation without fades copies instead of re-encoding.
COPY_JOINABLE = frozenset({".mp4", ".m4a", ".mov"})


def compilation_name(has_video: bool) -> str:
    """The compilation's file name: ``compilation.mp4``, or ``.m4a`` without video."""
    return COMPILATION_VIDEO if has_video else COMPILATION_AUDIO


def clip_info(path: str | os.PathLike, has_video: bool) -> tuple[float, Fraction | None]:
    """``(seconds, frame rate)`` of a clip, read by PyAV from the container (no decoding):
    the container's duration, and its video's frame rate (``None`` without video, as a
    copied clip of a window after the picture ends has)."""
    import av

    with av.open(os.fspath(path)) as container:
        rate = None
        if has_video and container.streams.video:
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


def audio_graph(durations: Sequence[float], fade: float, first: int = 0,
                track: int | str = 1, count: int = 1) -> str:
    """The ``-filter_complex`` that joins the sound (``track`` of ``count``, see the module's
    doc) of inputs ``first…first+n-1`` into ``[a]``: each made exactly its clip's duration
    long, then crossfaded over ``fade`` s (concatenated when ``fade`` is 0)."""
    n = len(durations)
    parts = [f"{sound_graph(track, count, input=first + i, each='')},asetpts=PTS-STARTPTS,"
             f"apad,atrim=duration={d:.6f}[a{i}]" for i, d in enumerate(durations)]
    if fade <= 0 or n == 1:
        parts.append("".join(f"[a{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1[a]")
        return ";".join(parts)
    audio = "a0"
    for i in range(1, n):
        out = "a" if i == n - 1 else f"ax{i}"
        parts.append(f"[{audio}][a{i}]acrossfade=d={fade:.3f}[{out}]")
        audio = out
    return ";".join(parts)


@dataclass(frozen=True)
class Piece:
    """One piece of the compilation's picture: clip ``index`` from ``start`` s for ``length``
    s, its last ``fade`` s crossfaded with the next clip's first (``fade`` 0: none), exactly
    ``frames`` frames."""

    index: int
    start: float
    length: float
    fade: float
    frames: int


def pieces(durations: Sequence[float], fade: float, rate: Fraction) -> list[Piece]:
    """The pieces of the picture. Their frame counts are cut from one frame grid of the whole
    compilation, so the picture never drifts from the sound, however many clips."""
    n = len(durations)
    starts = offsets(durations, fade)
    bounds = [starts[i] + (fade if i else 0.0) for i in range(n)]
    bounds.append(starts[-1] + durations[-1])
    grid = [round(t * rate) for t in bounds]
    return [Piece(i, fade if i else 0.0, bounds[i + 1] - bounds[i],
                  fade if i < n - 1 else 0.0, grid[i + 1] - grid[i]) for i in range(n)]


def _normalised(i: int, rate: Fraction, length: float) -> str:
    """The filters that make input ``i``'s picture at least ``length`` s long from 0 on the
    compilation's frame grid: a clip cut between two frames starts its picture up to a frame
    after its sound, and one whose window holds a gap of a reconnected stream starts or ends
    its picture seconds from its sound's; the fps filter repeats the first frame from 0 (and
    fills gaps), and tpad the last one, so every clip's picture is as long as the clip."""
    return (f"[{i}:v:0]settb=AVTB,fps={rate}:start_time=0,"
            f"tpad=stop_mode=clone:stop_duration={length + 1:.6f},"
            "setpts=PTS-STARTPTS,format=yuv420p")


def piece_command(piece: Piece, clip: str | os.PathLike, following: str | os.PathLike | None,
                  rate: Fraction, out: str | os.PathLike) -> list[str]:
    """The ffmpeg command that writes ``piece`` (of ``clip``, crossfaded into ``following``)
    to ``out`` as MPEG-TS."""
    cmd = base_command() + ["-y", "-threads", "1", "-i", input_arg(clip)]
    graph = (f"{_normalised(0, rate, piece.start + piece.length)},"
             f"trim=start={piece.start:.6f}:duration={piece.length:.6f},setpts=PTS-STARTPTS")
    if following is not None and piece.fade > 0:
        cmd += ["-threads", "1", "-i", input_arg(following)]
        graph += (f"[m0a];{_normalised(1, rate, piece.fade)},trim=duration={piece.fade:.6f}[m0b];"
                  f"[m0a][m0b]xfade=transition=fade:duration={piece.fade:.6f}:"
                  f"offset={piece.length - piece.fade:.6f}")
    return cmd + ["-filter_complex", graph + "[v]", "-map", "[v]", "-frames:v", str(piece.frames),
                  *ACCURATE_VIDEO[:6], "-pix_fmt", "yuv420p", "-an", "-f", "mpegts",
                  input_arg(out)]


def joined_command(listing: Path | None, clips: Sequence[str | os.PathLike],
                   durations: Sequence[float], fade: float, metadata: Path,
                   out: str | os.PathLike, track: int | str = 1, count: int = 1) -> list[str]:
    """The last ffmpeg command: the picture pieces listed in ``listing`` copied one after
    another (``None``: audio only), the clips' sound (``track`` of ``count``, see the
    module's doc) crossfaded, the chapters of ``metadata``; into ``out`` (mp4)."""
    cmd = base_command() + ["-y"]
    first = 0
    if listing is not None:
        cmd += ["-f", "concat", "-safe", "0", "-i", input_arg(listing)]
        first = 1
    for clip in clips:
        cmd += ["-threads", "1", "-i", input_arg(clip)]
    cmd += ["-f", "ffmetadata", "-i", input_arg(metadata),
            "-filter_complex", audio_graph(durations, fade, first, track, count)]
    if listing is not None:
        cmd += ["-map", "0:v:0", "-c:v", "copy"]
    return cmd + ["-map", "[a]", "-map_chapters", str(first + len(clips)), "-c:a", "aac",
                  "-b:a", "160k", "-movflags", "+faststart", "-f", "mp4", input_arg(out)]


def listing_text(paths: Sequence[str | os.PathLike]) -> str:
    """The concat demuxer's list of ``paths`` (absolute, quoted)."""
    def quoted(path: str | os.PathLike) -> str:
        return "'" + os.fspath(Path(path).absolute()).replace("'", "'\\''") + "'"

    return "".join(f"file {quoted(p)}\n" for p in paths)


def joins_by_copy(clips: Sequence[str | os.PathLike], fade: float) -> bool:
    """Whether the compilation can be the clips' streams copied one after another: no fade,
    and clips in a container whose codecs an mp4 takes (they come from one encoder, so they
    share their codec settings)."""
    return fade <= 0 and all(Path(c).suffix.lower() in COPY_JOINABLE for c in clips)


def concat_command(clips: Sequence[str | os.PathLike], listing: Path, metadata: Path,
                   out: str | os.PathLike, track: int | str = 1, count: int = 1) -> list[str]:
    """The ffmpeg command that copies the streams of ``clips`` one after another into
    ``out`` (the concat demuxer, no re-encode) with the chapters of ``metadata``; writes the
    demuxer's list to ``listing``. Their sound is ``track`` (see the module's doc); ``"all"``
    of ``count`` tracks, mixed, is the one stream encoded."""
    listing.write_text(listing_text(clips), encoding="utf-8")
    if track == ALL_TRACKS and count > 1:
        audio = ["-filter_complex", f"{sound_graph(track, count, each='')}[a]", "-map", "[a]",
                 "-c:v", "copy", "-c:a", "aac", "-b:a", "160k"]
    else:
        audio = ["-map", f"0:a:{single_track(track) - 1}", "-c", "copy"]
    return base_command() + [
        "-y", "-f", "concat", "-safe", "0", "-i", input_arg(listing),
        "-f", "ffmetadata", "-i", input_arg(metadata),
        "-map", "0:v:0?", *audio, "-map_chapters", "1",
        "-movflags", "+faststart", "-f", "mp4", input_arg(out)]


def metadata_text(highlights: Sequence[Highlight], durations: Sequence[float],
                  fade: float) -> str:
    """The ffmetadata document of the compilation's chapters."""
    return ffmetadata(chapters(highlights, durations, fade))
