"""``rms-streaming``: RMS level per hop, computed chunk by chunk in constant memory."""

from __future__ import annotations

import numpy as np

from m0core import checks
from m0core.levels import FLOOR_DB
from m0core.model import AudioChunk

from .measure import hop_samples, power_db

_EMPTY = np.zeros(0, dtype=np.float32)


class RmsStreaming:
    """RMS level in dBFS of consecutive ``hop``-second windows.

    Samples left over at the end of a chunk wait for the next one, so the values do not
    depend on how the stream was cut into chunks.

    Parameters
    ----------
    hop:
        Window and step in seconds (default 0.1: ten values per second).
    floor_db:
        Level reported for digital silence.
    """

    version = "1"
    unit = "dBFS"

    def __init__(self, hop: float = 0.1, floor_db: float = FLOOR_DB) -> None:
        checks.hop(hop)
        checks.floor_db(floor_db)
        self.hop = float(hop)
        self.floor_db = float(floor_db)
        self._rest = _EMPTY

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """Levels of the windows this chunk completes."""
        n = hop_samples(self.hop, chunk.sample_rate)
        buf = np.concatenate([self._rest, chunk.samples]) if len(self._rest) else chunk.samples
        count = len(buf) // n
        frames = buf[: count * n].reshape(count, n)
        self._rest = buf[count * n :].copy()
        return power_db(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / n,
                        self.floor_db)

    def finish(self) -> np.ndarray:
        """The level of the last, shorter window, if samples are left."""
        rest, self._rest = self._rest, _EMPTY
        if not len(rest):
            return np.zeros(0, dtype=np.float32)
        return power_db([np.mean(np.square(rest, dtype=np.float64))], self.floor_db)
