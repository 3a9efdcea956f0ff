"""The measure both RMS analyzers share: mean power per hop, in dBFS."""

from __future__ import annotations

import numpy as np


def hop_samples(hop: float, sample_rate: int) -> int:
    """Samples per hop at ``sample_rate``."""
    return max(1, int(round(hop * sample_rate)))


def power_db(power: np.ndarray, floor_db: float) -> np.ndarray:
    """Mean power (full scale = 1.0) to dBFS, never below ``floor_db``."""
    floor = 10.0 ** (floor_db / 10.0)
    return (10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), floor))).astype(
        np.float32
    )
