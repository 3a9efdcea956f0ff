"""The measure both RMS analyzers share: mean power per hop, in dBFS."""

from __future__ import annotations

import numpy as np

from m0core.errors import OptionError


def check_params(hop: float, floor_db: float) -> None:
    """Reject a hop or floor the analyzers cannot use."""
    if not (0.01 <= float(hop) <= 10.0):
        raise OptionError(f"hop must be between 0.01 and 10 seconds, not {hop}")
    if not (-200.0 <= float(floor_db) < 0.0):
        raise OptionError(f"floor_db must be between -200 and 0, not {floor_db}")


def hop_samples(hop: float, sample_rate: int) -> int:
    """Samples per hop at ``sample_rate``."""
    return max(1, int(round(hop * sample_rate)))


def power_db(power: np.ndarray, floor_db: float) -> np.ndarray:
    """Mean power (full scale = 1.0) to dBFS, never below ``floor_db``."""
    floor = 10.0 ** (floor_db / 10.0)
    return (10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), floor))).astype(
        np.float32
    )
