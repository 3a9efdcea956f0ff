"""Several analyzers as one: ``--analyzer a+b`` sums their scores per hop."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import LOUD_AT, run_m0

from m0core import plugins
from m0core.errors import OptionError
from m0core.testing import assert_chunking_invariant, feed, registered


def _signal(rate=48000, seconds=6.21):
    rng = np.random.default_rng(2)
    samples = 0.02 * rng.standard_normal(int(rate * seconds))
    samples[rate * 2:rate * 2 + 3000] += 0.4 * rng.standard_normal(3000)
    return samples.astype(np.float32)


def test_scores_are_the_per_hop_sum_of_the_parts():
    rate, samples = 48000, _signal()
    combined = assert_chunking_invariant("rms-streaming+onset", samples, rate)
    parts = [feed(plugins.create("analyzers", name), samples, rate)
             for name in ("rms-streaming", "onset")]
    assert len(combined) == len(parts[0]) == len(parts[1]) == 63
    np.testing.assert_allclose(combined, parts[0] + parts[1], atol=1e-4)


class _SlowHop:
    hop = 0.2

    def feed(self, chunk):
        return np.zeros(0)


@pytest.mark.parametrize("name, params, message", [
    ("rms-streaming+slow", {}, r"same hop \(rms-streaming 0.1 s, slow 0.2 s\)"),
    ("onset+onset", {}, "distinct names"),
    ("rms-streaming+", {}, "distinct names"),
    ("rms-streaming+nope", {}, 'unknown analyzer "nope"'),
    ("rms-streaming+onset", {"hop": 0.2}, "takes no parameters"),
])
def test_bad_combinations_are_option_errors(name, params, message):
    with registered("analyzers", "slow", _SlowHop), pytest.raises(OptionError, match=message):
        plugins.create("analyzers", name, **params)


class _Float32Hop:
    hop = np.float32(0.1)  # as read from an array

    def feed(self, chunk):
        return np.zeros(0)


def test_a_hop_given_as_float32_combines_with_the_same_hop():
    """It was 'analyzers combined with + need the same hop (rms-streaming 0.1 s, hop32
    0.1 s)': 0.1 as float32 is 0.10000000149."""
    with registered("analyzers", "hop32", _Float32Hop):
        combined = plugins.create("analyzers", "rms-streaming+hop32")
    assert combined.hop == 0.1


def test_cli_finds_the_loud_moments_with_a_combination(wav, tmp_path):
    run = run_m0("analyze", str(wav), str(tmp_path), "--analyzer", "loudness+onset",
                 "--no-clips", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["analyzer"]["name"] == "loudness+onset"
    peaks = [h["peak_time"] for h in doc["highlights"]]
    assert len(peaks) == len(LOUD_AT)
    for peak, loud in zip(peaks, LOUD_AT, strict=True):
        assert abs(peak - loud) <= 1.5
