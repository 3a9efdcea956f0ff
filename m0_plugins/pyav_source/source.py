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
import numpy as np

from m0core.errors import InputError
from m0core.media.audio import check_complete, downmix
from m0core.media.ffmpeg import check_input_file, input_arg
from m0core.model import AudioChunk, MediaInfo

PREROLL = 1.0  # seconds decoded before a seek target, so the decoder state is settled

_SCALE = {"s16": 1 / 32768, "s32": 1 / 2147483648, "u8": 1 / 128, "flt": 1.0, "dbl": 1.0}


class PyAVSource:
    """Audio from any file FFmpeg's libraries read, through PyAV."""

    #: Seeking lands on the exact sample, so segments can be decoded in parallel.
    exact_seek = True

    def probe(self, path: str) -> MediaInfo:
        """Duration and streams of ``path``; :class:`InputError` if it cannot be opened."""
        p = check_input_file(path)
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
        with _open(p) as opened:
            container = opened.container
            info = _media_info(container, p)
            if not info.has_audio:
                raise InputError(f"{p}: has no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or info.sample_rate
            first = int(round(start * rate))
            stop = None if duration is None else first + int(round(duration * rate))
            if info.duration:  # the encoder's padding after the last real sample is not audio
                end = int(round(info.duration * rate))
                stop = end if stop is None else min(stop, end)
            size = max(1, int(round(chunk_seconds * rate)))
            if start > 0:
                target = max(0.0, start - PREROLL)
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            # Frames go through an AudioFifo and are downmixed a chunk at a time: per-frame
            # numpy work (a 1024-sample AAC frame) cost about as much as the decoding.
            fifo = av.AudioFifo()
            begin: int | None = None  # sample index of the fifo's first sample
            errors = 0
            for frame in _frames(container, stream, p):
                if frame is None:
                    errors += 1
                    continue
                if begin is None:
                    begin = _frame_position(frame, stream, rate)
                frame.pts = None  # samples are placed by counting from the first frame
                try:
                    fifo.write(frame)
                except ValueError:  # the format changed mid-stream: start a new fifo
                    chunks, begin = _drain(fifo, begin, first, stop, fifo.samples, rate)
                    yield from chunks
                    begin += fifo.samples  # what is left lies beyond stop
                    fifo = av.AudioFifo()
                    fifo.write(frame)
                chunks, begin = _drain(fifo, begin, first, stop, size, rate)
                yield from chunks
                if stop is not None and begin + fifo.samples >= stop:
                    break
            if begin is not None and fifo.samples:
                chunks, begin = _drain(fifo, begin, first, stop, fifo.samples, rate)
                yield from chunks
            emitted = first if begin is None else max(first, begin)
            errors += opened.errors
        check_complete(p, (emitted - first) / rate, info.duration, start, duration,
                       damaged=bool(errors))


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


def _mono(frame) -> np.ndarray:
    """The frame's channels averaged, as float32 in -1..1."""
    data = frame.to_ndarray()
    fmt = frame.format
    channels = frame.layout.nb_channels
    if not fmt.is_planar:
        data = data.reshape(-1, channels).T
    base = fmt.name.rstrip("p")
    if base not in ("flt", "dbl"):
        data = (data.astype(np.float32) - (128 if base == "u8" else 0)) * _SCALE[base]
    return downmix(data)


def _drain(fifo, begin: int, first: int, stop: int | None, size: int, rate: int
           ) -> tuple[list[AudioChunk], int]:
    """Chunks of ``size`` samples from ``fifo`` whose first sample has index ``begin``, without
    what lies before ``first`` (a seek's pre-roll) or from ``stop`` on; and the index of the
    fifo's first sample afterwards."""
    chunks: list[AudioChunk] = []
    if begin < first:
        skip = min(first - begin, fifo.samples)
        if skip:
            fifo.read(skip)
            begin += skip
        if begin < first:
            return chunks, begin
    while size > 0:
        want = size if stop is None else min(size, stop - begin)
        if want <= 0 or fifo.samples < want:
            break
        chunks.append(AudioChunk(_mono(fifo.read(want)), rate, begin / rate))
        begin += want
    return chunks, begin
