"""RMS analyzers: the measure, chunk-boundary safety, streaming equals legacy."""

from __future__ import annotations

import numpy as np
import pytest

from m0core import plugins
from m0core.errors import OptionError
from m0core.testing import feed


def _signal(rate=48000, seconds=7.33, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(t))
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_sine_level_in_dbfs():
    rate = 48000
    t = np.arange(rate * 2) / rate
    sine = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    values = feed(plugins.create("analyzers", "rms-streaming"), sine, rate, [rate * 2])
    assert len(values) == 20
    np.testing.assert_allclose(values, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.01)


def test_silence_sits_at_the_floor():
    values = feed(plugins.create("analyzers", "rms-streaming"), np.zeros(4800 * 3), 48000, [9999])
    assert values.tolist() == [-100.0] * 3


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 192000])
def test_values_do_not_depend_on_chunking(rate):
    signal = _signal(rate)
    rng = np.random.default_rng(1)
    whole = feed(plugins.create("analyzers", "rms-streaming"), signal, rate, [len(signal)])
    sizes = rng.integers(1, rate, size=200).tolist()
    pieces = feed(plugins.create("analyzers", "rms-streaming"), signal, rate, sizes)
    np.testing.assert_allclose(pieces, whole, atol=1e-4)
    assert len(whole) == int(np.ceil(len(signal) / round(0.1 * rate)))


@pytest.mark.slow
def test_legacy_gives_the_same_values():
    signal, rate = _signal(), 48000
    streaming = feed(plugins.create("analyzers", "rms-streaming"), signal, rate, [48000] * 8)
    legacy = feed(plugins.create("analyzers", "rms-legacy"), signal, rate, [30000] * 12)
    np.testing.assert_allclose(legacy, streaming, atol=1e-3)


@pytest.mark.parametrize("name", ["rms-streaming", "rms-legacy"])
@pytest.mark.parametrize(("params", "message"), [
    ({"hop": 0}, "hop must be between 0.01 and 10"),
    ({"hop": float("nan")}, "hop must be a finite number"),
    ({"hop": "fast"}, "hop must be a number, not 'fast'"),
    ({"floor_db": 3}, "floor_db must be less than 0"),
    ({"floor_db": -300}, "floor_db must be at least -200"),
])
def test_bad_params(name, params, message):
    with pytest.raises(OptionError, match=message):
        plugins.create("analyzers", name, **params)
