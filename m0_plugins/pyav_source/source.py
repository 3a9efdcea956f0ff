"""Decode the first audio stream with PyAV, chunk by chunk, in constant memory.

Faster than piping from the ffmpeg program (no muxer, no pipe, no format conversion), and its
seeks are sample-exact: it seeks a second early and places every sample by the decoded
frames' timestamps, so a segment decoded on its own equals the same stretch of a whole-file
decode. That is what lets m0 decode one file's segments in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from m0core.errors import InputError
from m0core.media.audio import check_complete
from m0core.media.ffmpeg import check_input_file, input_arg
from m0core.model import AudioChunk, MediaInfo

from .chunks import place
from .mp4 import CONTAINER, AudioReader, Unsupported, looks_like_mp4

PREROLL = 1.0  # seconds decoded before a seek target, so the decoder state is settled


class PyAVSource:
    """Audio from any file FFmpeg's libraries read, through PyAV."""

    #: Seeking lands on the exact sample, so segments can be decoded in parallel.
    exact_seek = True

    def probe(self, path: str) -> MediaInfo:
        """Duration and streams of ``path``; :class:`InputError` if it cannot be opened."""
        p = check_input_file(path)
        reader = _mp4_reader(p)
        if reader is not None:
            return _mp4_info(reader, p)
        with _open(p) as opened:
            return _media_info(opened.container, p)

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
        p = check_input_file(path)
        reader = _mp4_reader(p)
        if reader is not None:  # MP4/MOV/M4A: m0's own reader of the sample tables
            rate = reader.sample_rate
            first, stop, size = _span(rate, start, duration, chunk_seconds, reader.end)
            begin, frames = reader.frames(first, PREROLL if start > 0 else 0.0)
            try:
                emitted, errors = yield from place(frames, lambda _frame: begin, first, stop,
                                                    size, rate)
            finally:
                frames.close()
            check_complete(p, (emitted - first) / rate, reader.duration, start, duration,
                           damaged=bool(errors or reader.errors))
            return
        with _open(p) as opened:
            container = opened.container
            info = _media_info(container, p)
            if not info.has_audio:
                raise InputError(f"{p}: has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or info.sample_rate
            end = int(round(info.duration * rate)) if info.duration else None
            first, stop, size = _span(rate, start, duration, chunk_seconds, end)
            if start > 0:
                target = max(0.0, start - PREROLL)
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            emitted, errors = yield from place(
                _frames(container, stream, p), lambda frame: _frame_position(frame, stream, rate),
                first, stop, size, rate)
            errors += opened.errors
        check_complete(p, (emitted - first) / rate, info.duration, start, duration,
                       damaged=bool(errors))


def _mp4_reader(path: Path) -> AudioReader | None:
    """m0's reader of the file's audio track if it is an MP4-family file it handles (its
    memory does not grow with the file's length, FFmpeg's index does), else None."""
    try:
        if not looks_like_mp4(path):
            return None
        return AudioReader(path)
    except (Unsupported, OSError):
        return None


def _mp4_info(reader: AudioReader, path: Path) -> MediaInfo:
    frame = reader.template
    return MediaInfo(
        path=str(path), duration=reader.duration, sample_rate=reader.sample_rate,
        channels=frame.layout.nb_channels, has_audio=True,
        has_video=reader.movie.video_codec is not None, audio_codec=reader.track.codec,
        video_codec=reader.movie.video_codec, container=CONTAINER, size=path.stat().st_size,
    )


def _span(rate: int, start: float, duration: float | None, chunk_seconds: float,
          end: int | None) -> tuple[int, int | None, int]:
    """The first sample index, the index to stop before (None: the end) and the chunk size,
    in samples; ``end`` is where the audio ends (the encoder's padding after the last real
    sample is not audio)."""
    first = int(round(start * rate))
    stop = None if duration is None else first + int(round(duration * rate))
    if end is not None:
        stop = end if stop is None else min(stop, end)
    return first, stop, max(1, int(round(chunk_seconds * rate)))


class _open:
    """``av.open`` as a context manager that also captures FFmpeg's error messages while it
    is open (``.logs``); failing to open is one clear :class:`InputError`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.logs: list = []

    def __enter__(self) -> _open:
        self._level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)  # only errors reach Python: cheap
        self._capture = av.logging.Capture()
        self.logs = self._capture.__enter__()
        try:
            # input_arg pins the file protocol: "concat:a|b.mp4" or "http:x.mp4" stay files
            self.container = av.open(input_arg(self.path), metadata_errors="ignore")
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            self._restore()
            raise InputError(f"{self.path}: not a media file m0 can read "
                             f"({_reason(exc, self.logs)})") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.container.close()
        finally:
            self._restore()

    def _restore(self) -> None:
        self._capture.__exit__(None, None, None)
        av.logging.set_level(self._level)

    @property
    def errors(self) -> int:
        """Error messages FFmpeg logged so far (a damaged or truncated file)."""
        return sum(1 for level, _name, _msg in self.logs if level <= av.logging.ERROR)


def _reason(exc: Exception, logs: list) -> str:
    """FFmpeg's own last error line if it gave one (e.g. "moov atom not found"), else the
    exception's text."""
    for level, _name, message in reversed(logs):
        if level <= av.logging.ERROR and message.strip():
            text = message.strip()
            break
    else:
        text = (getattr(exc, "strerror", None) or str(exc)).split(": '", 1)[0].strip()
    if "moov atom not found" in text:
        text += ": the recording is incomplete or truncated"
    return text


def video_streams(container) -> list:
    """The container's video streams, leaving out attached pictures (cover art), like
    ``ffmpeg -map 0:V``."""
    return [s for s in container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)]


def _media_info(container, path: Path) -> MediaInfo:
    audio = container.streams.audio[0] if container.streams.audio else None
    videos = video_streams(container)
    duration = container.duration / 1_000_000 if container.duration else None
    if duration is None and audio is not None and audio.duration:
        duration = float(audio.duration * audio.time_base)
    ctx = audio.codec_context if audio is not None else None
    return MediaInfo(
        path=str(path), duration=duration,
        sample_rate=ctx.sample_rate if ctx else 0,
        channels=ctx.layout.nb_channels if ctx else 0,
        has_audio=audio is not None, has_video=bool(videos),
        audio_codec=ctx.name if ctx else None,
        video_codec=videos[0].codec_context.name if videos else None,
        container=container.format.name, size=path.stat().st_size,
    )


def _frames(container, stream, path: Path):
    """Decoded frames in order; ``None`` for each packet that failed to decode."""
    try:
        for packet in container.demux(stream):
            try:
                yield from packet.decode()
            except av.FFmpegError:
                yield None
    except av.FFmpegError:  # the container ends early (truncated) or is damaged
        yield None


def _frame_position(frame, stream, rate: int) -> int:
    """Sample index of a frame's first sample, from its timestamp."""
    if frame.pts is None:
        return 0
    origin = stream.start_time or 0
    return int(round(float((frame.pts - origin) * frame.time_base) * rate))
