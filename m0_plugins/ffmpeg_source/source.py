"""Decode an audio track (or all of them, mixed) with ffmpeg, chunk by chunk, in constant
memory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from m0_plugins.pyav_source import mp4
from m0core import checks
from m0core.checks import number
from m0core.errors import InputError, M0Error
from m0core.media.audio import check_complete, downmix
from m0core.media.ffmpeg import (
    PLAYERS_TIMELINE,
    base_command,
    check_input_file,
    child,
    input_arg,
    probe,
    reason,
)
from m0core.model import AudioChunk, MediaInfo
from m0core.workers import killed_by

_BYTES_PER_SAMPLE = 4  # f32le
#: Demuxers (as ``ffmpeg -i`` names them) with FFmpeg's ``AVFMT_TS_DISCONT`` flag. In one of
#: these ffmpeg moves its time 0 to where the streams it decodes start (not the container's
#: start, where the video may start earlier), so a late audio start must be put back: see
#: :func:`_lead`.
TS_DISCONT = frozenset(
    "dhav hls live_flv m4v mpeg mpegts mpegtsraw ogg rcwt ty".split()
)


class FFmpegSource:
    """Audio from any file ffmpeg can read.

    Parameters
    ----------
    sample_rate:
        Resample to this rate (Hz); ``None`` keeps the file's own rate.
    audio_track:
        Which audio track to decode: its number from 1 (as players and OBS number them) or
        ``"all"``, every track summed.

    Samples are on the players' timeline (0 = the container's start): ffmpeg's ``aresample``
    fills a late start and gaps in the timestamps with silence (``async=1:first_pts=0``).
    """

    def __init__(self, sample_rate: int | None = None, audio_track: int | str = 1) -> None:
        if sample_rate is not None:
            number("sample_rate", sample_rate, low=1000, high=768000)
        self.sample_rate = int(sample_rate) if sample_rate else None
        self.audio_track = checks.audio_track(audio_track)
        self._probed: dict[str, MediaInfo] = {}

    def probe(self, path: str) -> MediaInfo:
        """Duration and streams of ``path``; :class:`InputError` if ffmpeg cannot open it or
        it has no such audio track."""
        info = probe(path, self.audio_track)
        if info.duration is not None and info.container == mp4.CONTAINER:
            info = replace(info, duration=mp4.cut_fragments_end(Path(path), info.duration))
        if self.sample_rate and info.has_audio:
            info = replace(info, sample_rate=self.sample_rate)
        self._probed[os.fspath(path)] = info
        return info

    def chunks(
        self,
        path: str,
        *,
        chunk_seconds: float = 10.0,
        start: float = 0.0,
        duration: float | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield mono float32 chunks of ``chunk_seconds`` from ``start`` for ``duration`` s.

        ffmpeg seeks on the input side (``-ss`` before ``-i``) and writes raw f32le to a pipe;
        only one chunk is held at a time. The ffmpeg process is always reaped, also when the
        consumer stops early.
        """
        check_input_file(path)
        info = self._probed.get(os.fspath(path)) or self.probe(path)
        if not info.has_audio:
            raise InputError(f"{path}: has no audio stream")
        rate = self.sample_rate or info.sample_rate or 48000
        mixed = self.audio_track == checks.ALL_TRACKS and len(info.tracks) > 1
        channels = 1 if mixed else max(1, info.channels)
        cmd = base_command()
        if start > 0:
            cmd += ["-ss", f"{start:.6f}"]
        cmd += ["-i", input_arg(path)]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        if mixed:  # each track averaged to mono, then summed (a mixer at unity gain)
            cmd += ["-filter_complex", _mix_graph(info.tracks, rate, _lead(info, start)),
                    "-map", "[mix]"]
        else:
            # All channels go through the pipe and are averaged in numpy: ffmpeg's decoding
            # is the bottleneck, and its own downmix (-ac 1 or pan) costs it ~30 % more CPU.
            track = self.audio_track if isinstance(self.audio_track, int) else 1
            cmd += ["-map", f"0:a:{track - 1}",
                    "-af", PLAYERS_TIMELINE + _lead(info, start, info.tracks[track - 1:track])]
        cmd += ["-vn", "-sn", "-dn", "-ac", str(channels)]
        if self.sample_rate or mixed:
            cmd += ["-ar", str(rate)]
        cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
        frame_bytes = _BYTES_PER_SAMPLE * channels
        buffer = bytearray(max(1, int(round(chunk_seconds * rate))) * frame_bytes)
        with child(cmd, stdout=subprocess.PIPE, bufsize=0) as (proc, stderr):
            _widen_pipe(proc.stdout)
            position = 0
            while True:
                got = _read_into(proc.stdout, buffer)
                frames = got // frame_bytes
                if frames:
                    yield AudioChunk(_mono(buffer, frames, channels), rate,
                                     start + position / rate)
                    position += frames
                if got < len(buffer):
                    break
            code = proc.wait()
            errors = stderr()
        decoded = position / rate
        if code < 0:  # killed (out of memory, or by a person): not the file's fault
            raise M0Error(f"{path}: ffmpeg was killed by {killed_by(-code)} while decoding")
        if code != 0:
            raise InputError(f"{path}: ffmpeg could not decode the audio ({reason(errors)})")
        check_complete(path, decoded, info.duration, start, duration,
                       damaged=bool(errors.strip()), detail=reason(errors),
                       video=info.has_video)


def _lead(info: MediaInfo, start: float, tracks: tuple | None = None) -> str:
    """The filter (``,adelay=…``, or ``""``) that puts back the silence ffmpeg leaves out
    before ``tracks`` (default: all of ``info``'s) decoded from ``start``: in a format of
    :data:`TS_DISCONT`, the seconds from ``start`` to the first of them (audio that starts
    after the video, and after ``start``)."""
    tracks = info.tracks if tracks is None else tracks
    if info.container not in TS_DISCONT or not tracks:
        return ""
    lead = min(track.start for track in tracks) - start
    return f",adelay=delays={lead * 1000:.3f}:all=1" if lead > 0 else ""


def _mix_graph(tracks: tuple, rate: int, lead: str = "") -> str:
    """The filter graph that sums every audio track, each placed on the players' timeline
    (``lead``: see :func:`_lead`) and averaged to mono, into ``[mix]``."""
    parts = []
    for i, track in enumerate(tracks):
        n = max(1, track.channels)
        average = "+".join(f"{1 / n:.10g}*c{c}" for c in range(n))
        parts.append(f"[0:a:{i}]{PLAYERS_TIMELINE}{lead},aresample={rate},"
                     f"pan=mono|c0={average}[t{i}]")
    inputs = "".join(f"[t{i}]" for i in range(len(tracks)))
    return ";".join(parts) + f";{inputs}amix=inputs={len(tracks)}:normalize=0:duration=longest[mix]"


def _mono(buffer: bytearray, frames: int, channels: int) -> np.ndarray:
    """The first ``frames`` interleaved frames of ``buffer``, downmixed to new samples."""
    samples = np.frombuffer(buffer, dtype="<f4", count=frames * channels)
    return downmix(samples.reshape(frames, channels).T)


def _read_into(stream, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``stream`` unless it ends first; return the bytes read."""
    view = memoryview(buffer)
    got = 0
    while got < len(buffer):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def _widen_pipe(stream) -> None:
    """Ask Linux for a 1 MiB pipe buffer: fewer wake-ups of ffmpeg and of us."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError):
        pass
