"""Analyzer ``loudness``: BS.1770 momentary loudness, checked against ffmpeg's ebur128."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from m0core import analyze, plugins
from m0core.errors import OptionError
from m0core.media.ffmpeg import ffmpeg_exe
from m0core.testing import assert_chunking_invariant, feed

# Pink noise bed, a 1 kHz tone from 5 s to 7 s, a 0.3 s and a 50 ms white-noise burst.
_MIX = (
    "anoisesrc=color=pink:amplitude=0.05:sample_rate={r}:duration=20[bed];"
    "sine=f=1000:sample_rate={r}:duration=20,volume='0.5*between(t,5,7)':eval=frame[tone];"
    "anoisesrc=color=white:amplitude=0.6:sample_rate={r}:duration=20:seed=3,"
    "volume='between(t,12,12.3)+between(t,15,15.05)':eval=frame[burst];"
    "[bed][tone][burst]amix=inputs=3:normalize=0"
)


def ebur128_momentary(path) -> dict[int, float]:
    """ffmpeg's momentary loudness of ``path`` by the index of its 100 ms step (t·10)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af",
         "ebur128=framelog=info", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    found = re.findall(r"t:\s*([\d.]+)\s+TARGET:\S+ LUFS\s+M:\s*(-?[\d.]+)", proc.stderr)
    assert len(found) > 100, proc.stderr[-500:]
    return {round(float(t) * 10): float(m) for t, m in found}


def deviations(ours: np.ndarray, ffmpeg: dict[int, float]) -> np.ndarray:
    """Our value i against ffmpeg's at t = (i + 3)·0.1 s, where both windows are full."""
    steps = [k for k in sorted(ffmpeg) if 4 <= k and k - 3 < len(ours)]
    assert len(steps) > 150
    return np.array([ours[k - 3] - ffmpeg[k] for k in steps])


@pytest.mark.parametrize("rate", [48000, 44100])
def test_momentary_within_half_a_lu_of_ffmpeg(make_media, rate):
    mono = make_media(f"loud-mono-{rate}.wav", "-filter_complex", _MIX.format(r=rate),
                      "-ac", "1")
    ours = analyze(mono, analyzer="loudness", clips=False).scores
    diff = deviations(ours, ebur128_momentary(mono))
    assert np.abs(diff).max() <= 0.5
    assert np.abs(diff).mean() <= 0.05  # what is left is ffmpeg printing one decimal


def test_stereo_with_identical_channels_reads_3_01_db_lower(make_media):
    stereo = make_media("loud-stereo.wav", "-filter_complex", _MIX.format(r=48000), "-ac", "2")
    ours = analyze(stereo, analyzer="loudness", clips=False).scores  # the channels' mean
    diff = deviations(ours, ebur128_momentary(stereo))
    assert np.abs(diff + 10 * np.log10(2)).max() <= 0.1


def test_full_scale_sine_reads_bs1770_reference():
    # BS.1770: a 997 Hz sine at 0 dBFS in one channel measures -3.01 LKFS.
    rate = 48000
    t = np.arange(rate * 3) / rate
    values = feed(plugins.create("analyzers", "loudness"), np.sin(2 * np.pi * 997 * t), rate)
    assert len(values) == 30
    np.testing.assert_allclose(values[5:25], -3.01, atol=0.02)


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
@pytest.mark.parametrize("window", [0.4, 3.0])
def test_chunking_does_not_change_the_values(rate, window):
    rng = np.random.default_rng(5)
    samples = rng.standard_normal(int(rate * 6.37)) * np.repeat(rng.uniform(0, 0.5, 13),
                                                                 int(rate * 0.49) + 1)[:int(
                                                                     rate * 6.37)]
    values = assert_chunking_invariant("loudness", samples, rate, atol=1e-3, window=window)
    assert len(values) == int(np.ceil(len(samples) / round(0.1 * rate)))


def test_silence_sits_at_the_floor():
    values = feed(plugins.create("analyzers", "loudness", floor_db=-90), np.zeros(48000), 48000)
    assert values.tolist() == [-90.0] * 10


@pytest.mark.parametrize("params", [{"hop": 0}, {"window": 0.05}, {"floor_db": 3}])
def test_bad_parameters_are_option_errors(params):
    with pytest.raises(OptionError, match=next(iter(params))):
        plugins.create("analyzers", "loudness", **params)
