"""``rms-legacy``: the seed's whole-file processor, selected by ``--no-streaming``.

It keeps the whole decoded track in memory, as the seed's ``librosa.load`` did, and measures
it with librosa in one pass at the end. Memory grows with the file's length: that is the
point of keeping it (a baseline for the streaming analyzer, and the fastest path when memory
is plentiful).
"""

from __future__ import annotations

import numpy as np

from m0core import checks
from m0core.levels import FLOOR_DB
from m0core.model import AudioChunk

from .measure import hop_samples, power_db


class RmsLegacy:
    """Same measure as ``rms-streaming`` (RMS dBFS per hop), from the whole file at once."""

    version = "1"
    unit = "dBFS"

    def __init__(self, hop: float = 0.1, floor_db: float = FLOOR_DB) -> None:
        checks.hop(hop)
        checks.floor_db(floor_db)
        self.hop = float(hop)
        self.floor_db = float(floor_db)
        self._parts: list[np.ndarray] = []
        self._rate = 0

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """Keep the samples; nothing is measured before the end."""
        self._parts.append(chunk.samples)
        self._rate = chunk.sample_rate
        return np.zeros(0, dtype=np.float32)

    def finish(self) -> np.ndarray:
        """Measure the whole track."""
        import librosa  # only this analyzer needs it; it is slow to import

        y = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)
        self._parts = []
        if not len(y):
            return np.zeros(0, dtype=np.float32)
        n = hop_samples(self.hop, self._rate)
        whole = len(y) // n * n
        power = np.zeros(0)
        if whole:
            rms = librosa.feature.rms(y=y[:whole], frame_length=n, hop_length=n, center=False)
            power = np.square(rms[0].astype(np.float64))
        if whole < len(y):
            power = np.append(power, np.mean(np.square(y[whole:], dtype=np.float64)))
        return power_db(power, self.floor_db)
