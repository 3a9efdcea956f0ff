"""``loudness``: momentary loudness (EBU R128, ITU-R BS.1770-4), streaming in constant memory.

The signal is K-weighted (BS.1770's high-shelf and high-pass biquads, designed for the file's
own sample rate as libebur128 and ffmpeg do) with the filter state carried from chunk to
chunk, squared, and averaged over a sliding ``window`` (400 ms: *momentary* loudness; 3 s
gives *short-term*). Loudness is ``-0.691 + 10·log10(mean square)`` LUFS.

Value ``i`` is the window that ends at ``(i + lead)·hop`` with ``lead = ceil(window / 2hop +
1/2)`` hops (3 for the defaults): the window is centred within half a hop of the score's time
``(i + 0.5)·hop``, and it lies on ffmpeg's ``ebur128`` 100 ms grid, which logs the same value
at ``t = (i + 3)·0.1``. Before the start and after the end the signal counts as silence, as in
ffmpeg.

m0's sources deliver mono (the mean of the channels). BS.1770 sums the channels' powers
instead, so for a stereo file with identical channels this measure is 3.01 dB below the
stereo loudness (10·log10 2), and for uncorrelated channels of equal level about the same;
the curve's shape, which is what selectors use, is the same.
"""

from __future__ import annotations

import math

import numpy as np

from m0core import checks
from m0core.checks import number
from m0core.errors import OptionError
from m0core.levels import FLOOR_DB
from m0core.model import AudioChunk

_EMPTY = np.zeros(0, dtype=np.float64)


def k_weighting(sample_rate: int) -> np.ndarray:
    """The BS.1770 K-weighting filter at ``sample_rate`` as second-order sections.

    The pre-filter (a +4 dB high shelf at 1.68 kHz) and the RLB high-pass (38 Hz), from their
    analog prototypes by the bilinear transform; at 48 kHz they equal the coefficients
    printed in BS.1770.
    """
    k = math.tan(math.pi * 1681.974450955533 / sample_rate)
    q = 0.7071752369554196
    vh = 10.0 ** (3.999843853973347 / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0,
             (vh - vb * k / q + k * k) / a0, 1.0, 2.0 * (k * k - 1.0) / a0,
             (1.0 - k / q + k * k) / a0]
    k = math.tan(math.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


class Loudness:
    """K-weighted loudness in LUFS over a sliding ``window``, one value per ``hop``.

    Parameters
    ----------
    hop:
        Seconds between values (default 0.1, as EBU R128 asks for momentary loudness).
    window:
        Seconds averaged per value: 0.4 is momentary loudness, 3.0 short-term.
    floor_db:
        Value reported for silence (LUFS).
    """

    version = "1"
    unit = "LUFS"

    def __init__(self, hop: float = 0.1, window: float = 0.4, floor_db: float = FLOOR_DB) -> None:
        number("window", window, low=checks.hop(hop), high=60.0)
        checks.floor_db(floor_db)
        self.hop = float(hop)
        self.window = float(window)
        self.floor_db = float(floor_db)
        self._rate = 0
        self._sos: np.ndarray | None = None
        self._zi: np.ndarray | None = None
        self._power = _EMPTY   # squared K-weighted samples of the padded stream from _base
        self._base = 0         # padded-stream index of _power[0]
        self._next = 0         # index of the next value to emit
        self._samples = 0      # samples received

    def _start(self, rate: int) -> None:
        self._rate = rate
        self._hop_n = max(1, round(self.hop * rate))
        self._win_n = max(1, round(self.window * rate))
        lead = math.ceil(self.window / (2 * self.hop) + 0.5) * self._hop_n
        pad = max(0, self._win_n - lead)
        self._sos = k_weighting(rate)
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._power = np.zeros(pad)
        # value i covers the padded stream [i*hop_n + shift, i*hop_n + shift + win_n)
        self._shift = pad - (self._win_n - lead)

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """Loudness of the windows this chunk completes."""
        if not self._rate:
            self._start(chunk.sample_rate)
        elif chunk.sample_rate != self._rate:
            raise OptionError("loudness: the sample rate changed within the stream")
        from scipy import signal  # imported on use: every m0 process loads every plugin

        weighted, self._zi = signal.sosfilt(self._sos, chunk.samples.astype(np.float64),
                                            zi=self._zi)
        self._samples += len(chunk.samples)
        self._power = np.concatenate([self._power, weighted * weighted])
        return self._values(self._complete())

    def finish(self) -> np.ndarray:
        """The windows that reach past the end, with silence after it."""
        if not self._rate:
            return np.zeros(0, dtype=np.float32)
        total = math.ceil(self._samples / self._hop_n)
        self._power = np.concatenate([self._power, np.zeros(self._win_n + self._hop_n)])
        return self._values(total)

    def _complete(self) -> int:
        """How many values the samples so far determine."""
        end = self._base + len(self._power)
        return max(self._next, (end - self._win_n - self._shift) // self._hop_n + 1)

    def _values(self, stop: int) -> np.ndarray:
        starts = np.arange(self._next, stop) * self._hop_n + self._shift - self._base
        sums = np.concatenate([[0.0], np.cumsum(self._power)])
        mean = (sums[starts + self._win_n] - sums[starts]) / self._win_n
        self._next = stop
        drop = stop * self._hop_n + self._shift - self._base
        self._power = self._power[drop:].copy()
        self._base += drop
        floor = 10.0 ** ((self.floor_db + 0.691) / 10.0)
        return (-0.691 + 10.0 * np.log10(np.maximum(mean, floor))).astype(np.float32)
