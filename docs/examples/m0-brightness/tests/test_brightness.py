"""Tests for the brightness analyzer, with m0's own test helpers."""

import numpy as np
import pytest
from m0_brightness import Brightness

from m0core.testing import assert_chunking_invariant, feed


@pytest.mark.parametrize("frequency", [100, 1000, 5000])
def test_a_tone_crosses_zero_twice_per_period(frequency):
    rate = 48000
    t = np.arange(rate) / rate
    values = feed(Brightness(), np.sin(2 * np.pi * frequency * t + 0.1), rate)
    assert len(values) == 10
    np.testing.assert_allclose(values, 10 * np.log10(2 * frequency), atol=0.05)


def test_chunking_does_not_change_the_values():
    rng = np.random.default_rng(0)
    assert_chunking_invariant(Brightness, rng.standard_normal(48000 * 3 + 123), 48000)


def test_through_the_real_pipeline(m0_media, m0_analyze):
    # 3 s of a 200 Hz tone, then 3 s of white noise: noise is far brighter.
    path = m0_media(
        "tone-then-noise.wav",
        "-f", "lavfi", "-i", "sine=f=200:duration=3:sample_rate=48000",
        "-f", "lavfi", "-i", "anoisesrc=duration=3:sample_rate=48000:amplitude=0.3",
        "-filter_complex", "[0][1]concat=v=0:a=1",
    )
    result = m0_analyze(path, "brightness", selector="top")
    tone, noise = result.scores[5:25], result.scores[35:55]
    np.testing.assert_allclose(tone, 10 * np.log10(400), atol=0.1)
    assert noise.min() > tone.max() + 10
    assert result.highlights and result.highlights[0].peak_time > 3.0
