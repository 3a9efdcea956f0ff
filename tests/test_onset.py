"""Analyzer ``onset``: librosa's onset strength per hop, exact across chunks."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from m0core import analyze, plugins
from m0core.dev import synth
from m0core.errors import OptionError
from m0core.testing import assert_chunking_invariant, feed


def _noise_with_clicks(rate: int = 48000, seconds: float = 7.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    samples = 0.02 * rng.standard_normal(int(rate * seconds))
    for at in (1.0, 3.0, 5.5):
        i = int(at * rate)
        samples[i:i + 2000] += 0.5 * rng.standard_normal(2000)
    return samples.astype(np.float32)


@pytest.mark.parametrize("rate", [22050, 48000])
def test_chunking_does_not_change_the_values(rate):
    assert_chunking_invariant("onset", _noise_with_clicks(rate), rate)


def test_values_are_librosa_onset_strength_of_the_whole_file():
    rate, samples = 48000, _noise_with_clicks()
    ours = feed(plugins.create("analyzers", "onset"), samples, rate, [10_000] * 30)
    step = 480  # hop / 10
    env = librosa.onset.onset_strength(y=samples, sr=rate, n_fft=2048, hop_length=step,
                                       n_mels=64, lag=1, max_size=1, center=True)
    # librosa shifts its envelope n_fft / 2 later; frame j's flux is env[j + shift]
    shift = 2048 // (2 * step)
    frames = np.concatenate([env[shift:], np.zeros(shift)])
    per_hop = frames[: len(frames) // 10 * 10].reshape(-1, 10).max(axis=1)
    np.testing.assert_allclose(ours[: len(per_hop)], 10 * np.log10(np.maximum(per_hop, 1e-3)),
                               atol=1e-3)
    assert len(ours) == 70
    # the three strongest hops are the clicks (a frame sees a click half a frame early)
    assert sorted(np.argsort(ours)[-3:].tolist()) == [9, 29, 54]


def test_adaptive_selector_finds_the_spikes(tmp_path):
    events = [synth.Event(at, 0.2, "spike", 10.0) for at in (20.0, 47.0, 71.0)]
    path = tmp_path / "spikes.flac"
    synth.write_audio(path, 90.0, events=events, seed=4)
    result = analyze(path, analyzer="onset", selector="adaptive", clips=False)
    match = synth.match_events(events, result.highlights)
    assert match.recall == 1.0 and match.precision == 1.0, result.highlights


@pytest.mark.parametrize("params", [{"n_fft": 10}, {"n_mels": 0}, {"floor_db": 1}])
def test_bad_parameters_are_option_errors(params):
    with pytest.raises(OptionError, match=next(iter(params))):
        plugins.create("analyzers", "onset", **params)
