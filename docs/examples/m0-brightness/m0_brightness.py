"""m0 analyzer ``brightness``: the zero-crossing rate of each hop, in dB re 1 crossing/s.

Hiss, cymbals and shouted consonants cross zero often; hum and bass rarely. A 1 kHz tone
crosses 2000 times a second: 33 dB. Silence is 0 dB.
"""

from __future__ import annotations

import numpy as np

from m0core import AudioChunk, hookimpl


class Brightness:
    """Zero crossings per second of consecutive ``hop``-second windows, in dB.

    A crossing between the last sample of one chunk and the first of the next counts in the
    hop of the later sample, so the values do not depend on how the stream is cut.
    """

    version = "1"

    def __init__(self, hop: float = 0.1) -> None:
        if not 0.01 <= float(hop) <= 10.0:
            raise ValueError(f"hop must be between 0.01 and 10 seconds, not {hop}")
        self.hop = float(hop)
        self._last: float | None = None   # the previous sample, across chunks
        self._rest = np.zeros(0, dtype=np.int8)  # crossing flags of the unfinished hop
        self._rate = 0

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """Brightness of the hops this chunk completes."""
        self._rate = chunk.sample_rate
        n = max(1, round(self.hop * chunk.sample_rate))
        x = chunk.samples
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        signs = np.signbit(np.concatenate([[x[0] if self._last is None else self._last], x]))
        self._last = float(x[-1])
        flags = np.concatenate([self._rest, (signs[1:] != signs[:-1]).astype(np.int8)])
        count = len(flags) // n
        self._rest = flags[count * n:].copy()
        return self._db(flags[:count * n].reshape(count, n).sum(axis=1), n)

    def finish(self) -> np.ndarray:
        """The last, shorter hop, if samples are left."""
        rest, self._rest = self._rest, np.zeros(0, dtype=np.int8)
        if not len(rest):
            return np.zeros(0, dtype=np.float32)
        return self._db(np.array([rest.sum()]), len(rest))

    def _db(self, crossings: np.ndarray, samples: int) -> np.ndarray:
        per_second = crossings * self._rate / samples
        return (10.0 * np.log10(np.maximum(per_second, 1.0))).astype(np.float32)


@hookimpl
def m0_register_analyzers(register):
    register("brightness", Brightness)
