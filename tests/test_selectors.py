"""Unit tests of the selectors ``standout``, ``adaptive``, ``crest`` and ``top`` on synthetic
score curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from m0_plugins.selectors.spacing import Candidate, PeakSpacer
from m0core import plugins
from m0core.errors import OptionError
from m0core.levels import (
    SILENT_DB,
    RunningPercentile,
    audible_percentiles,
    median,
    medians,
    percentiles,
    power_mean_db,
)
from m0core.model import Highlight, Timeline

HOP = 0.1


def make(name: str, threshold: float | None = None, *, duration: float | None = None,
         min_gap: float = 15.0, **params):
    """Build selector ``name`` through the plugin registry, as the pipeline does."""
    timeline = Timeline(hop=HOP, duration=duration, min_gap=min_gap)
    return plugins.create("selectors", name, timeline=timeline, threshold=threshold, **params)


def run(selector, scores: np.ndarray, pieces: int = 1, seed: int = 0) -> list[Highlight]:
    """Feed ``scores`` in ``pieces`` random pieces (some empty), then finish."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, len(scores) + 1, size=pieces - 1))
    out: list[Highlight] = []
    for part in np.split(np.asarray(scores, dtype=np.float32), cuts):
        out += selector.feed(part)
    out += selector.finish()
    return out


def bed(seconds: float, level: float = -40.0, spread: float = 1.0, seed: int = 1) -> np.ndarray:
    """A noisy background curve at ``level`` dB."""
    rng = np.random.default_rng(seed)
    return (level + spread * rng.standard_normal(int(round(seconds / HOP)))).astype(np.float32)


def put(curve: np.ndarray, at: float, length: float, level: float) -> np.ndarray:
    """Raise ``curve`` to at least ``level`` from ``at`` for ``length`` seconds."""
    i = int(round(at / HOP))
    curve[i:i + max(1, int(round(length / HOP)))] = np.maximum(
        curve[i:i + max(1, int(round(length / HOP)))], level)
    return curve


def with_events(seconds: float = 600.0, level: float = -40.0) -> tuple[np.ndarray, list[float]]:
    """A bed with bursts of various lengths 15 dB over it; returns the curve and their onsets."""
    curve = bed(seconds, level)
    onsets = [40.0, 95.0, 160.0, 230.0, 300.0, 371.0, 450.0, 530.0]
    lengths = [4.0, 0.2, 1.0, 6.0, 0.3, 2.0, 0.2, 3.0]
    for at, length in zip(onsets, lengths, strict=True):
        put(curve, at, length, level + 15.0)
    return curve, onsets


def near(h: Highlight, onsets: list[float], slack: float = 7.0) -> bool:
    return any(t - 0.5 <= h.peak_time <= t + slack for t in onsets)


# -- registration and the common contract ---------------------------------------------------

def test_selectors_are_registered_by_the_builtin_plugin():
    table = plugins.registries()["selectors"]
    assert {"standout", "adaptive", "crest", "top"} <= set(table)
    assert {table[n].plugin for n in ("standout", "adaptive", "crest", "top")} == {"selectors"}


@pytest.mark.parametrize("name", ["standout", "adaptive", "crest", "top"])
@pytest.mark.parametrize("pieces", [2, 7, 40, 500])
def test_chunking_does_not_change_the_highlights(name, pieces):
    curve, _ = with_events()
    curve = curve + 30.0  # into the range crest's -5 dBFS rule fires on
    whole = run(make(name, min_gap=5.0), curve)
    assert whole, "the curve must give highlights for the comparison to mean something"
    for seed in range(3):
        assert run(make(name, min_gap=5.0), curve, pieces, seed) == whole


@pytest.mark.parametrize("name", ["standout", "adaptive", "crest", "top"])
def test_highlights_are_spaced_in_time_order_with_clip_windows(name):
    curve = bed(300.0, level=-8.0, spread=4.0)
    for i, at in enumerate([20, 28, 45, 60, 66, 100, 130, 138, 200, 250]):
        put(curve, at, 0.5 + i % 3, 10.0 + i)  # some closer than min_gap
    timeline = Timeline(hop=HOP, duration=300.0, pre=5.0, post=3.0, min_gap=12.0)
    selector = plugins.create("selectors", name, timeline=timeline, threshold=None,
                              **({"count": 100} if name == "top" else {}))
    out = run(selector, curve, pieces=13)
    assert len(out) >= 3
    peaks = [h.peak_time for h in out]
    assert peaks == sorted(peaks)
    assert min(np.diff(peaks)) >= 12.0 - 1e-6
    for h in out:
        assert (h.start, h.end) == timeline.window(h.peak_time)
        assert h.index == 0
        i = int(round(h.peak_time / HOP - 0.5))
        assert h.peak_db == pytest.approx(float(curve[i]))
        assert math.isfinite(h.score)


@pytest.mark.parametrize("name", ["standout", "adaptive", "crest", "top"])
@pytest.mark.parametrize("level", [-100.0, -np.inf])
def test_silence_gives_nothing(name, level):
    assert run(make(name), np.full(3000, level, dtype=np.float32), pieces=5) == []


@pytest.mark.parametrize("name", ["standout", "adaptive", "crest", "top"])
def test_empty_stream_gives_nothing(name):
    selector = make(name)
    assert selector.feed(np.zeros(0, dtype=np.float32)) == []
    assert selector.finish() == []


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("adaptive", {"threshold": float("nan")}),
        ("adaptive", {"margin_db": -1.0}),
        ("adaptive", {"margin_db": 0.0}),
        ("adaptive", {"window": 0.0}),
        ("adaptive", {"window": float("inf")}),
        ("adaptive", {"percentile": 120.0}),
        ("adaptive", {"smooth": -0.1}),
        ("adaptive", {"join": float("nan")}),
        ("adaptive", {"spread": -1.0}),
        ("adaptive", {"floor_db": "loud"}),
        ("adaptive", {"no_such_option": 1}),
        ("standout", {"sensitivity": 1.5}),
        ("standout", {"sensitivity": -0.1}),
        ("standout", {"margin_db": 0.0}),
        ("standout", {"window": 0.0}),
        ("standout", {"steady": -1.0}),
        ("standout", {"side": 0.0}),
        ("standout", {"busy": 1.5}),
        ("standout", {"join": float("nan")}),
        ("standout", {"floor_db": "loud"}),
        ("standout", {"window": 1e300}),     # not numpy's "Maximum allowed size exceeded"
        ("standout", {"window": 3601.0}),
        ("standout", {"heard_db": 0.0}),
        ("standout", {"heard_db": "talk"}),
        ("standout", {"talk": 0}),
        ("standout", {"talk": 2.5}),
        ("standout", {"talk_db": 0.0}),
        ("standout", {"faint_db": 0.0}),
        ("standout", {"faint_hold": -1.0}),
        ("standout", {"faint_chance": 1.5}),
        ("standout", {"near_db": -1.0}),
        ("standout", {"near_chance": 1.5}),
        ("crest", {"threshold": float("inf")}),
        ("crest", {"spike_db": -3.0}),
        ("crest", {"history": 0.0}),
        ("crest", {"sustain_count": 6}),
        ("crest", {"sustain_window": 2.5}),
        ("top", {"count": 0}),
        ("top", {"count": -3}),
        ("top", {"count": 2.5}),
        ("top", {"count": float("nan")}),
        ("top", {"threshold": float("nan")}),
    ],
)
def test_bad_parameters_are_option_errors(name, params):
    threshold = params.pop("threshold", None)
    with pytest.raises(OptionError):
        make(name, threshold, **params)


@pytest.mark.parametrize("name", ["standout", "adaptive", "crest", "top"])
@pytest.mark.parametrize("timeline", [Timeline(hop=0.0), Timeline(hop=float("nan")),
                                      Timeline(hop=0.1, min_gap=-1.0)])
def test_bad_timeline_is_an_option_error(name, timeline):
    with pytest.raises(OptionError):
        plugins.create("selectors", name, timeline=timeline, threshold=None)


# -- the shared peak spacing ----------------------------------------------------------------

def spaced(times_scores: list[tuple[float, float]], min_gap: float = 10.0) -> list[float]:
    spacer = PeakSpacer(Timeline(hop=HOP, min_gap=min_gap))
    out: list[Highlight] = []
    for t, s in times_scores:
        out += spacer.push(Candidate(t, -10.0, s, "x"))
    return [h.peak_time for h in out + spacer.finish()]


def test_spacing_keeps_the_best_of_a_cluster():
    assert spaced([(0, 1), (4, 3), (8, 2), (30, 1), (35, 1)]) == [4, 30]


def test_spacing_follows_a_rising_chain_and_ties_keep_the_earlier():
    assert spaced([(0, 1), (9, 2), (18, 3), (40, 5), (45, 5)]) == [18, 40]


def test_spacing_keeps_exactly_min_gap_apart():
    assert spaced([(0, 1), (10, 1), (20, 1)]) == [0, 10, 20]
    assert spaced([(0, 1), (1.5 + 8.5 - 1e-3, 1)]) == [0]


def test_spacing_is_final_once_min_gap_has_passed():
    spacer = PeakSpacer(Timeline(hop=HOP, min_gap=10.0))
    assert spacer.push(Candidate(5.0, -3.0, 2.0, "x")) == []
    assert spacer.advance(14.9) == []
    (h,) = spacer.advance(15.0)
    assert (h.peak_time, h.peak_db, h.score, h.kind) == (5.0, -3.0, 2.0, "x")
    assert spacer.finish() == []
    with pytest.raises(ValueError):
        spacer.push(Candidate(4.0, 0.0, 1.0, "x"))


# -- crest ------------------------------------------------------------------------------------

def crest_kinds(curve: np.ndarray, threshold: float | None = None) -> list[tuple[float, str]]:
    """(peak second, kind) of every crest candidate (min_gap 0 keeps them all)."""
    out = run(make("crest", threshold, min_gap=0.0), curve, pieces=4)
    return [(math.floor(h.peak_time), h.kind) for h in out]


def seconds(*levels_and_lengths: tuple[float, int]) -> np.ndarray:
    """A curve of whole seconds: ``(level, how many seconds)`` in order."""
    return np.concatenate([np.full(n * 10, lvl, dtype=np.float32)
                           for lvl, n in levels_and_lengths])


def test_crest_spike_is_threshold_plus_3_db():
    assert crest_kinds(seconds((-40, 20), (-2, 1), (-40, 20))) == [(20, "spike")]
    assert crest_kinds(seconds((-40, 20), (-2.2, 1), (-40, 20))) == [(20, "dynamic")]


def test_crest_dynamic_is_6_db_over_the_previous_10_seconds():
    assert crest_kinds(seconds((-11, 20), (-4.9, 1), (-30, 20))) == [(20, "dynamic")]
    assert crest_kinds(seconds((-10.8, 20), (-4.9, 1), (-30, 20))) == []


def test_crest_sustained_is_3_of_the_last_5_seconds():
    # -4 is over the threshold but neither a spike nor 6 dB over its past; second 27 has
    # 3 loud seconds of its last 5 but is not loud itself.
    kinds = crest_kinds(seconds((-8, 20), (-4, 1), (-8, 1), (-4, 1), (-8, 1), (-4, 3), (-8, 9)))
    assert kinds == [(24, "sustained"), (25, "sustained"), (26, "sustained")]


def test_crest_default_threshold_is_minus_5_and_scores_are_db_over_it():
    curve = seconds((-40, 20), (-1, 1), (-40, 20))
    (h,) = run(make("crest"), curve)
    assert h.score == pytest.approx(4.0, abs=1e-4) and h.peak_db == pytest.approx(-1.0)
    (h,) = run(make("crest", -20.0), curve)
    assert h.score == pytest.approx(19.0, abs=1e-4) and h.kind == "spike"
    assert run(make("crest", 0.0), curve) == []


def test_crest_level_is_the_power_mean_of_the_second():
    one_loud_value = seconds((-60, 30))
    one_loud_value[205] = 0.0  # second 20: power mean = 0 dB - 10 dB = -10 dB
    assert crest_kinds(one_loud_value, threshold=-10.5) == [(20, "dynamic")]
    assert crest_kinds(one_loud_value, threshold=-9.5) == []


# -- adaptive ---------------------------------------------------------------------------------

def test_adaptive_finds_each_burst_once_short_spikes_included():
    curve, onsets = with_events()
    out = run(make("adaptive", min_gap=1.0), curve, pieces=9)
    assert len(out) == len(onsets)
    for h, t in zip(out, onsets, strict=True):
        assert t <= h.peak_time <= t + 6.1
        assert h.kind == "burst"
        assert 12.0 < h.score < 18.0  # 15 dB over a bed whose spread is 1 dB


def test_adaptive_is_relative_to_the_background():
    curve, onsets = with_events()
    reference = run(make("adaptive"), curve)
    assert len(reference) == len(onsets)
    for shift in (-18.0, 25.0):
        shifted = run(make("adaptive"), curve + np.float32(shift))
        assert [h.peak_time for h in shifted] == [h.peak_time for h in reference]
        assert [h.score for h in shifted] == pytest.approx([h.score for h in reference], abs=1e-3)


def test_adaptive_ignores_a_constantly_loud_or_slowly_drifting_curve():
    assert run(make("adaptive"), np.full(6000, -3.0, dtype=np.float32), pieces=3) == []
    drift = bed(1200.0, -40.0, spread=1.0) + np.linspace(0, 25, 12000, dtype=np.float32)
    assert run(make("adaptive"), drift, pieces=3) == []
    wobble = bed(1200.0, -30.0, spread=1.0)
    wobble += (4 * np.sin(np.arange(12000) * 2 * np.pi / 70)).astype(np.float32)
    assert run(make("adaptive"), wobble, pieces=3) == []


def test_adaptive_margin_grows_with_a_wide_background():
    _, onsets = with_events()
    busy = bed(600.0, -40.0, spread=3.0)  # 0.1 s values spread like a lively game mix
    for at in onsets:
        put(busy, at, 2.0, -20.0)
    fixed = run(make("adaptive", spread=0.0), busy)  # a fixed 5 dB margin fires on noise
    default = run(make("adaptive"), busy)
    for out in (fixed, default):
        assert sum(near(h, onsets) for h in out) == len(onsets)
    assert len(fixed) > 2 * len(onsets)
    assert len(default) == len(onsets)


def test_adaptive_silence_in_the_window_is_no_background():
    """A track that starts late or a gap filled with silence (a stream that reconnected) does
    not hide the moments near it, and silence stays no moment."""
    curve = bed(120.0, -40.0)
    curve[:80] = -200.0  # 8 s before the audio track starts
    curve[600:660] = -200.0  # a 6 s gap
    for at in (15.0, 70.0):
        put(curve, at, 0.4, -20.0)
    out = run(make("adaptive"), curve, pieces=4)
    assert [round(h.peak_time) for h in out] == [15, 70]


def test_adaptive_absolute_floor():
    curve, onsets = with_events(level=-85.0)  # bursts at -70: hiss, under the -60 floor
    assert run(make("adaptive"), curve) == []
    assert len(run(make("adaptive", -75.0), curve)) == len(onsets)
    assert len(run(make("adaptive", floor_db=-75.0), curve)) == len(onsets)
    loud, onsets = with_events(level=-30.0)  # bursts at -15
    assert run(make("adaptive", -10.0), loud) == []


def test_adaptive_background_is_the_percentile_of_each_seconds_window():
    """The blocked percentile (one call per block of seconds) is the per-second definition."""
    from m0_plugins.selectors.adaptive import Adaptive, threshold_line

    curve, _ = with_events(300.0)
    timeline = Timeline(hop=HOP, duration=len(curve) * HOP)
    background, limit = threshold_line(curve, timeline)
    sel = Adaptive(timeline)
    sel.feed(curve)
    sel.finish()
    smooth, size, half = sel._smooth.values, sel._size, sel._half  # nothing trimmed yet
    assert len(smooth) == len(curve)
    assert len(background) == len(curve) // size
    for k in range(len(background)):
        window = smooth[max(0, k - half) * size:(k + half + 1) * size]
        p25, p10, p50 = np.percentile(window, [25.0, 10.0, 50.0])
        assert background[k] == p25
        assert limit[k] == max(p25 + max(5.0, 4.0 * (p50 - p10)), -60.0)


def test_adaptive_is_progressive_with_bounded_delay():
    curve, onsets = with_events(1200.0)
    selector = make("adaptive")  # window 30 s, join 1 s, min_gap 15 s
    fed, lags = 0, []
    for part in np.split(curve, np.arange(10, len(curve), 10)):  # one second at a time
        fed += len(part)
        lags += [fed * HOP - h.peak_time for h in selector.feed(part)]
    assert len(lags) == len(onsets)  # all final before the end of the stream
    assert max(lags) <= 30.0 + 1.0 + 15.0 + 2.0
    assert selector.finish() == []


# -- top ----------------------------------------------------------------------------------------

def test_top_picks_the_best_spaced_peaks_in_time_order():
    curve = bed(600.0, -40.0, spread=0.5)
    heights = {50.0: -20.0, 58.0: -18.0, 150.0: -25.0, 300.0: -10.0, 420.0: -30.0, 500.0: -22.0}
    for at, level in heights.items():
        put(curve, at, 0.1, level)
    out = run(make("top", count=3, min_gap=15.0), curve, pieces=6)
    assert [round(h.peak_time, 2) for h in out] == [58.05, 300.05, 500.05]
    median = float(np.median(curve))
    assert [h.score for h in out] == pytest.approx([-18 - median, -10 - median, -22 - median])
    assert {h.kind for h in out} == {"top"}
    assert len(run(make("top", count=100), curve)) > 6  # fewer wanted than found


def test_top_says_why_in_words_also_for_one():
    """``--selector top --max-clips 1`` said "one of the 1 best"."""
    curve = bed(300.0, -40.0, spread=0.5)
    put(curve, 100.0, 0.1, -20.0)
    put(curve, 200.0, 0.1, -25.0)
    (one,) = run(make("top", count=1), curve)
    assert one.reason == "the best: +20 dB over the median level"
    assert [h.reason.split(":")[0] for h in run(make("top", count=2), curve)] == [
        "one of the 2 best"] * 2


def test_top_respects_count_spacing_and_threshold():
    curve = bed(900.0, -30.0, spread=3.0)
    out = run(make("top", count=7, min_gap=20.0), curve)
    assert len(out) == 7
    assert min(np.diff([h.peak_time for h in out])) >= 20.0 - 1e-6
    assert all(h.peak_db >= -25.0 for h in run(make("top", -25.0, count=50), curve))
    assert run(make("top", 0.0), curve) == []
    assert run(make("top"), np.full(600, -12.0, dtype=np.float32)) == []  # nothing stands out


def test_a_running_percentile_is_the_nearest_rank_s_to_its_step_without_digital_silence():
    rng = np.random.default_rng(3)
    ceiling = RunningPercentile(99.9)
    assert ceiling.value() is None
    seen = []
    for _ in range(20):
        part = rng.normal(-30.0, 6.0, int(rng.integers(0, 700)))
        part[rng.random(len(part)) < 0.1] = -200.0  # digital silence, left out
        ceiling.add(part)
        seen.append(part[part >= SILENT_DB])
        # the nearest rank's value, to the top of its 0.1-dB bin
        want = np.percentile(np.concatenate(seen), 99.9, method="inverted_cdf")
        assert want <= ceiling.value() <= want + 0.1 + 1e-9, (ceiling.value(), want)
    assert ceiling.count == sum(len(p) for p in seen)
    loud = RunningPercentile(50.0)
    loud.add(np.array([25.0, 30.0, -99.5]))  # over its top: the last bin
    assert loud.value() == pytest.approx(20.0, abs=0.11)


def test_the_selectors_percentiles_and_medians_are_numpy_s_to_the_bit():
    # the selectors' fast percentiles and medians must give numpy's exact numbers, or the
    # highlights would move with the speed-up
    rng = np.random.default_rng(5)
    for i in range(3000):
        n, rows = int(rng.integers(1, 1500)), int(rng.integers(1, 4))
        values = rng.normal(-40.0, 8.0, (rows, n))
        if i % 3 == 0:
            values = np.round(values, 1)  # ties
        q = list(rng.choice([0.0, 10.0, 50.0, 62.5, 90.0, 99.0, 99.9, 100.0],
                            size=int(rng.integers(1, 4))))
        assert np.array_equal(percentiles(values, q), np.percentile(values, q, axis=-1))
        assert median(values[0]) == np.median(values[0])
        assert power_mean_db(values[0]) == 10.0 * np.log10(np.mean(10.0 ** (values[0] / 10.0)))
        # the check's per-band medians: frames x bands, of decoded spectra (float32) too
        frames = values.T[:, :int(rng.integers(1, 4))].astype([np.float32, np.float64][i % 2])
        got, want = medians(frames), np.median(frames, axis=0)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    for shape in ((200, 160), (30, 600), (20, 600), (1, 257)):  # sorted, or partitioned
        values = np.round(rng.normal(-40.0, 8.0, shape), 1)
        q = [10.0, 80.0, 90.0]
        assert np.array_equal(percentiles(values, q), np.percentile(values, q, axis=-1))
    # digital silence in a row less than half silent is left out, as nanpercentile does
    row = rng.normal(-30.0, 5.0, (2, 400))
    row[0, :50] = -200.0
    want = np.nanpercentile(np.where(row[0] < SILENT_DB, np.nan, row[0]), [10.0, 90.0])
    got = audible_percentiles(row, [10.0, 90.0])
    assert np.array_equal(got[:, 0], want)
    assert np.array_equal(got[:, 1], np.percentile(row[1], [10.0, 90.0]))


# -- standout -------------------------------------------------------------------------------

def test_standout_finds_held_rises_on_moving_beds_but_not_short_bangs():
    rng = np.random.default_rng(3)
    # A talk-like bed: levels jump between phrases (-30 dB) and pauses (-45 dB) every ~0.5 s.
    curve = np.where(rng.random(6000) < 0.7, -30.0, -45.0) + rng.normal(0, 2, 6000)
    for at in (100.0, 300.0, 500.0):
        put(curve, at, 3.0, -18.0)          # a reaction: 12 dB over the talk for 3 s
    for at in (200.0, 400.0):
        put(curve, at, 0.2, -14.0)          # a door slam: 16 dB over it for 0.2 s
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=9)
    assert [round(h.peak_time) for h in found if not near(h, [100.0, 300.0, 500.0])] == []
    assert all(any(near(h, [at]) for h in found) for at in (100.0, 300.0, 500.0))
    assert {h.kind for h in found} == {"held"}
    assert all(h.reason.startswith("held: +") and "over the bed around it" in h.reason
               for h in found)


def test_standout_a_held_moment_must_stay_far_or_long_over_the_margin():
    # Music moving around -30 dB: rises of 1.5 s just over the 10 dB margin (0.1-0.3 dB·s
    # over it) are a swell or an effect's tail; as long and 13 dB over (about 4 dB·s), or
    # 0.5 s 14 dB over (about 2 dB·s), a reaction.
    rng = np.random.default_rng(9)
    curve = -30.0 + rng.normal(0, 2, 6000)
    for at in (100.0, 250.0, 400.0):
        put(curve, at, 1.5, -19.3)
    put(curve, 180.0, 1.5, -17.0)
    put(curve, 330.0, 0.5, -16.0)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=5)
    assert [round(h.peak_time) for h in found] == [180, 330]
    assert [h.kind for h in found] == ["held", "held"]
    assert found[0].score > found[1].score  # ranked by dB·s over the margin


def test_standout_lines_of_one_reaction_are_one_moment_unless_a_pause_parts_them():
    # Three shouted lines (0.5 s, 14 dB over a bed moving around -30 dB) 1.4 s apart: each
    # alone has the others in the bed around it; joined over the bed between them they are
    # one moment. The same lines parted by room tone (-75 dB) are not joined.
    def reaction(gap_level: float | None) -> np.ndarray:
        curve = -30.0 + np.random.default_rng(10).normal(0, 2, 6000)
        for at in (150.0, 400.0):
            for k in range(3):
                put(curve, at + 1.9 * k, 0.5, -16.5)
                if gap_level is not None and k < 2:
                    i = int(round((at + 1.9 * k + 0.5) / HOP))
                    curve[i:i + 14] = gap_level
        return curve.astype(np.float32)

    found = run(make("standout", duration=600.0), reaction(None), pieces=5)
    assert [(round(h.peak_time), h.kind) for h in found] == [(150, "held"), (400, "held")]
    assert found[0].reason.endswith("for 1.5 s")
    assert run(make("standout", duration=600.0, bridge=1.0), reaction(None)) == []
    assert run(make("standout", duration=600.0), reaction(-75.0), pieces=5) == []


def test_standout_after_a_long_pause_talk_is_not_a_moment_a_shout_is():
    rng = np.random.default_rng(7)
    # Sparse talk: 2 s lines at -30 dB between 3-8 s pauses of room tone (-75 dB).
    curve = np.full(6000, -75.0) + rng.normal(0, 1, 6000)
    t = 5.0
    while t < 590.0:
        put(curve, t, 2.0, -30.0)
        t += 2.0 + rng.uniform(3.0, 8.0)
    put(curve, 300.0, 3.0, -18.0)  # a shout 12 dB over the talk
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=7)
    assert [h for h in found if not near(h, [300.0])] == []
    assert any(near(h, [300.0]) for h in found)


def test_standout_in_sparse_talk_a_sound_as_loud_as_the_talk_is_not_a_moment_a_shout_is():
    """Between games someone says a word now and then (0.5 s at -40 … -32 dB, every 2-3 s)
    over room tone: the seconds around a sound there are mostly a pause, so it is judged
    against the talk as heard (its words without the pauses, about -35 dB) less 5 dB — not
    against the loud part of seconds that are mostly pause (their 90th percentile falls among
    the quieter words: a game's sound as loud as the loudest words was +11 dB over it less
    6 dB, a moment). A sound at -32 dB for 1.5 s is not a moment; a shout at -22 dB is."""
    rng = np.random.default_rng(13)
    curve = -80.0 + rng.normal(0, 1, 6000)  # room tone
    t = 3.0
    while t < 595.0:
        put(curve, t, 0.5, rng.uniform(-40.0, -32.0))
        t += rng.uniform(2.0, 3.0)
    for at, level in ((200.0, -32.0), (400.0, -22.0)):
        i = int(round(at / HOP))
        curve[i - 20:i + 35] = -80.0 + rng.normal(0, 1, 55)  # no word just before or after
        put(curve, at, 1.5, level)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=6)
    assert [round(h.peak_time) for h in found] == [400]


def test_standout_a_word_now_and_then_over_a_silent_room_is_not_a_moment_a_shout_is():
    """Someone silent but for a word now and then (0.4 s at -40 … -32 dB, every 4-12 s) over
    room tone (-80 dB): most of the 40 s around a word is the room, so its loud part (the
    90th percentile) was the room too, the seconds around a word did not count as a pause,
    and every word stood 40 dB over them: a moment. Against the words as heard (within 25 dB
    of the 99th percentile) they are the bed; a shout at -22 dB is still a moment."""
    rng = np.random.default_rng(14)
    curve = -80.0 + rng.normal(0, 1, 6000)
    t = 3.0
    while t < 595.0:
        if not 290.0 <= t < 306.0:
            put(curve, t, 0.4, rng.uniform(-40.0, -32.0))
        t += rng.uniform(4.0, 12.0)
    put(curve, 300.0, 2.0, -22.0)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=6)
    assert [round(h.peak_time) for h in found] == [300]


def test_standout_a_short_burst_a_little_under_8_db_over_a_steady_bed_is_a_moment():
    """Bursts of 0.3 s 7.9 dB over a steady noise bed: a burst counts from 6 dB over the bed
    around it (it was 8 dB, and held candidates to that too: held-out noise-bed recordings
    lost spikes and short cheers just over 8 dB as mixed, under it as measured)."""
    curve = bed(600.0, -40.0, 1.0)
    for at in (100.0, 300.0, 500.0):
        put(curve, at, 0.3, -40.0 + 7.9)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=3)
    assert [round(h.peak_time) for h in found] == [100, 300, 500]
    assert all(h.reason.startswith("burst") for h in found)


def test_standout_a_bang_spread_over_two_values_over_a_steady_bed_is_a_moment():
    """A bang of a fifth of a second falls across two score values, each of which averages
    it with the bed: 7 dB and 5 dB over a steady bed where the bang is 8 dB over it. On a
    steady bed a candidate forms at ``burst_db`` (6 dB) over the running level, not at
    ``rise_db`` (8 dB: no candidate, so these were missed), and is a burst; the bed's own
    wobbles are not."""
    curve = bed(600.0, -40.0, 1.0)
    for at in (100.0, 300.0, 500.0):
        put(curve, at, 0.1, -33.0)
        put(curve, at + 0.1, 0.1, -35.0)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=3)
    assert [round(h.peak_time) for h in found] == [100, 300, 500]
    assert all(h.reason.startswith("burst") for h in found)


def test_standout_a_cheer_with_a_tail_over_a_steady_bed_is_a_burst():
    """Cheers of 3 s 9.5 dB over a steady noise bed, each fading out over a second: whether
    the bed is steady is judged without the second next to the cheer, so its tail does not
    make the bed look unsteady (one of them was neither held nor a burst)."""
    curve = bed(600.0, -40.0, 1.0)
    for at in (100.0, 300.0, 500.0):
        put(curve, at, 3.0, -30.5)
        put(curve, at + 3.0, 0.5, -34.5)  # its tail
        put(curve, at + 3.5, 0.5, -37.5)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=3)
    assert [round(h.peak_time) for h in found] == [100, 300, 500]
    assert all(h.reason.startswith("burst") for h in found)


def test_standout_two_loud_moments_close_together_over_a_silent_room_are_both_moments():
    """Two shouts 18 s apart over room tone, each a few lines: each is in the 40 s around the
    other, and as loud, but one loud moment is not talk, so neither is judged against the
    other (each hid the other when the talk as heard was used wherever the seconds around
    were quiet)."""
    rng = np.random.default_rng(15)
    curve = -80.0 + rng.normal(0, 1, 6000)  # room tone
    for at in (200.0, 218.0):
        for line in (0.0, 1.2, 2.4):  # lines of one shout, 0.2 s apart
            put(curve, at + line, 1.0, -20.0)
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=6)
    assert [round(h.peak_time) for h in found] == [200, 218]


def test_standout_talk_resuming_after_a_long_pause_at_the_end_is_not_a_moment():
    """Talk that resumes after a pause of 19 s is the bed, not a moment — in the middle, where
    the talk after it shows the loud part of the seconds around, and at the very end, where
    nothing comes after it: there the seconds before it reach further back instead (the loud
    part of only the 20 s before was the pause, and the line was a moment +50 dB over it)."""
    rng = np.random.default_rng(11)
    curve = -80.0 + rng.normal(0, 1, 6000)  # room tone
    lines = [at for at in np.arange(0.0, 577.0, 6.0) if not 281.0 <= at < 300.0]
    for at in lines + [300.0, 597.0]:
        put(curve, float(at), 2.0 if at < 597.0 else 3.0, -30.0)  # talk, now and then
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=6)
    assert found == []


def test_standout_at_the_start_the_bed_around_reads_as_far_after_it():
    """At the recording's start nothing comes before a moment: its bed is the 8 s after it
    (4 s a side, both after), not only the 4 s after it. Talk at -24 dB followed by 4 s of a
    quiet -38 dB and then the bed at -30 dB is not 14 dB over its bed but about 8: no moment;
    a shout at -12 dB there still is one."""
    rng = np.random.default_rng(12)
    for level, moment in ((-24.0, False), (-12.0, True)):
        curve = -30.0 + rng.normal(0, 1, 3000)  # the bed, from 6 s on
        curve[:60] = -38.0 + rng.normal(0, 1, 60)  # quiet until 6 s
        put(curve, 0.5, 1.5, level)
        found = run(make("standout", duration=300.0), curve.astype(np.float32), pieces=4)
        assert [near(h, [0.5]) for h in found] == ([True] if moment else [])


def test_standout_finds_a_reaction_in_a_quiet_passage_of_the_music():
    rng = np.random.default_rng(8)
    curve = -30.0 + rng.normal(0, 3, 3000)          # music at -30 dB
    curve[1200:1400] = -40.0 + rng.normal(0, 3, 200)  # a 20 s quiet passage at -40 dB
    put(curve, 128.0, 3.0, -28.0)                     # a reaction 12 dB over the passage
    found = run(make("standout", duration=300.0), curve.astype(np.float32), pieces=5)
    assert [round(h.peak_time) for h in found] == [round(h.peak_time) for h in found
                                                   if near(h, [128.0])]
    assert any(near(h, [128.0]) for h in found)


def test_standout_bursts_count_on_a_steady_bed_unless_they_are_frequent():
    # A steady noise bed (-50 dB, +-0.5 dB): a few rare bangs are moments ...
    rng = np.random.default_rng(5)
    curve = -50.0 + rng.normal(0, 0.5, 9000)
    rare = (100.0, 300.0, 500.0)
    for at in rare:
        put(curve, at, 0.2, -38.0)
    # ... but where a bang comes every 10 s (the game's own sounds), none is.
    for at in np.arange(600.0, 860.0, 10.0):
        put(curve, float(at), 0.2, -38.0)
    found = run(make("standout", duration=900.0), curve.astype(np.float32), pieces=11)
    assert all(any(near(h, [at]) for h in found) for at in rare)
    assert [h for h in found if h.peak_time > 560.0] == []
    assert {h.kind for h in found} == {"burst"}
    assert all(h.reason.startswith("burst: +") and "steady bed" in h.reason for h in found)


def test_standout_a_bang_among_the_games_smaller_sounds_is_not_a_moment():
    """The game's own sounds, a few dB under what makes a candidate, make a stretch busy too:
    a bang among them is one of them (an effect on a stream's noise bed), while the same bang
    on the same bed with nothing around it is a moment."""
    rng = np.random.default_rng(9)
    curve = -50.0 + rng.normal(0, 0.5, 6000)
    put(curve, 100.0, 0.2, -38.0)  # a rare bang, +12 dB
    for at in np.arange(380.0, 560.0, 12.0):
        put(curve, float(at), 0.4, -43.0)  # the game's sounds, +7 dB: no candidates
    put(curve, 470.0, 0.2, -38.0)  # the same bang among them
    found = run(make("standout", duration=600.0), curve.astype(np.float32), pieces=5)
    assert [round(h.peak_time) for h in found] == [100]


def test_standout_reads_a_bursts_busy_window_in_full_near_the_start_and_end():
    # Bangs on a steady bed: one with three others within 45 s on either side is the game's
    # sound. Near the recording's start or end, where one side is cut, as many more seconds
    # are read on the other: the first two and the last two bangs here each have three others
    # in the first or last 90 s, as busy as a bang mid-recording with three around it. (Counted
    # in proportion to the part of the window that is there, all four had been moments: 6 s
    # before the end, one other in the 45 s before it against the 1.7 asked.)
    rng = np.random.default_rng(6)
    curve = -50.0 + rng.normal(0, 0.5, 4000)
    bangs = (6.0, 36.0, 66.0, 86.0, 200.0, 314.0, 334.0, 364.0, 394.0)
    for at in bangs:
        put(curve, at, 0.2, -38.0)
    found = run(make("standout", duration=400.0), curve.astype(np.float32), pieces=4)
    assert [round(h.peak_time) for h in found] == [66, 86, 200, 314, 334]
    assert {h.kind for h in found} == {"burst"}


def test_standout_a_higher_sensitivity_keeps_a_burst_small_bumps_around_it():
    """Whether a stretch is busy does not move with the sensitivity: bumps that become
    candidates only at a higher one no longer count as the game's sound against a bang they
    did not count against at the default (the bang was lost from 0.7 on)."""
    rng = np.random.default_rng(6)
    curve = -50.0 + rng.normal(0, 0.3, 3000)
    put(curve, 150.0, 0.3, -40.0)  # a bang, +10 dB
    for at in (110.0, 125.0, 140.0, 160.0, 175.0, 190.0):
        put(curve, at, 0.3, -44.2)  # bumps of +5.8 dB: candidates only at a higher sensitivity
    peaks = {s: [round(h.peak_time) for h in run(make("standout", duration=300.0,
                                                       sensitivity=s), curve, pieces=3)]
             for s in (0.5, 0.8)}
    assert peaks[0.5] == [150]
    assert 150 in peaks[0.8]


def test_standout_takes_a_step_up_for_a_new_scene_not_a_moment():
    curve = np.concatenate([bed(120.0, -45.0), bed(120.0, -25.0, seed=2)])
    assert run(make("standout"), curve, pieces=4) == []


def test_standout_sensitivity_means_fewer_or_more_in_db_on_any_level():
    counts = []
    for shift in (-15.0, 15.0):  # the same recording, quiet and loud (above the floor)
        curve, onsets = with_events(600.0, -40.0 + shift)
        for i, at in enumerate((60.0, 130.0, 200.0, 270.0, 340.0, 410.0)):
            put(curve, at, 3.0, -40.0 + shift + 4.0 + i)  # held rises of 4 … 9 dB
        counts.append([len(run(make("standout", sensitivity=s), curve))
                       for s in (0.0, 0.5, 1.0)])
    assert counts[0] == counts[1]  # a sensitivity means the same on quiet and loud
    few, default, many = counts[0]
    assert few < default < many


def test_standout_line_and_bounded_memory():
    curve, _ = with_events(3600.0)
    selector = make("standout", duration=3600.0)
    for part in np.split(curve, np.arange(50, len(curve), 50)):
        selector.feed(part)
        assert len(selector._raw.values) < 2 * 4096 + 400  # a sliding window, not the whole curve
    selector.finish()
    line = selector.line()
    assert line.step == pytest.approx(1.0) and len(line.values) == 3600
    assert np.median(line.values) == pytest.approx(-40.0 + 10.0, abs=1.5)  # level + margin


def test_a_track_keeps_a_curve_by_absolute_index_and_lets_the_oldest_go_in_slices():
    from m0_plugins.selectors.track import FORGET_FROM, Track

    track, curve = Track(), np.arange(3 * FORGET_FROM, dtype=np.float64)
    for part in np.split(curve, [10, 5000, 9000]):
        track.add(part.astype(np.float32))
    assert track.values.dtype == np.float64 and (track.start, track.end) == (0, len(curve))
    track.forget(FORGET_FROM)                 # not more than FORGET_FROM: kept
    assert track.start == 0 and not track.forgets(FORGET_FROM)
    track.forget(FORGET_FROM + 100)
    assert (track.start, track.end) == (FORGET_FROM + 100, len(curve))
    np.testing.assert_array_equal(track.span(5000, 5010), curve[5000:5010])
    np.testing.assert_array_equal(track.span(0, FORGET_FROM + 102), curve[FORGET_FROM + 100:
                                                                          FORGET_FROM + 102])
    assert len(track.span(len(curve), len(curve) + 5)) == 0 and len(track.span(10, 5)) == 0
