"""FFmpeg's demuxer path of the ``pyav`` source: any container FFmpeg's libraries read, one
track or every track mixed (``audio_track="all"``), decoded with PyAV.

Samples are placed on the players' timeline by the decoded frames' timestamps; the seeks are
exact (a second early, then placed by timestamp: to the sample, or to the container's
timestamps' resolution, a millisecond in Matroska), so a segment decoded on its own equals the
same stretch of a whole-file decode. A seek goes through the file's own index (a video's
keyframes, as players seek), never by reading the file up to the target (:func:`_seek`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import av
import av.stream
import numpy as np

from m0core import checks
from m0core.errors import InputError
from m0core.media.audio import OVERRUN, WRAPPED, check_complete
from m0core.media.ffmpeg import input_arg, players_duration, unreadable
from m0core.model import AudioChunk, AudioTrack, MediaInfo

from . import mp4
from .chunks import GAP, PIECE, PREROLL, ChunkBuffer, mono_into

RESET = 1.0  # seconds timestamps may go back before it counts as a restart, not an overlap
MAX_LAG = 30.0  # seconds one track may lag the others before it counts as silent there
_PEEK = 2000  # packets of any stream read after a seek to find the audio track's first one
#: The discard level at which FFmpeg's demuxer skips a stream's packets instead of reading
#: them out (PyAV 18 sets it): the video's, demuxed for nothing, were two thirds of the demuxing
#: of an MPEG-TS VOD and a sixth of a Matroska one's. Older PyAV demuxes every stream.
_SKIP = getattr(getattr(av.stream, "Discard", None), "all", None)


def probe(path: Path, track: int | str) -> MediaInfo:
    """What FFmpeg's demuxer says of ``path`` and its audio track ``track``;
    :class:`InputError` if it cannot be opened or has no such audio track."""
    with _open(path) as opened:
        info = _media_info(opened.container, path, track)
        if info.has_audio:
            _chosen(opened.container, path, track)
    return info


def chunks(p: Path, track: int | str, chunk_seconds: float, start: float,
           duration: float | None) -> Iterator[AudioChunk]:
    """Mono chunks of audio track ``track`` (``"all"``: every track summed) of ``p``."""
    with _open(p) as opened:
        container = opened.container
        info = _media_info(container, p, track)
        if not info.has_audio:
            raise InputError(f"{p}: has no audio stream")
        streams = _chosen(container, p, track)
        rate = info.sample_rate
        origin = container.start_time / 1_000_000 if container.start_time else 0.0
        tracks = {s.index: _Track(rate, origin, s.time_base) for s in streams}
        only = tracks[streams[0].index] if len(tracks) == 1 else None
        first = int(round(start * rate))
        stop = None if duration is None else first + int(round(duration * rate))
        # The declared duration ends the audio where the encoder's padding starts; audio that
        # goes on more than OVERRUN past it was declared too short (an MP3 without a Xing
        # header: FFmpeg estimates its length from the first frame's bitrate) and is read
        # to its end.
        held = int(round(info.duration * rate)) if info.duration else None
        if held is not None and stop is not None:
            stop, held = min(stop, held), None
        overrun = int(OVERRUN * rate)
        size = max(1, int(round(chunk_seconds * rate)))
        if start > 0:
            _seek(container, streams[0], max(0.0, start - PREROLL) + origin)
        if _SKIP is not None:
            for other in container.streams:
                if other.index not in tracks:
                    other.discard = _SKIP
        filling = _Filling(tracks.values(), first, stop, size, rate)
        errors = 0
        for index, frame in _frames(container, streams):
            if frame is None:
                errors += 1
                continue
            tracks[index].push(frame)
            if only is not None:
                ready = only.end
            else:  # a track far behind the others (it ended, or has a gap) is silent there
                ahead = max(t.end for t in tracks.values())
                ready = min(max(t.end, ahead - MAX_LAG * rate) for t in tracks.values())
            if held is not None:
                if ready > held + overrun:
                    held = None
                else:
                    ready = min(ready, held)
            if stop is not None:
                ready = min(ready, stop)
            if ready >= filling.wants or ready == stop:
                yield from filling.fill(ready, final=ready == stop)
                if stop is not None and filling.position >= stop:
                    break
        else:
            last = max(t.end for t in tracks.values())
            for end in (stop, held):
                if end is not None:
                    last = min(last, end)
            yield from filling.fill(last, final=True)
        position = filling.position
        errors += opened.errors
    check_complete(p, max(0, position - first) / rate, info.duration, start, duration,
                   damaged=bool(errors), video=info.has_video)


def _seek(container, stream, target: float) -> None:
    """Seek ``container`` so that demuxing gives ``stream``'s packets from ``target`` seconds
    (on the container's clock) or earlier.

    On the file's default stream first (a video's, if it has one), as players and ``ffmpeg
    -ss`` do: a Matroska file indexes its video only, and FFmpeg's demuxer seeks on an
    unindexed audio track by reading every cluster up to the target (to reach the middle of a
    6 h 720p recording: 4.2 GB read, 14.7 s; now 2 MB, 0.16 s). The audio packets there start
    about where the video's keyframe does; if they start after ``target`` (audio muxed late),
    the seek is made on ``stream`` itself. FFmpeg refuses that where the track has no packet
    at or before ``target`` (a Matroska track that starts later): its packets come after the
    default stream's seek, which is made again.
    """
    container.seek(int(target * 1_000_000), backward=True)
    near = islice(container.demux(), _PEEK)  # a track that ended is not read to the end
    first = next((packet for packet in near
                  if packet.stream_index == stream.index and packet.pts is not None), None)
    if first is None or first.pts * stream.time_base > target:
        try:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            return
        except av.FFmpegError:
            pass
    container.seek(int(target * 1_000_000), backward=True)  # to demux from there again


class _Track:
    """One audio stream's decoded samples, held until read, each at the index of the sample
    on the players' timeline that its frame's timestamp gives.

    Frames are kept in :class:`av.AudioFifo` pieces and converted a chunk at a time (per-frame
    numpy work on a 1024-sample AAC frame cost about as much as the decoding); a gap is a
    piece that is a count of silent samples, so an hour's gap takes no memory.
    """

    def __init__(self, rate: int, origin: float, time_base) -> None:
        self.rate = rate
        # A timestamp t is at sample t * scale - shift (plain floats: Fractions per frame cost
        # a fifth of the decoding time).
        self.scale = float(time_base) * rate if time_base else None
        self.shift = origin * rate
        self.gap = GAP * rate
        self.reset = RESET * rate
        self.wrapped = WRAPPED * rate
        self.fifo: av.AudioFifo | None = None  # the last piece, when it is a fifo
        self.pieces: deque = deque()  # av.AudioFifo or int (samples of silence)
        self.begin = 0  # index of the first held sample
        self.end = 0  # index just after the last held sample
        self.started = False

    def push(self, frame) -> None:
        """Place ``frame`` on the timeline after what is held."""
        pts = frame.pts
        if pts is not None and self.scale is not None:
            at = int(round(pts * self.scale - self.shift))
            if not self.started:
                self.started = True
                self.begin = self.end = at
            else:
                gap = at - self.end
                if gap > self.wrapped:
                    pass  # a restart taken for the clock's wrap: on where the audio was
                elif gap > self.gap:
                    self.pieces.append(gap)
                    self.fifo = None
                    self.end += gap
                elif gap < 0 and -gap <= self.reset and -2 * gap > frame.samples:
                    return  # audio that is already held (overlapping timestamps)
        elif not self.started:
            self.started = True
            self.begin = self.end = 0
        frame.pts = None  # the fifo places samples by counting
        if self.fifo is None:
            self.fifo = av.AudioFifo()
            self.pieces.append(self.fifo)
        try:
            self.fifo.write(frame)
        except ValueError:  # the format changed mid-stream: a new fifo
            self.fifo = av.AudioFifo()
            self.pieces.append(self.fifo)
            self.fifo.write(frame)
        self.end += frame.samples

    def take(self, position: int, out: np.ndarray) -> None:
        """The mono samples ``position`` to ``position + len(out)`` into ``out`` (silence
        where none are held); what lies before ``position`` is dropped."""
        n = len(out)
        if position == self.begin and self.pieces:  # the usual case: n held samples, read
            piece = self.pieces[0]
            if not isinstance(piece, int) and piece.samples >= n:
                self.begin += n
                mono_into(piece.read(n), out)
                return
        out[:] = 0.0
        if position > self.begin:
            self._read(min(position, self.end) - self.begin, None)
            self.begin = max(self.begin, position)
        lead = self.begin - position
        if lead < n and self.end > self.begin:
            got = min(n - lead, self.end - self.begin)
            self._read(got, out[lead:lead + got])
            self.begin += got
        if self.end < self.begin:  # nothing was held up to position: carry on from there
            self.end = self.begin

    def _read(self, count: int, into: np.ndarray | None) -> None:
        """Take ``count`` held samples off the front, into ``into`` (or drop them)."""
        done = 0
        while done < count and self.pieces:
            piece = self.pieces[0]
            if isinstance(piece, int):
                k = min(piece, count - done)
                if into is not None:
                    into[done:done + k] = 0.0
                if piece == k:
                    self.pieces.popleft()
                else:
                    self.pieces[0] = piece - k
            else:
                k = min(piece.samples, count - done, PIECE)
                if k:
                    frame = piece.read(k)
                    if into is not None:
                        mono_into(frame, into[done:done + k])
                if piece.samples == 0 and len(self.pieces) > 1:
                    self.pieces.popleft()
                elif k == 0:
                    break
            done += k


class _Filling:
    """The chunk being filled from the tracks, :data:`PIECE` samples at a time as they are
    decoded: the tracks hold a piece, not a chunk (a chunk's worth of decoded frames held in
    a fifo, read at once and converted, cost several MB more at the peak)."""

    def __init__(self, tracks, first: int, stop: int | None, size: int, rate: int) -> None:
        self.tracks = list(tracks)
        self.position = first  # index of the next sample to place
        self.chunk = ChunkBuffer(size, stop, rate)
        #: :meth:`fill` places nothing before the tracks are ready up to here (unless final),
        #: so a decoding loop need not call it for every frame
        self.wants = first + self.chunk.wanted(first)

    def fill(self, ready: int, final: bool) -> list[AudioChunk]:
        """Place the samples up to ``ready`` in whole pieces (all of them if ``final``); the
        chunks completed (the last one short if ``final``)."""
        done: list[AudioChunk] = []
        while True:
            room = self.chunk.room(self.position)
            n = min(room, PIECE, ready - self.position)
            if n <= 0 or (n < min(PIECE, room) and not final):
                break
            _mix(self.tracks, self.position, self.chunk.slot(n))
            self.position += n
            done += self.chunk.add(n)
            if final and self.position >= ready:
                done += self.chunk.flush()
        self.wants = self.position + self.chunk.wanted(self.position)
        return done


def _mix(tracks, position: int, out: np.ndarray) -> None:
    """The tracks' samples ``position`` to ``position + len(out)``, summed, into ``out``."""
    tracks[0].take(position, out)
    if len(tracks) > 1:
        part = np.empty_like(out)
        for track in tracks[1:]:
            track.take(position, part)
            out += part


def _chosen(container, path: Path, track: int | str) -> list:
    """The audio streams ``track`` names (:class:`InputError` if the file has no such track,
    or FFmpeg could not tell its sample rate: random bytes it took for an MP3, say, or a
    track of a file whose others it reads that begins after the seconds its probe reads)."""
    audio = list(container.streams.audio)
    unknown = [n for n, s in enumerate(audio, start=1) if s.codec_context.sample_rate <= 0]
    named = range(1, len(audio) + 1) if track == checks.ALL_TRACKS else [track]
    late = [n for n in named if n in unknown]
    if late and len(unknown) < len(audio):
        raise InputError(f"{path}: FFmpeg's probe found no sample rate of audio track "
                         f"{late[0]} (a track that begins after the first seconds of the "
                         "file?): --source ffmpeg reads it")
    if track == checks.ALL_TRACKS:
        rates = sorted({s.codec_context.sample_rate for s in audio})
        if len(rates) > 1:
            raise InputError(f"{path}: its audio tracks have different sample rates "
                             f"({', '.join(map(str, rates))} Hz) and cannot be mixed: "
                             "choose one with --audio-track N")
        chosen = audio
    elif track > len(audio):
        count = f"only {len(audio)} audio tracks" if len(audio) > 1 else "one audio track"
        raise InputError(f"{path}: has no audio track {track} (it has {count}; "
                         "'m0 probe' lists them)")
    else:
        chosen = [audio[track - 1]]
    if any(s.codec_context.sample_rate <= 0 for s in chosen):
        raise unreadable(path, "m0", "no audio FFmpeg can decode was found in it")
    return chosen


#: The demuxer options ``ffmpeg`` and ``ffprobe`` open every input with, which a file with an
#: audio track FFmpeg's probe found no sample rate of is opened again with: an MPEG-TS's
#: every program map is read (in an M2TS whose audio starts 3 s after its video, the probe
#: finds the audio's rate only so; an MPEG-TS's open reads 4 MB more so, not asked for
#: every file).
UNPROBED_OPTIONS = {"scan_all_pmts": "1"}


class _open:
    """``av.open`` as a context manager that also captures FFmpeg's error messages while it
    is open (``.logs``); failing to open is one clear :class:`InputError`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.logs: list = []

    def __enter__(self) -> _open:
        self._level = av.logging.get_level()
        self._skip = av.logging.get_skip_repeated()
        av.logging.set_level(av.logging.ERROR)  # only errors reach Python: cheap
        # PyAV drops a line identical to the one before it, even from another file: the
        # second truncated file a process (a Dask worker, m0 gui) opened lost its reason
        av.logging.set_skip_repeated(False)
        self._capture = av.logging.Capture()
        self.logs = self._capture.__enter__()
        try:
            # input_arg pins the file protocol: "concat:a|b.mp4" or "http:x.mp4" stay files
            self.container = av.open(input_arg(self.path), metadata_errors="ignore")
            if any(s.codec_context.sample_rate <= 0 for s in self.container.streams.audio):
                self.container.close()  # read again as ffmpeg and ffprobe read it
                self.container = av.open(input_arg(self.path), metadata_errors="ignore",
                                         options=UNPROBED_OPTIONS)
        except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            self._restore()
            raise unreadable(self.path, "m0", _reason(exc, self.logs)) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.container.close()
        finally:
            self._restore()

    def _restore(self) -> None:
        self._capture.__exit__(None, None, None)
        av.logging.set_level(self._level)
        av.logging.set_skip_repeated(self._skip)

    @property
    def errors(self) -> int:
        """Error messages FFmpeg logged so far (a damaged or truncated file)."""
        return sum(1 for level, _name, _msg in self.logs if level <= av.logging.ERROR)


def _reason(exc: Exception, logs: list) -> str:
    """FFmpeg's own last error line if it gave one (e.g. "moov atom not found"), else the
    exception's text."""
    for level, _name, message in reversed(logs):
        if level <= av.logging.ERROR and message.strip():
            return message.strip()
    return (getattr(exc, "strerror", None) or str(exc)).split(": '", 1)[0].strip()


def video_streams(container) -> list:
    """The container's video streams, leaving out attached pictures (cover art), like
    ``ffmpeg -map 0:V``."""
    return [s for s in container.streams.video
            if not (s.disposition & av.stream.Disposition.attached_pic)]


def _media_info(container, path: Path, track: int | str = 1) -> MediaInfo:
    audio = list(container.streams.audio)
    videos = video_streams(container)
    duration = container.duration / 1_000_000 if container.duration else None
    origin = container.start_time / 1_000_000 if container.start_time else 0.0
    tracks = tuple(_track_info(s, number, origin) for number, s in enumerate(audio, start=1))
    chosen = audio[0] if track == checks.ALL_TRACKS or not isinstance(track, int) else (
        audio[track - 1] if track <= len(audio) else None)
    if duration is None and chosen is not None and chosen.duration:
        duration = float(chosen.duration * chosen.time_base)
    ctx = chosen.codec_context if chosen is not None else None
    channels = ctx.layout.nb_channels if ctx else 0
    if track == checks.ALL_TRACKS and audio:
        channels = max(t.channels for t in tracks)
    if duration is not None and container.format.name == mp4.CONTAINER:
        duration = mp4.cut_fragments_end(path, duration)
    return MediaInfo(
        path=str(path), duration=players_duration(container.format.name, duration, origin,
                                                  path, ctx.name if ctx else None),
        sample_rate=ctx.sample_rate if ctx else 0, channels=channels,
        has_audio=bool(audio), has_video=bool(videos),
        audio_codec=ctx.name if ctx else None,
        video_codec=videos[0].codec_context.name if videos else None,
        container=container.format.name, size=path.stat().st_size, tracks=tracks,
    )


def _track_info(stream, number: int, origin: float) -> AudioTrack:
    """What players show of one audio stream."""
    ctx = stream.codec_context
    start = (float(stream.start_time * stream.time_base) - origin
             if stream.start_time is not None else 0.0)
    meta = stream.metadata or {}
    language = meta.get("language")
    handler = meta.get("handler_name")  # OBS names mp4 tracks there; ffmpeg's default is not
    if handler in ("SoundHandler", "Sound Media Handler", "Core Media Audio"):
        handler = None
    return AudioTrack(number=number, codec=ctx.name, channels=ctx.layout.nb_channels,
                      sample_rate=ctx.sample_rate, start=max(0.0, start),
                      title=meta.get("title") or meta.get("name") or handler or None,
                      language=None if language in (None, "und") else language)


def _frames(container, streams: list):
    """``(stream index, frame)`` of ``streams`` in file order; ``(index, None)`` for each
    packet that failed to decode."""
    try:
        for packet in container.demux(streams):
            try:
                for frame in packet.decode():
                    yield packet.stream_index, frame
            except av.FFmpegError:
                yield packet.stream_index, None
    except av.FFmpegError:  # the container ends early (truncated) or is damaged
        yield streams[0].index, None

