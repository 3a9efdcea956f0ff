"""Decode one audio track of an MP4/MOV/M4A file with PyAV's decoder, fed with the packets
that m0's reader of the sample tables (:mod:`.mp4`) finds: constant memory at any length,
edit lists honoured (a late start is silence from the container's start, the encoder's
priming is not shown).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import BinaryIO

import av

from m0core.media.audio import check_complete
from m0core.model import AudioChunk, AudioTrack, MediaInfo

from . import mp4
from .chunks import GAP, PREROLL, place
from .mp4 import Run, Unsupported


def tracks(reader: AudioReader, path: Path) -> tuple[AudioTrack, ...] | None:
    """Every audio track of the reader's file as FFmpeg's demuxer describes it (the rate and
    channels its decoder gives), from the boxes: FFmpeg's demuxer would index every sample of
    every track to say it. ``None`` if one of them is a track the reader cannot describe."""
    described = []
    for number, track in enumerate(reader.movie.tracks, start=1):
        if isinstance(track, Unsupported) or track.labels is None:
            return None
        try:
            frame = (reader if number == reader.number else AudioReader(path, number)).template
        except (Unsupported, OSError):
            return None
        described.append(mp4.described(number, track, frame.sample_rate,
                                       frame.layout.nb_channels))
    return tuple(described)


def media_info(reader: AudioReader, path: Path, tracks: tuple[AudioTrack, ...]) -> MediaInfo:
    """What the reader's file holds, with the decoder's rate and channels."""
    return mp4.media_info(reader.movie, path, reader.sample_rate,
                          reader.template.layout.nb_channels, reader.duration, tracks)


def chunks(reader: AudioReader, path: Path, chunk_seconds: float, start: float,
           duration: float | None) -> Iterator[AudioChunk]:
    """The chunks of the reader's track, on the players' timeline: an mp4's container starts
    at 0, and the reader places a track's late start (a leading empty edit) as silence."""
    rate = reader.sample_rate
    first = int(round(start * rate))
    stop = None if duration is None else first + int(round(duration * rate))
    end = reader.end  # the encoder's padding after the last real sample is not audio
    stop = end if stop is None else min(stop, end)
    size = max(1, int(round(chunk_seconds * rate)))
    begin, frames = reader.frames(first, PREROLL if start > 0 else 0.0)
    try:
        emitted, errors = yield from place(frames, lambda _frame: begin, first, stop, size,
                                           rate)
    finally:
        frames.close()
    check_complete(path, (emitted - first) / rate, reader.duration, start, duration,
                   damaged=bool(errors or reader.errors),
                   video=reader.movie.video_codec is not None)


class AudioReader:
    """Decode the audio track of an MP4-family file with PyAV's decoder, fed from
    :func:`packets`; ``Unsupported`` from the constructor if the file is not one this reader
    handles."""

    def __init__(self, path: Path, track: int = 1) -> None:
        self.path = path
        self.number = track
        self.movie = mp4.open_movie(path, track)
        track = self.movie.audio
        if track is None:
            raise Unsupported("no audio track")
        self.track = track
        self.errors = 0  # packets that failed to decode, reads past the end of the file
        try:
            self.template = self._first_frame()
        except av.FFmpegError as exc:
            raise Unsupported(f"the {track.codec} decoder refused the track ({exc})") from None
        if self.template is None:
            raise Unsupported("no audio frame decoded")
        self.sample_rate = self.template.sample_rate

    def decoder(self) -> av.AudioCodecContext:
        """A fresh decoder for the track."""
        ctx = av.CodecContext.create(mp4.decoder_name(self.track.codec), "r")
        if self.track.extradata:
            ctx.extradata = self.track.extradata
        if self.track.sample_rate:
            ctx.sample_rate = self.track.sample_rate
        return ctx

    def _first_frame(self) -> av.AudioFrame | None:
        """The first decoded frame: the decoder's output rate, format and layout."""
        ctx = self.decoder()
        with open(self.path, "rb") as f:
            for count, data in enumerate(mp4.packets(f, mp4.runs(f, self.movie))):
                if data is None or count > 50:
                    break
                for frame in ctx.decode(av.Packet(data)):
                    return frame
        return None

    @property
    def duration(self) -> float:
        """The movie's duration as FFmpeg reports it (the mvhd's), else the audio's end."""
        return mp4.duration(self.movie, self.sample_rate)

    @property
    def end(self) -> int:
        """The sample index (at the output rate) after the track's last shown sample."""
        return mp4.shown_end(self.movie, self.sample_rate)

    def frames(self, first: int, preroll: float
               ) -> tuple[int, Generator[av.AudioFrame | None, None, None]]:
        """``(index of the first sample yielded, frames)`` for decoding from sample index
        ``first`` (at the output rate) on, starting ``preroll`` seconds early. Silence
        stands for a leading empty edit; ``None`` for a packet that failed to decode."""
        edit, rate, scale = self.track.edit, self.sample_rate, self.track.timescale
        lead = round(edit.lead * rate)
        target = 0
        if first > lead:
            target = max(0, edit.media_time + round((first - lead) * scale / rate)
                         - round(preroll * scale))
        f = open(self.path, "rb")  # noqa: SIM115 - closed when the generator ends
        ahead = mp4.checked(mp4.runs(f, self.movie, target))
        head = next(ahead, False)
        if not head:  # past the last sample (False) or damaged tables (None)
            self.errors += head is None
            f.close()
            return first, _no_frames()
        position = lead + round((head.dts - edit.media_time) * rate / scale)
        drop = max(0, lead - position)
        begin = min(first, lead) if first < lead else position + drop
        return begin, self._frames(f, _chain(head, ahead), drop, lead - min(first, lead))

    def _frames(self, f: BinaryIO, run_list: Iterator[Run], drop: int, silence: int
                ) -> Generator[av.AudioFrame | None, None, None]:
        with f:
            yield from self._silent(silence)
            scale = self.track.timescale
            ticks = round(self.template.samples * scale / self.sample_rate)  # of a frame
            frames = self._decoded(mp4.packets(f, run_list, ticks, round(GAP * scale)))
            for frame in frames:  # the encoder's priming (an edit's media time) is not shown
                if frame is None:  # the file ends before the tables do
                    yield frame
                    continue
                if drop >= frame.samples:
                    drop -= frame.samples
                    continue
                if drop:
                    frame.pts = None
                    fifo = av.AudioFifo()
                    fifo.write(frame)
                    fifo.read(drop)
                    frame = fifo.read()
                yield frame
                break
            yield from frames

    def _decoded(self, data: Iterator[bytes | None]) -> Iterator[av.AudioFrame | None]:
        """The frames decoded from the packets ``data``: per packet one call into FFmpeg and
        nothing else (this loop runs 47 times a second of audio). A packet that fails to
        decode (a damaged stretch of the file) is a frame's worth of silence, as long as the
        track's first frame, so every later sample stays at its time."""
        decode, packet = self.decoder().decode, av.Packet
        for sample in data:
            if sample.__class__ is not bytes:
                if sample is None:  # the file ends before the tables do
                    self.errors += 1
                    yield None
                    return
                # a stretch with no audio (ticks): silence, as players keep its time
                yield from self._silent(round(sample * self.sample_rate / self.track.timescale))
                continue
            try:
                frames = decode(packet(sample))
            except av.FFmpegError:
                self.errors += 1
                yield self._silence(self.template.samples)
                continue
            yield from frames

    def _silent(self, samples: int) -> Iterator[av.AudioFrame]:
        """``samples`` of silence, a second's frame at a time."""
        while samples > 0:
            n = min(samples, self.sample_rate)
            yield self._silence(n)
            samples -= n

    def _silence(self, samples: int) -> av.AudioFrame:
        """A frame of ``samples`` zero samples in the decoder's format."""
        like = self.template
        frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = like.sample_rate
        return frame


def _chain(head: Run, rest: Iterator[Run]) -> Iterator[Run]:
    yield head
    yield from rest


def _no_frames() -> Generator[av.AudioFrame, None, None]:
    """No frame, as a generator: the caller closes the frames it is given."""
    yield from ()
