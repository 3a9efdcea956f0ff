"""What a stream sounds like, 20 times a second: the mel spectrum of each 50-ms frame.

Each frame is the first ~43 ms of its 50 ms (:func:`frame_size` samples: 2048 at 44.1 kHz and
over, 1024 under, so no frame reaches into the next and a segment that starts on a frame's
time gives the same frames as a run from the start). At 44.1 kHz and over, its samples are
summed in pairs (half the rate: everything up to :data:`FMAX` is kept, and the transform
costs half; a pair's sum is a gentle filter, not a wall: at 48 kHz the top band is 2.5 dB
down, and what lies over 12 kHz folds into the bands under it, weaker: from 14 kHz 4 dB
down at 10 kHz, from 18 kHz 8 dB down at 6 kHz. The check, trained at 24 kHz, judges as
well at 48 kHz: docs/benchmarks.md, "at a stream's own rate"); Hann-windowed, its power in
:data:`BANDS` mel bands from :data:`FMIN` to :data:`FMAX` Hz (librosa's Slaney filters), in
dB (0 dB: a full-scale sine's power in one bin), kept in steps of 0.5 dB as one byte per
band (3.5 MB an hour). Audio under :data:`MIN_RATE` has no spectra: its top bands would be
empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from m0core.model import AudioChunk

#: Frames a second.
FPS = 20
BANDS = 48
FMIN, FMAX = 60.0, 11000.0
#: The lowest sample rate whose spectra reach :data:`FMAX`.
MIN_RATE = 22050
#: From this rate on a frame's samples are summed in pairs (everything to :data:`FMAX` is
#: kept at half the rate).
PAIRS_FROM = 44100
#: Frames transformed at once.
_BLOCK = 64
#: dB of code 0; a code is ``(dB - FLOOR_DB) * STEPS``.
FLOOR_DB = -120.0
STEPS = 2.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log = hz >= 1000.0
    return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0),
                    mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)),
                    mel * (200.0 / 3))


def mel_filters(rate: float, n_fft: int) -> np.ndarray:
    """``(BANDS, n_fft // 2 + 1)`` triangular filters, area-normalised (Slaney), as
    ``librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=BANDS, fmin=FMIN, fmax=FMAX)`` gives
    them (librosa takes a second to import; a segment's worker would pay it each time)."""
    bins = np.linspace(0.0, rate / 2.0, n_fft // 2 + 1)
    edges = _edges()
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def centres() -> np.ndarray:
    """The centre (Hz) of each of the :data:`BANDS` bands."""
    return _edges()[1:-1]


def _edges() -> np.ndarray:
    """The :data:`BANDS` + 2 edges (Hz) of the bands' triangles, evenly spaced in mel from
    :data:`FMIN` to :data:`FMAX`: band ``i`` rises from edge ``i``, peaks at ``i + 1`` (its
    centre) and falls to ``i + 2``."""
    return _mel_to_hz(np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), BANDS + 2))


#: No spectra: zero frames.
NONE = np.zeros((0, BANDS), dtype=np.uint8)
NONE.flags.writeable = False


def frame_of(seconds: float) -> int:
    """The frame that begins at (or nearest) ``seconds`` on the timeline."""
    return int(np.floor(seconds * FPS + 0.5))


def frame_size(rate: int) -> int:
    """Samples a frame's spectrum covers at ``rate``: 2048 at 44.1 kHz and over (summed in
    pairs, 1024 transformed), 1024 under."""
    return 2048 if rate >= PAIRS_FROM else 1024


class Spectra:
    """``Spectra(rate).feed(samples)`` → the codes (``uint8``, one row of :data:`BANDS` a
    frame) of every frame whose samples have all arrived, in order; samples of a frame begun
    are kept for the next call."""

    def __init__(self, rate: int) -> None:
        if rate < MIN_RATE:
            raise ValueError(f"spectra need {MIN_RATE} Hz or more, not {rate}")
        self.rate = int(rate)
        self.n_fft = frame_size(self.rate)
        self._pairs = self.rate >= PAIRS_FROM
        points = self.n_fft // 2 if self._pairs else self.n_fft
        window = np.hanning(points + 1)[:-1]  # periodic, as librosa's
        self._window = window  # float64: numpy transforms it 5 times faster than float32
        filters = mel_filters(self.rate / 2 if self._pairs else self.rate, points)
        # only the bins the filters reach are weighed; a full-scale sine's power in one bin
        # of the window is 1 (summed in pairs, its amplitude is twice)
        self._bins = int(np.flatnonzero(filters.any(axis=0))[-1]) + 1
        scale = float(np.sum(window) / 2.0 * (2 if self._pairs else 1)) ** 2
        self._filters = np.ascontiguousarray(filters[:, :self._bins].T / scale,
                                             dtype=np.float32)
        # samples from one frame's start to the next's, where it is a whole number
        self._step = self.rate // FPS if self.rate % FPS == 0 else 0
        self._work = (np.empty((_BLOCK, points)),
                      np.empty((_BLOCK, points // 2 + 1), dtype=np.complex128),
                      np.empty((_BLOCK, self._bins)))
        self._buffer = np.zeros(0, dtype=np.float32)
        self._base = 0   # absolute sample index of _buffer[0]
        self._next = 0   # index of the next frame

    def _start(self, k: np.ndarray | int) -> np.ndarray:
        return np.floor(np.asarray(k, dtype=np.float64) * self.rate / FPS + 0.5).astype(np.int64)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Take the next mono samples; returns the codes of the frames now complete."""
        samples = np.asarray(samples, dtype=np.float32)
        buffer = np.concatenate([self._buffer, samples]) if len(self._buffer) \
            else np.ascontiguousarray(samples)
        end = self._base + len(buffer)
        last = int((end - self.n_fft) * FPS // self.rate) + 1  # frames k < last may be done
        ks = np.arange(self._next, max(self._next, last + 1))
        ks = ks[self._start(ks) + self.n_fft <= end]
        codes = NONE
        if len(ks):
            offsets = self._start(ks) - self._base
            if self._step:
                frames = np.lib.stride_tricks.as_strided(
                    buffer[offsets[0]:], shape=(len(ks), self.n_fft),
                    strides=(self._step * buffer.itemsize, buffer.itemsize), writeable=False)
            else:
                frames = buffer[offsets[:, None] + np.arange(self.n_fft)]
            codes = np.concatenate([self._codes(frames[i:i + _BLOCK])
                                    for i in range(0, len(frames), _BLOCK)])
            self._next = int(ks[-1]) + 1
        keep = min(int(self._start(self._next)) - self._base, len(buffer))
        self._buffer, self._base = buffer[keep:].copy(), self._base + keep
        return codes

    def _codes(self, frames: np.ndarray) -> np.ndarray:
        """The codes of up to :data:`_BLOCK` frames, transformed in arrays made once: new
        arrays of a megabyte each time cost the system three times the transform."""
        n = len(frames)
        windowed, spectrum, power = (a[:n] for a in self._work)
        if self._pairs:
            frames = frames[:, 0::2] + frames[:, 1::2]
        np.multiply(frames, self._window, out=windowed)
        np.fft.rfft(windowed, axis=1, out=spectrum)
        np.abs(spectrum[:, :self._bins], out=power)
        np.square(power, out=power)
        return encode(power.astype(np.float32) @ self._filters)


class Heard:
    """The spectra of a stream of chunks (:class:`m0core.AudioChunk`), as a decoding process
    makes them: ``feed(chunk)`` → its codes and their first frame (the first chunk's start on
    the timeline); none at a rate under :data:`MIN_RATE`."""

    def __init__(self) -> None:
        self._spectra: Spectra | None = None
        self.frame = 0  # the next frame

    def feed(self, chunk: AudioChunk) -> tuple[np.ndarray, int]:
        """The codes of the frames ``chunk`` completed, and the first one's index."""
        if self._spectra is None:
            if chunk.sample_rate < MIN_RATE:
                return NONE, self.frame
            self._spectra, self.frame = Spectra(chunk.sample_rate), frame_of(chunk.start)
        first = self.frame
        codes = self._spectra.feed(chunk.samples)
        self.frame += len(codes)
        return codes, first


def pieces(count: int, hop: float, step: int, codes: np.ndarray | None = None, first: int = 0
           ) -> Iterator[tuple[slice, np.ndarray, int]]:
    """A curve of ``count`` values (``hop`` seconds each) cut in pieces of ``step`` values, as
    a decoding run gives them, each with the spectra of its audio (``codes``, frame ``first``
    on; none when ``None``): ``(its values' slice, its codes, their first frame)``."""
    done = 0
    for i in range(0, count, step):
        heard, at = NONE, first + done
        if codes is not None:
            end = min(len(codes), max(done, frame_of((i + step) * hop) - first))
            heard, done = np.asarray(codes[done:end]), end
        yield slice(i, i + step), heard, at


def aligned(codes: np.ndarray, first: int, expected: int) -> np.ndarray:
    """``codes`` (frame ``first`` on) as the frames from ``expected`` on: those before it
    dropped, a gap before ``first`` filled with silence (code 0). Segments' frames meet
    exactly; a decoder that stopped a few samples short of a segment's end loses its last."""
    codes = np.asarray(codes, dtype=np.uint8).reshape(-1, BANDS)
    if first < expected:
        return codes[expected - first:]
    if first > expected:
        return np.concatenate([np.zeros((first - expected, BANDS), dtype=np.uint8), codes])
    return codes


def encode(power: np.ndarray) -> np.ndarray:
    """Band powers (relative to a full-scale sine) as codes: 0.5-dB steps from -120 dB."""
    db = 10.0 * np.log10(np.maximum(power, 1e-30))
    return np.clip(np.rint((db - FLOOR_DB) * STEPS), 0, 255).astype(np.uint8)


def decode(codes: np.ndarray) -> np.ndarray:
    """Codes back to dB."""
    return codes.astype(np.float32) / STEPS + FLOOR_DB
