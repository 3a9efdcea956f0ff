"""Decoded frames to mono chunks on the sample timeline, in memory that does not grow with
the chunk length.

Frames go into an AudioFifo; the fifo is emptied :data:`PIECE` samples at a time into the
chunk being filled, each piece averaged to mono on its own (elementwise, so a sample's value
never depends on where pieces or chunks are cut). So the fifo holds a piece, not a chunk, and
a chunk exists once, as the mono float32 array handed on. Per frame there is one write and
one comparison: the Python work is per piece.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable

import av
import numpy as np

from m0core.media.audio import downmix
from m0core.model import AudioChunk

#: Seconds decoded before a seek target, so the decoder state is settled.
PREROLL = 1.0
#: Seconds of missing audio on a track's timeline (timestamps that jump, an MP4 sample that
#: lasts longer than what it decodes to) filled with silence; less is left as it is.
GAP = 0.1
#: Samples moved out of the fifo at a time (about 0.7 s at 48 kHz).
PIECE = 1 << 15

_SCALE = {"s16": 1 / 32768, "s32": 1 / 2147483648, "u8": 1 / 128, "flt": 1.0, "dbl": 1.0}


def place(frames: Iterable[av.AudioFrame | None], position: Callable[[av.AudioFrame], int],
          first: int, stop: int | None, size: int, rate: int
          ) -> Generator[AudioChunk, None, tuple[int, int]]:
    """Chunks of ``size`` samples of ``frames`` from sample index ``first`` up to ``stop``
    (``None``: the end); ``position(frame)`` is the index of the first frame's first sample.
    Returns the index reached and how many ``None`` (packets that failed) the frames held."""
    cutter = _Cutter(first, stop, size, rate)
    fifo = av.AudioFifo()
    errors = 0
    for frame in frames:
        if frame is None:
            errors += 1
            continue
        if cutter.begin is None:
            cutter.start(position(frame))
        frame.pts = None  # samples are placed by counting from the first frame
        try:
            fifo.write(frame)
        except ValueError:  # the format changed mid-stream: start a new fifo
            yield from cutter.take(fifo, final=True)
            cutter.begin += fifo.samples  # what is left lies beyond stop
            fifo = av.AudioFifo()
            fifo.write(frame)
        if fifo.samples >= cutter.need:
            yield from cutter.take(fifo)
            if cutter.ended:
                break
    if cutter.begin is not None:
        yield from cutter.take(fifo, final=True)
    return (first if cutter.begin is None else max(first, cutter.begin)), errors


class _Cutter:
    """Where the fifo's first sample lies and the chunk being filled."""

    def __init__(self, first: int, stop: int | None, size: int, rate: int) -> None:
        self.first, self.stop = first, stop
        self.begin: int | None = None  # sample index of the fifo's first sample
        self.need = 1  # samples the fifo must hold before :meth:`take` has work
        self.ended = False
        self.chunk = ChunkBuffer(size, stop, rate)

    def start(self, begin: int) -> None:
        self.begin = begin
        self._update_need()

    def take(self, fifo: av.AudioFifo, final: bool = False) -> list[AudioChunk]:
        """Move whole pieces (all there is if ``final``) from ``fifo`` into chunks; the
        chunks completed."""
        done: list[AudioChunk] = []
        if self.begin < self.first:  # a seek's pre-roll
            skip = min(self.first - self.begin, fifo.samples)
            if skip:
                fifo.read(skip)
                self.begin += skip
        while self.begin >= self.first:
            room = self.chunk.room(self.begin)
            if room <= 0:
                self.ended = True
                break
            take = min(fifo.samples, PIECE, room)
            if take <= 0 or (take < min(PIECE, room) and not final):
                break
            mono_into(fifo.read(take), self.chunk.slot(take))
            self.begin += take
            done += self.chunk.add(take)
        if final:
            done += self.chunk.flush()
        self._update_need()
        return done

    def _update_need(self) -> None:
        if self.begin < self.first:
            self.need = self.first - self.begin + 1
            return
        self.need = self.chunk.wanted(self.begin)


class ChunkBuffer:
    """The chunk being filled, a piece at a time: ``size`` samples from the index of the sample
    it begins at (fewer where ``stop`` comes first), at ``rate``."""

    def __init__(self, size: int, stop: int | None, rate: int) -> None:
        self.size, self.stop, self.rate = size, stop, rate
        self._out: np.ndarray | None = None
        self._filled = 0
        self._at = 0  # sample index of the chunk's first sample

    @property
    def left(self) -> int:
        """Samples the chunk being filled still takes (a whole chunk's if none is)."""
        return self.size if self._out is None else len(self._out) - self._filled

    def wanted(self, position: int) -> int:
        """Samples from ``position`` on that must be ready before a piece is placed (unless
        it is the last): a whole :data:`PIECE`, or what the chunk, or ``stop``, leaves."""
        left = self.left if self.stop is None else min(self.left, self.stop - position)
        return max(1, min(PIECE, left))

    def room(self, position: int) -> int:
        """Samples the chunk takes from ``position`` (the next sample) on, beginning one there
        if none is being filled; 0 at ``stop``."""
        if self._out is None:
            want = self.size if self.stop is None else min(self.size, self.stop - position)
            if want <= 0:
                return 0
            self._out, self._filled, self._at = np.empty(want, dtype=np.float32), 0, position
        return len(self._out) - self._filled

    def slot(self, n: int) -> np.ndarray:
        """Where the next ``n`` samples go (then :meth:`add` them)."""
        return self._out[self._filled:self._filled + n]

    def add(self, n: int) -> list[AudioChunk]:
        """Count ``n`` samples written to :meth:`slot`; the chunk, if that filled it."""
        self._filled += n
        return self.flush() if self._filled == len(self._out) else []

    def flush(self) -> list[AudioChunk]:
        """The samples placed so far as a chunk (none if there are none)."""
        out, self._out = self._out, None
        if out is None or not self._filled:
            return []
        return [AudioChunk(out[:self._filled], self.rate, self._at / self.rate)]


def mono_into(frame: av.AudioFrame, out: np.ndarray) -> None:
    """Write :func:`mono` of ``frame`` into ``out``. Planar float32 (what AAC, MP3 and AC-3
    decode to) is read from the planes in place, with the same operations in the same order
    as :func:`m0core.media.audio.downmix`, so the samples are the same to the bit."""
    if frame.format.name != "fltp":
        out[:] = mono(frame)
        return
    planes = frame.planes
    count = len(out)
    out[:] = np.frombuffer(planes[0], dtype=np.float32, count=count)
    if len(planes) > 1:
        for plane in planes[1:]:
            out += np.frombuffer(plane, dtype=np.float32, count=count)
        out *= np.float32(1 / len(planes))


def mono(frame: av.AudioFrame) -> np.ndarray:
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
