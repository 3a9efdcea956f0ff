"""Chapters: one per highlight, as an ffmetadata document and muxed into a copy of the VOD."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from m0core.errors import InputError, OutputError
from m0core.media.ffmpeg import (
    base_command,
    check_input_file,
    child,
    input_arg,
    probe,
    reason,
    run,
)
from m0core.model import Highlight, MediaInfo
from m0core.outputs import level, position, prepare_out_dir, temp_name


def chapter_title(highlight: Highlight) -> str:
    """``Highlight 1 · 0:05:12 · -6.3 dB`` (the peak time and level; no level where it is no
    number, see :func:`m0core.outputs.level`)."""
    parts = [f"Highlight {highlight.index}", position(highlight.peak_time),
             level(highlight.peak_db)]
    return " · ".join(part for part in parts if part)


def _escape(value: str) -> str:
    for ch in "\\=;#\n":
        value = value.replace(ch, "\\" + ch)
    return value


#: The title of a chapter between highlights (:func:`ffmetadata` with ``contiguous``).
BETWEEN = "—"


def ffmetadata(highlights: Sequence[Highlight], contiguous: bool = False) -> str:
    """An ffmetadata document (``;FFMETADATA1``) with one chapter per highlight, in ms.

    Each chapter spans its highlight's clip window (``start`` to ``end``), up to the next
    chapter's start where windows overlap (:func:`_chapter_starts`). ``contiguous``: for
    a container whose chapters have a start only (MP4, MOV: each lasts to the next, the first
    from 0), the time before and between highlights is a chapter of its own
    (:data:`BETWEEN`), so every highlight's chapter starts and ends where its window does.
    No highlights: a document without chapters.
    """
    lines = [";FFMETADATA1"]
    reached = 0
    ordered = sorted(highlights, key=lambda h: (h.start, h.peak_time))
    starts = _chapter_starts(ordered)
    for i, h in enumerate(ordered):
        start, end = round(starts[i] * 1000), round(h.end * 1000)
        if i + 1 < len(ordered):  # windows may overlap; chapters do not
            end = max(start, min(end, round(starts[i + 1] * 1000)))
        if contiguous and start > reached:
            lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={reached}", f"END={start}",
                      f"title={BETWEEN}"]
        lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}",
                  f"title={_escape(chapter_title(h))}"]
        reached = max(reached, end)
    return "\n".join(lines) + "\n"


def _chapter_starts(ordered: Sequence[Highlight]) -> list[float]:
    """Where the chapter of each of ``ordered`` (highlights by start) starts: where its window
    does, or midway between its peak and the one before where that one's window overlaps it
    past its peak (windows held at the recording's start: peaks at 0:03 and 0:19 both have
    0:00 to 0:30), so no chapter is empty or without its peak."""
    starts = [h.start for h in ordered]
    for i, (h, after) in enumerate(zip(ordered, ordered[1:], strict=False)):
        if after.start < h.end and after.start <= h.peak_time:
            starts[i + 1] = max(after.start, (h.peak_time + after.peak_time) / 2)
    return starts


def chapters_target(video: str | os.PathLike, out: str | os.PathLike) -> tuple[Path, Path]:
    """``(video, out)`` checked for :func:`embed_chapters`: an input file, an output that is
    not it, in a folder that exists and can be written in, and in a container that takes
    chapters and the input's streams (:func:`check_copy`) (else
    :class:`~m0core.errors.InputError` / :class:`OutputError`), before any analysis."""
    src, target, _ = _checked_target(video, out)
    return src, target


def _checked_target(video: str | os.PathLike,
                    out: str | os.PathLike) -> tuple[Path, Path, list[str]]:
    """:func:`chapters_target`'s ``(video, out)`` and the output options of the copy
    (:func:`check_copy`'s)."""
    src = check_input_file(video)
    target = Path(out)
    if target.resolve() == src.resolve():
        raise OutputError(f"{target}: would overwrite the input; choose another name")
    if not target.parent.is_dir():
        raise OutputError(f"{target.parent}: no such folder")
    muxer = chapter_muxer(target)
    prepare_out_dir(target.parent)  # a folder m0 cannot write in fails now too
    return src, target, check_copy(src, target, muxer)


def check_copy(src: Path, target: Path, muxer: str) -> list[str]:
    """The output options of the copy of ``src`` into ``target`` (:func:`copy_options`);
    raise :class:`OutputError` when ``muxer`` (``target``'s) cannot take it: H.264 or AAC in
    a WebM file, VP8 in an MP4. FFmpeg's muxer decides, as it would for the copy itself, from
    an empty copy (``-t 0``) written to nowhere: the whole recording is not read, nor anything
    written. The line names ``src``'s codecs and FFmpeg's reason, and suggests an .mkv, which
    takes nearly any. A file FFmpeg cannot read passes, for the analysis (or the copy) to say
    what is wrong with it."""
    try:
        info = probe(src)
    except InputError:  # not the container's fault: the analysis says what is wrong with it
        return list(COPY)
    options = copy_options(info, muxer)
    cmd = base_command() + ["-i", input_arg(src), *options, "-t", "0", "-f", muxer, "-y",
                            os.devnull]
    with child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) as (proc, stderr):
        try:
            if proc.wait(timeout=120) == 0:
                return options
        except subprocess.TimeoutExpired:  # a file that slow to open: the copy will tell
            return options
        why = reason(stderr()).rstrip(".")
    codecs = [f"{info.video_codec} video"] if info.video_codec else []
    codecs += [f"{t.codec} audio" for t in info.tracks]
    held = f" ({', '.join(codecs)})" if codecs else ""
    instead = "; write an .mkv instead" if muxer != "matroska" else ""
    raise OutputError(f"{target}: {src.name}{held} cannot be copied into "
                      f"{target.suffix.lower()} as it is: {why}{instead}")


def copy_options(info: MediaInfo, muxer: str) -> list[str]:
    """ffmpeg's output options for :func:`embed_chapters`'s copy of the file ``info`` tells
    of into a ``muxer`` file: every stream as it is (:data:`COPY`), but an audio track whose
    codec that container's players do not play (:data:`PLAYED_AUDIO`: PCM, FLAC or Opus in an
    MP4 or M4A, AAC in a WebM), or that FFmpeg found no sample rate of and cannot copy (an
    MPEG-TS track that begins after the seconds its probe reads), is encoded with
    :data:`AUDIO_ENCODERS`'s (AAC; Opus in WebM; AAC in Matroska, which plays any codec)."""
    options = list(COPY)
    codec, rate = AUDIO_ENCODERS.get(muxer, AUDIO_ENCODERS["mp4"])
    played = PLAYED_AUDIO.get(muxer, lambda _codec: True)
    for i, track in enumerate(info.tracks):
        if not track.sample_rate or not played(track.codec or ""):
            options += [f"-c:a:{i}", codec, f"-b:a:{i}", rate]
    return options


def embed_chapters(video: str | os.PathLike, highlights: Sequence[Highlight],
                   out: str | os.PathLike, *, timeout: float | None = None,
                   progress: Callable[[float], None] | None = None) -> Path:
    """Write a stream copy of ``video`` to ``out`` with one chapter per highlight
    (``progress``: told the seconds of the copy written, as :func:`run` tells them).

    Every stream is copied as it is, but an audio track the container's players do not play
    there (PCM in an M4A), encoded (:func:`copy_options`); the chapters replace any the input
    had. ``out`` is written under a temporary name in its folder and renamed, so it is
    complete or absent.
    Each chapter is where its highlight plays in ``out``: a Matroska/WebM copy that plays
    everything later than ``video`` (:func:`copy_delay`) is written again with its chapters
    that much later.
    """
    src, target, options = _checked_target(video, out)
    muxer = chapter_muxer(target)
    # named before they are made: a stop while one is made removes it too
    partial = target.with_name(temp_name(target.name))
    meta = target.with_name(temp_name("chapters.txt"))
    try:
        def mux(delay: float) -> None:
            meta.write_text(ffmetadata([later(h, delay) for h in highlights],
                                       contiguous=starts_only(target)),
                            encoding="utf-8")
            run(base_command() + [
                "-y", "-i", input_arg(src), "-f", "ffmetadata", "-i", input_arg(meta),
                *options, "-map_metadata", "0", "-map_chapters", "1", "-f", muxer,
                input_arg(partial),
            ], timeout=timeout, what=str(target), progress=progress)
            # gone as soon as it is read: a stop inside the cleanup below left it there
            meta.unlink()

        mux(0.0)
        delay = copy_delay(src, partial) if muxer in DELAYING_MUXERS and highlights else 0.0
        if delay:
            mux(delay)
        os.replace(partial, target)
    except OSError as exc:  # a read-only folder, a full disk
        raise OutputError(f"{target.parent}: cannot write in the folder "
                          f"({exc.strerror or exc})") from None
    finally:
        for leftover in (meta, partial):
            with suppress(OSError):  # none there; a read-only folder says so as EROFS
                leftover.unlink()
    return target


#: Output options of :func:`embed_chapters`'s copy: every stream of the first input, as it is
#: (:func:`copy_options` adds the audio tracks it encodes).
COPY = ("-map", "0", "-c", "copy")
#: The audio codecs MP4 and M4A players (browsers, phones, podcast apps) play.
_MP4_AUDIO = ("aac", "mp3", "alac", "ac3", "eac3")
#: Whether a container of each muxer but Matroska's (which takes any) plays an audio codec
#: (FFmpeg's name) as it is: MP4's :data:`_MP4_AUDIO`; MOV's (QuickTime) those and PCM;
#: WebM's Opus and Vorbis.
PLAYED_AUDIO: dict[str, Callable[[str], bool]] = {
    "mp4": lambda codec: codec in _MP4_AUDIO,
    "mov": lambda codec: codec in _MP4_AUDIO or codec.startswith("pcm_"),
    "webm": lambda codec: codec in ("opus", "vorbis"),
}
#: The encoder and bit rate of an audio track a container does not play (:data:`PLAYED_AUDIO`).
AUDIO_ENCODERS = {"mp4": ("aac", "160k"), "mov": ("aac", "160k"), "webm": ("libopus", "128k")}
#: Muxers of a container without edit lists, which cannot start a track before 0: when a
#: packet of the copy would (frames the recording's edit list skips: an MP4 cut by a stream
#: copy after a keyframe), FFmpeg moves every timestamp of the copy later, so that none is
#: (its ``avoid_negative_ts``), but not the chapters (:func:`copy_delay`).
DELAYING_MUXERS = ("matroska", "webm")


def copy_delay(src: Path, copy: Path) -> float:
    """Seconds by which ``copy``, a stream copy of ``src`` made as :func:`embed_chapters`
    makes it, plays everything later than players show it in ``src``: the time of the first
    packet of one stream in each (0 when under 2 ms: a Matroska file's times are whole ms).
    An MP4 cut by a stream copy 1.32 s after a keyframe (``ffmpeg -ss 3.32 -i long.mp4 -c
    copy``, keyframes every 2 s) starts, by its edit list, 1.32 s into the frames it holds;
    a Matroska copy has no edit list and starts with them, its moments 1.32 s later."""
    first = _first_packet(src, "0")
    if first is None:
        return 0.0
    index, before = first
    _, after = _first_packet(copy, f"0:{index}", "-copyts") or first  # as written
    return after - before if after - before >= 0.002 else 0.0


#: How FFmpeg's framecrc shows a timestamp it does not know.
_NOPTS = -(1 << 63)


def _first_packet(path: Path, streams: str, *options: str) -> tuple[int, float] | None:
    """``(stream index, presentation time)`` of the first packet of ``streams`` (a ``-map``)
    of ``path`` that a stream copy of it writes, as FFmpeg's ``framecrc`` lists it (the
    ffmpeg program's time: from the container's start, unless ``options`` hold
    ``-copyts``); ``None`` when there is none."""
    bases: dict[int, Fraction] = {}
    cmd = base_command() + [*options, "-i", input_arg(path), "-map", streams, "-c", "copy",
                            "-flush_packets", "1", "-f", "framecrc", "-"]
    with child(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE) as (proc, _):
        for raw in proc.stdout:
            line = raw.decode("ascii", "replace")
            if line.startswith("#tb "):  # "#tb 1: 1/44100"
                index, base = line[4:].split(":")
                bases[int(index)] = Fraction(base.strip())
            elif not line.startswith("#"):  # "1,      -1024,      -1024,  1024, ..."
                index, dts, pts = (int(f) for f in line.split(",")[:3])
                if pts == _NOPTS:
                    pts = dts
                if pts != _NOPTS:
                    return index, float(pts * bases[index])
    return None


def later(highlight: Highlight, seconds: float) -> Highlight:
    """``highlight`` with its times ``seconds`` later (itself when ``seconds`` is 0)."""
    if not seconds:
        return highlight
    return replace(highlight, start=highlight.start + seconds, end=highlight.end + seconds,
                   peak_time=highlight.peak_time + seconds)


def starts_only(target: Path) -> bool:
    """Whether ``target``'s container gives a chapter a start only (MP4, MOV), so its
    chapters are :func:`ffmetadata`'s ``contiguous`` ones."""
    return chapter_muxer(target) in ("mp4", "mov")


def chapter_muxer(target: Path) -> str:
    """The muxer for ``target``'s extension (a ``.partial-`` name must not change it)."""
    ext = target.suffix.lower()
    muxers = {".mp4": "mp4", ".m4v": "mp4", ".m4a": "mp4", ".mov": "mov", ".mkv": "matroska",
              ".mka": "matroska", ".webm": "webm"}
    if ext not in muxers:
        raise OutputError(f"{target}: chapters need an .mp4, .m4a, .mov, .mkv or .webm file")
    return muxers[ext]
