"""Sample helpers the sources share."""

from __future__ import annotations

import numpy as np


def downmix(channels_first: np.ndarray) -> np.ndarray:
    """The mean of the channels of a ``(channels, samples)`` array, as new float32 samples.

    Averaging (not ffmpeg's -3 dB-per-channel sum) keeps a level the same whatever the layout
    and never above full scale. The channels are added one by one, so a sample's value never
    depends on how the stream was cut into chunks (a matrix product's SIMD path would).
    """
    data = np.asarray(channels_first)
    if data.shape[0] == 1:
        return np.array(data[0], dtype=np.float32)
    total = data[0].astype(np.float32)
    for channel in data[1:]:
        total += channel
    total *= np.float32(1 / data.shape[0])
    return total
