"""The second look (m0core.judge.voiced, m0_plugins.selectors.voiced): moments offered by the
loose moments of the whole sound and of the voice's band, read in a run as the training reads
them, kept where the model hears a reaction, given in time order with the first look's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import fed as _fed
from conftest import moments_curve as _moments_curve

from m0_plugins.selectors.standout import Standout
from m0core.dev import judge_training
from m0core.errors import OptionError
from m0core.judge import check, spectra, voiced
from m0core.model import Timeline


def test_offers_join_a_moment_of_both_curves_within_two_seconds():
    whole = [(40.0, 5.0), (100.0, 3.0)]
    voice = [(41.5, 7.0), (70.0, 2.0), (102.5, 1.0)]
    assert voiced.offers(whole, voice) == [(40.0, 5.0, 7.0), (70.0, 0.0, 2.0),
                                           (100.0, 3.0, 0.0), (102.5, 0.0, 1.0)]
    assert voiced.offers([], []) == []


def test_the_voice_band_s_level_is_the_mean_power_of_its_bands_in_each_value():
    codes = np.zeros((5, spectra.BANDS), dtype=np.uint8)  # -120 dB everywhere ...
    band = np.flatnonzero(voiced._BANDS)
    codes[:4, band] = int((-60.0 - spectra.FLOOR_DB) * spectra.STEPS)  # ... -60 dB in the band
    codes[1, band] = int((-50.0 - spectra.FLOOR_DB) * spectra.STEPS)
    values = voiced.voice_values(voiced.voice_power(codes), 2)
    assert len(values) == 2                   # the fifth frame makes no whole value
    in_band = 10 * np.log10(len(band))
    assert values[0] == pytest.approx(10 * np.log10((1e-6 + 1e-5) / 2) + in_band
                                      + voiced.OFFSET_DB)
    assert values[1] == pytest.approx(-60.0 + in_band + voiced.OFFSET_DB)
    # bands out of the voice's band do not count
    codes[:, ~voiced._BANDS] = 200
    assert voiced.voice_values(voiced.voice_power(codes), 2) == pytest.approx(values)
    assert voiced.frames_per_value(0.1) == 2 and voiced.frames_per_value(0.05) == 1
    assert voiced.frames_per_value(0.125) is None and voiced.frames_per_value(0.02) is None


def test_a_peak_is_read_at_the_value_whose_centre_it_is():
    timeline = Timeline(hop=0.1)
    assert [voiced.value_of(timeline.time(i), 0.1) for i in range(100_000)] == \
        list(range(100_000))


def test_a_level_stands_by_its_loudest_second_over_the_half_minute_around_and_five_before():
    values = np.full(6000, -40.0)
    values[4000:4020] = -25.0                 # 2 s at -25 from 400 s
    values[3000] = -10.0                      # a click 100 s before
    values[3900:3950] = -100.0                # digital silence around it is left out
    over = voiced.levels(values, 4005, 0.1)
    assert over[0] == pytest.approx(15.0) and over[1] == pytest.approx(15.0)
    loudest = np.percentile(values[1005:4006], 99.9)
    assert over[2] == pytest.approx(-25.0 - loudest)
    assert over[3] == pytest.approx(loudest - np.median(values[1005:4006]))
    assert np.isnan(voiced.levels(values, 7000, 0.1)).all()  # past the end


def test_a_run_reads_each_moment_it_judges_as_the_training_reads_it(monkeypatch):
    """Fed piece by piece as a run feeds it, the second look hands its model, for each
    moment it judges (offered, and no first-look highlight within min_gap of it), what the
    training reads of that moment from the whole recording at once; and the training reads
    those moments, no others (what the first look leaves)."""
    scores, codes = _moments_curve(8, seed=8)
    scores = scores.astype(np.float32)  # as an analyzer gives them
    recording = judge_training.Recording("curve", codes, scores, 0.1, 480.0, [])
    trained = recording.voiced_rows()
    asked = []

    def heard(x):
        asked.append(np.asarray(x))
        return 0.0

    monkeypatch.setattr(voiced, "chance", heard)
    first = _fed(Standout(Timeline(hop=0.1, duration=480.0)), scores, codes)
    assert [h.peak_time for h in first] == [h.peak_time for h in recording.first_look()]
    gap = Timeline(hop=0.1).min_gap
    assert len(trained) >= 4 and len(asked) == len(trained)
    for (t, x), y in zip(trained, asked, strict=True):
        assert all(abs(t - h.peak_time) >= gap for h in first)
        assert y.shape == (voiced.SIZE,) and y == pytest.approx(x, nan_ok=True), t


def _quiet_moment() -> tuple[np.ndarray, np.ndarray]:
    """A 4-min curve over a -40 dBFS bed that moves (not steady: no bursts): moments held at
    -22 dBFS for 2 s at 40 and 160 s,
    and at -32 dBFS at 100 s (under the margin: faint, which the first look keeps only on a
    sure chance)."""
    scores = np.full(2400, -40.0) + np.random.default_rng(4).normal(0, 2.0, 2400)
    for at, level in ((40, -22.0), (100, -32.0), (160, -22.0)):
        scores[at * 10:at * 10 + 20] = level
    codes = np.random.default_rng(5).integers(60, 140, (240 * spectra.FPS, spectra.BANDS),
                                              dtype=np.uint8)
    return scores, codes


@pytest.mark.parametrize("chance, kept", [(0.9, [40, 100, 160]), (0.5, [40, 160])])
def test_the_second_look_keeps_what_its_model_hears_in_time_order(monkeypatch, chance, kept):
    scores, codes = _quiet_moment()
    # the check is sure of the two loud ones, not of the faint one
    monkeypatch.setattr(check, "chance", lambda codes, first, peak, earlier:
                        0.5 if 95 < peak < 105 else 0.9)
    monkeypatch.setattr(voiced, "chance", lambda x: chance)
    timeline = Timeline(hop=0.1, duration=240.0)
    out = _fed(Standout(timeline), scores, codes)
    assert [round(h.peak_time) for h in out] == kept
    second = [h for h in out if h.kind == "voiced"]
    assert len(second) == len(kept) - 2
    for h in second:
        assert h.reason.startswith("voiced: its voice's band ")
        assert h.reason.endswith(f"its sound and level: {100 * chance:.0f} % a reaction")
        assert h.score == pytest.approx(voiced.SCORE * chance)
        assert h.score < min(g.score for g in out if g.kind != "voiced")
        assert (h.start, h.end) == timeline.window(h.peak_time)
        assert h.peak_db == pytest.approx(scores[voiced.value_of(h.peak_time, 0.1)])
    # off, without spectra, or at the lowest sensitivity (which keeps fewest): none
    assert [round(h.peak_time) for h in _fed(Standout(timeline, second_look=False),
                                             scores, codes)] == [40, 160]
    assert [round(h.peak_time) for h in _fed(Standout(timeline), scores, None)] == [40, 160]
    assert [round(h.peak_time) for h in _fed(Standout(timeline, sensitivity=0.0),
                                             scores, codes)] == [40, 160]


def test_pieces_of_any_size_give_the_same_highlights_and_none_before_settled(monkeypatch):
    scores, codes = _moments_curve(6, seed=3)
    monkeypatch.setattr(voiced, "chance", lambda x: 0.8 if x[-1] > 0 or x[-2] > 5 else 0.7)
    runs = []
    for step in (300, 77, 1000):
        chooser = Standout(Timeline(hop=0.1, duration=360.0))
        out, settled = [], float("-inf")
        for values, heard, first in spectra.pieces(len(scores), 0.1, step, codes):
            chooser.listen(heard, first)
            new = chooser.feed(scores[values])
            assert all(h.peak_time >= settled for h in new)
            settled = chooser.settled()
            out += new
        out += chooser.finish()
        assert [h.peak_time for h in out] == sorted(h.peak_time for h in out)
        runs.append([(h.peak_time, h.kind, h.score) for h in out])
    assert runs[0] == runs[1] == runs[2]
    assert any(kind == "voiced" for _, kind, _ in runs[0])


def test_second_look_is_an_on_off_option():
    with pytest.raises(OptionError, match="second_look"):
        Standout(Timeline(hop=0.1, duration=60.0), second_look="yes")


def test_the_shipped_second_look_is_the_documented_one():
    model = check.model(voiced.MODEL)
    assert model.feature.shape[0] == 10 * 300   # ten bagged models of 300 trees
    assert model.feature.shape[1] <= 15         # depth 3: at most 15 nodes
    assert model.feature.max() < voiced.SIZE == check.SIZE + 10 and model.feature.min() == -1
    assert voiced.KEEP_FROM == 0.65
    assert len(check.fingerprint(voiced.MODEL)) == 64
