"""Decode an audio track (or all of them, mixed) with PyAV, chunk by chunk, in constant memory.

Faster than piping from the ffmpeg program (no muxer, no pipe, no format conversion), and its
seeks are sample-exact: it seeks a second early and places every sample by the decoded
frames' timestamps, so a segment decoded on its own equals the same stretch of a whole-file
decode. That is what lets m0 decode one file's segments in parallel.

One track of an MP4/MOV/M4A file is read by m0's own reader of the sample tables
(:mod:`.mp4` and :mod:`.reader`, constant memory at any length, edit lists honoured: a late
start is silence from the container's start); anything else (other containers,
``audio_track="all"``, a file or track that reader does not handle) goes through FFmpeg's
demuxer (:mod:`.demux`).

This module loads no FFmpeg library: :meth:`PyAVSource.outline` describes an MP4 from its
boxes, a Matroska file from its EBML header and a transport stream from its first and last
packets (:mod:`.matroska`, :mod:`.mpegts`), so a process that only plans a run (m0's, when
worker processes decode) never maps them; :mod:`.reader` and :mod:`.demux`, which decode,
are imported when a method needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from m0core import checks
from m0core.media.ffmpeg import check_input_file
from m0core.model import AudioChunk, MediaInfo

from . import matroska, mp4, mpegts

if TYPE_CHECKING:
    from .reader import AudioReader


class PyAVSource:
    """Audio from any file FFmpeg's libraries read, through PyAV.

    Parameters
    ----------
    audio_track:
        Which audio track to decode: its number from 1 (as players and OBS number them; 1 is
        OBS's mix) or ``"all"``, every track summed (a mixer at unity gain).

    Samples are placed on the players' timeline (0 = the container's start) by the decoded
    frames' timestamps: a track that starts late begins with silence, a gap in the timestamps
    (a stream that reconnected, lost packets) is filled with silence where it lies, and a
    jump back (timestamps that start again) continues where the audio was.
    """

    #: Seeking lands on the exact sample, so segments can be decoded in parallel.
    exact_seek = True

    def __init__(self, audio_track: int | str = 1) -> None:
        self.audio_track = checks.audio_track(audio_track)

    def probe(self, path: str) -> MediaInfo:
        """Duration and streams of ``path``; :class:`InputError` if it cannot be opened or has
        no such audio track."""
        from . import demux, reader

        p = check_input_file(path)
        found = _mp4_reader(p, self.audio_track)
        if found is None:
            return demux.probe(p, self.audio_track)
        # every track's description (m0 probe, clips' tracks) from FFmpeg where the boxes
        # cannot tell; the chosen track's rate and duration are the reader's either way
        tracks = reader.tracks(found, p) or demux.probe(p, self.audio_track).tracks
        return reader.media_info(found, p, tracks)

    def outline(self, path: str) -> MediaInfo | None:
        """What the file declares, without loading a decoder: an MP4/MOV/M4A file's boxes, a
        Matroska/WebM file's EBML header, an MPEG-TS file's program map and the timestamps of
        its first and last packets (the duration and tracks as FFmpeg's demuxer gives them,
        the rate and channels as declared); ``None`` for any other file or one these readers
        cannot describe."""
        if not isinstance(self.audio_track, int):
            return None
        p = check_input_file(path)
        for outline in (mp4.outline, matroska.outline, mpegts.outline):
            found = outline(p, self.audio_track)
            if found is not None:
                return found
        return None

    def chunks(
        self,
        path: str,
        *,
        chunk_seconds: float = 10.0,
        start: float = 0.0,
        duration: float | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield mono float32 chunks of ``chunk_seconds`` from ``start`` for ``duration`` s
        (channels averaged, as every m0 source does)."""
        from . import demux, reader

        p = check_input_file(path)
        found = _mp4_reader(p, self.audio_track)
        if found is not None:  # one track of an MP4/MOV/M4A: m0's own sample-table reader
            yield from reader.chunks(found, p, chunk_seconds, start, duration)
        else:
            yield from demux.chunks(p, self.audio_track, chunk_seconds, start, duration)


def _mp4_reader(path: Path, track: int | str = 1) -> AudioReader | None:
    """m0's reader of audio track ``track`` if the file is an MP4-family file it handles (its
    memory does not grow with the file's length, FFmpeg's index does), else None (also for
    ``"all"``: tracks are mixed on FFmpeg's demuxer path)."""
    from .reader import AudioReader

    if not isinstance(track, int):
        return None
    try:
        if not mp4.looks_like_mp4(path):
            return None
        return AudioReader(path, track)
    except (mp4.Unsupported, OSError):
        return None

