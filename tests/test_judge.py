"""The check of what a moment sounds like (m0core.judge.check): the model walked from plain
arrays, the default selector that drops what the model says is no reaction, and the spectra
that reach it by every route (worker processes, m0's own process, the cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import fed as _fed
from conftest import moments_curve as _moments_curve

import m0core
from m0_plugins.selectors.standout import Standout
from m0core import testing
from m0core.dev import judge_training
from m0core.judge import check, spectra, voiced
from m0core.model import Timeline
from m0core.pipeline import cache


def test_a_segment_of_audio_under_the_lowest_rate_has_no_spectra(make_media):
    path = make_media("judge_16k.wav", "-f", "lavfi", "-i", "sine=duration=5:sample_rate=16000")
    from m0core import plugins
    from m0core.pipeline.segments import segment_scores

    pieces = list(segment_scores(plugins.create("sources", "pyav"), "pyav",
                                 plugins.create("analyzers", "rms-streaming"), "rms-streaming",
                                 str(path), chunk_seconds=1.0, start=0.0, length=None))
    assert sum(len(p.scores) for p in pieces) == 50
    assert all(len(p.codes) == 0 for p in pieces)


def test_the_trees_give_scikit_learn_s_chances_and_load_without_pickle(tmp_path):
    """fit() checks its arrays against the classifier it read them from; saved and loaded
    they give the same chances, missing values included. It fits on one thread: scikit-learn's
    OpenMP threads wait for work by spinning, and beside the suite's other processes on 2
    cores they took 3.6-7.6 CPU-s (8-33 s) for what one thread does in 0.4 s."""
    import sklearn.ensemble  # noqa: F401 (loaded first: threadpool_limits limits what is loaded)
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 193))
    y = (x[:, 3] + 0.5 * x[:, 100] + 0.3 * rng.standard_normal(600)) > 0
    with threadpool_limits(limits=1):
        trees = judge_training.fit(x, y)
    trees.save(tmp_path / "m.npz")
    loaded = check.Trees.load(tmp_path / "m.npz")
    probe = rng.standard_normal((50, 193))
    probe[::7, 3] = np.nan
    np.testing.assert_allclose(loaded.chance(probe), trees.chance(probe))
    assert loaded.chance(probe[:1]).shape == (1,) and 0 < loaded.chance(probe).min()
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
    separated = loaded.chance(np.where(np.arange(193) == 3, 3.0, 0.0)[None])[0]
    assert separated > 0.9 > 0.1 > loaded.chance(np.where(np.arange(193) == 3, -3.0, 0.0)[None])[0]


def test_bagged_models_are_one_table_whose_log_odds_are_their_mean():
    """bagged() fits one model a draw of the recordings (with replacement) and joins them:
    the joined table's chance is the logistic of the mean of their log-odds, and the draw
    (not the order of the fits) decides which recordings each one saw."""
    import sklearn.ensemble  # noqa: F401 (loaded first: threadpool_limits limits what is loaded)
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    parts = []
    for _ in range(6):
        x = rng.standard_normal((80, 20))
        parts.append((x, (x[:, 2] + 0.4 * rng.standard_normal(80)) > 0))
    with threadpool_limits(limits=1):
        joined = judge_training.bagged(parts, bags=3, draw=5)
        draws = np.random.default_rng(5)
        models = []
        for _ in range(3):
            picked = [parts[i] for i in draws.choice(len(parts), size=len(parts))]
            models.append(judge_training.fit(np.concatenate([x for x, _ in picked]),
                                             np.concatenate([y for _, y in picked])))
    assert joined.feature.shape[0] == sum(m.feature.shape[0] for m in models)
    probe = rng.standard_normal((40, 20))
    odds = np.mean([m.odds(probe) for m in models], axis=0)
    np.testing.assert_allclose(joined.chance(probe), 1 / (1 + np.exp(-odds)))
    assert not np.allclose(models[0].chance(probe), models[1].chance(probe))


def test_the_shipped_model_is_the_documented_one():
    model = check.model()
    assert model.feature.shape[0] == 10 * 200   # ten bagged models of 200 trees
    assert model.feature.shape[1] <= 7     # depth 2: at most 7 nodes
    assert model.feature.max() < check.SIZE == 408 and model.feature.min() == -1
    assert check.DROP_BELOW == 0.15
    assert len(check.fingerprint()) == 64


def test_features_need_a_second_of_the_core_of_the_moment():
    """A core (1 s before the peak to 2 s after) that the recording's end or start cuts is
    read as far as it goes: a moment in the last 2 s is judged, not kept at its full score
    unjudged; under a second of it is too little."""
    codes = np.random.default_rng(3).integers(0, 200, (400, spectra.BANDS), dtype=np.uint8)
    assert check.features(codes, 0, 10.0).shape == (204,)
    at_end = check.features(codes, 0, 19.5)                # 1.5 s of core: to the end
    assert at_end.shape == (204,) and np.isfinite(at_end[:4 * spectra.BANDS]).all()
    assert check.features(codes, 0, 20.5) is None          # 0.5 s of it
    assert check.features(codes, 100, 5.0).shape == (204,)  # 2 s after the start
    assert check.features(codes, 100, 3.5) is None          # 0.5 s of it
    near_end = check.features(codes, 0, 18.0)              # bed after it cut short
    assert near_end is not None and np.isfinite(near_end).all()


def _codes_of(samples: np.ndarray, rate: int = 48000) -> np.ndarray:
    return spectra.Spectra(rate).feed(samples.astype(np.float32))


def _moment(rng: np.random.Generator, sound: np.ndarray, rate: int = 48000) -> np.ndarray:
    """20 s of a quiet noise bed with ``sound`` from 10 s on."""
    out = 0.003 * rng.standard_normal(20 * rate)
    out[10 * rate:10 * rate + len(sound)] += sound
    return out


def test_a_moment_s_shape_tells_a_voice_like_sound_from_a_tone_and_a_noise():
    """What shape() measures, on sounds made for it: how long a 2.5-s sound stays over its
    bed, how harmonic a buzz with a 220-Hz pitch is against a noise burst and a tone, how
    flat a noise is against a tone, how a level moving 5 times a second (syllables, dipping
    20 dB) differs from a steady one; all missing where no bed is there."""
    rate, rng = 48000, np.random.default_rng(5)
    t = np.arange(int(2.5 * rate)) / rate
    buzz = 0.1 * sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 15))
    syllables = buzz * (0.55 + 0.45 * np.sin(2 * np.pi * 5 * t))
    noise = 0.1 * rng.standard_normal(len(t))
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)
    shapes = {name: check.shape(_codes_of(_moment(rng, sound)), 0, 10.0) for name, sound in
              (("buzz", buzz), ("syllables", syllables), ("noise", noise), ("tone", tone))}
    seconds_over_6, seconds_over_10, stretch, syllable_share, flatness = range(5)
    harmonic, over = 9, 11
    for name, x in shapes.items():
        assert x.shape == (check.SHAPES,) and np.isfinite(x).all(), name
        assert 2.3 <= x[seconds_over_6] <= 2.7 and 2.3 <= x[seconds_over_10] <= 2.7, name
        assert x[over] > 20, name
    assert [shapes[n][stretch] for n in ("buzz", "noise", "tone")] == [2.5, 2.5, 2.5]
    assert shapes["syllables"][stretch] < 0.5  # its dips break the stretch within 10 dB
    assert shapes["syllables"][syllable_share] > 3 * shapes["buzz"][syllable_share]
    assert shapes["buzz"][harmonic] > 0.5 > shapes["noise"][harmonic] > shapes["tone"][harmonic]
    assert shapes["noise"][flatness] > -0.5 > -1.5 > shapes["tone"][flatness]
    alone = _codes_of(_moment(rng, buzz))[190:260]  # no bed before or after the moment
    assert np.isnan(check.shape(alone, 190, 10.0)).all()


def test_a_moment_is_set_against_the_loud_moments_before_it():
    earlier = check.Earlier()
    rows = {t: np.full(check.FEATURES, float(t)) for t in (100.0, 200.0, 300.0, 400.0)}
    for t, x in rows.items():
        earlier.add(t, x)
    assert earlier.reference(300.2) is None                  # two at least 0.5 s before it
    assert earlier.reference(300.6) == pytest.approx(np.full(check.FEATURES, 200.0))
    assert earlier.reference(2000.0) == pytest.approx(np.full(check.FEATURES, 300.0))
    assert earlier.reference(2150.0) is None                 # 100 and 200 over 30 min ago
    x = np.arange(check.FEATURES, dtype=np.float64)
    seen = check.judged(x, earlier.reference(500.0))
    assert seen.shape == (check.SIZE,) and seen[:check.FEATURES].tolist() == x.tolist()
    assert seen[check.FEATURES:] == pytest.approx(x - 250.0)
    alone = check.judged(x, None)
    assert np.isnan(alone[check.FEATURES:]).all() and 0.0 <= check.model().chance(alone) <= 1.0
    earlier.add(200.5 + 2 * check.EARLIER_SECONDS, x)  # an hour on, what is older goes
    assert list(earlier._times) == [300.0, 400.0, 3800.5]


def _trained_and_read(monkeypatch, minutes: int, seed: int) -> tuple[dict, dict, object]:
    """What the training reads of each default moment of :func:`_moments_curve` (by peak),
    what a run of ``standout`` fed it hands the model, and the training's recording."""
    scores, codes = _moments_curve(minutes, seed=seed)
    duration = minutes * 60.0
    recording = judge_training.Recording("curve", codes, scores.astype(np.float32), 0.1,
                                         duration, [])
    moments = recording.moments()
    trained = dict(zip([round(h.peak_time, 1) for h in moments], recording.judged(moments),
                       strict=True))
    read = {}
    real = check.chance

    def recorded(codes, first, peak, earlier):
        x = check.features(codes, first, peak)
        read[round(peak, 1)] = check.judged(x, earlier.reference(peak))
        return real(codes, first, peak, earlier)

    monkeypatch.setattr(check, "chance", recorded)
    _fed(Standout(Timeline(hop=0.1, duration=duration)), scores, codes)
    return trained, read, recording


def test_standout_judges_a_moment_as_the_training_judges_it(monkeypatch):
    """What the model reads of a moment in a run (its features against the loose moments
    before it, found by a second selector as the run goes) is what the training reads of it
    (judge_training, from the whole recording at once), piece by piece as a run feeds it."""
    trained, read, recording = _trained_and_read(monkeypatch, 6, seed=8)
    loose = recording.moments(**judge_training.LOOSE)
    assert len(trained) == 8 and len(loose) == 12 and sorted(read) == sorted(trained)
    for peak, x in trained.items():
        assert read[peak] == pytest.approx(x, nan_ok=True), peak
    # the first two have fewer than three loud moments before them
    assert [np.isnan(read[p][check.FEATURES:]).all() for p in sorted(read)] == \
        [True, True] + [False] * 6


def test_the_training_judges_a_recording_longer_than_the_earlier_pool_keeps_as_a_run_does(
        monkeypatch):
    """Over 100 minutes (more than the two half-hours Earlier keeps behind its newest loud
    moment) the training still sets each moment against what a run's pool holds then: it
    had added the whole recording's loose moments first, and lost the early ones of it."""
    trained, read, _ = _trained_and_read(monkeypatch, 100, seed=9)
    assert len(trained) == 149 and sorted(read) == sorted(trained)
    for peak, x in trained.items():
        assert read[peak] == pytest.approx(x, nan_ok=True), peak


def test_a_moment_s_chance_is_the_same_at_any_sensitivity(monkeypatch):
    """The check hears the sound, not the selector's score (which grows with the
    sensitivity): a moment kept at two sensitivities is given one chance at both, and its
    reason says the same."""
    scores, codes = _moments_curve(6, seed=8)
    real, chances, reasons = check.chance, {}, {}
    for sensitivity in (0.3, 0.8):
        heard = chances[sensitivity] = {}

        def recorded(codes, first, peak, earlier, heard=heard):
            heard[round(peak, 1)] = real(codes, first, peak, earlier)
            return heard[round(peak, 1)]

        monkeypatch.setattr(check, "chance", recorded)
        kept = _fed(Standout(Timeline(hop=0.1, duration=360.0), sensitivity=sensitivity),
                    scores, codes)
        reasons[sensitivity] = {round(h.peak_time, 1): h.reason.split("; ")[-1] for h in kept}
    shared = sorted(set(chances[0.3]) & set(chances[0.8]))
    assert len(shared) >= 6
    assert [chances[0.3][p] for p in shared] == [chances[0.8][p] for p in shared]
    both = sorted(set(reasons[0.3]) & set(reasons[0.8]))
    assert both and [reasons[0.3][p] for p in both] == [reasons[0.8][p] for p in both]


def _three_moments() -> tuple[np.ndarray, np.ndarray]:
    """A 3-min curve of a steady -40 dBFS bed with three moments held at -22 dBFS for 2 s
    (at 40, 90 and 140 s), and spectra of a steady bed."""
    scores = np.full(1800, -40.0) + np.random.default_rng(4).normal(0, 0.5, 1800)
    for at in (40, 90, 140):
        scores[at * 10:at * 10 + 20] = -22.0
    codes = np.full((180 * spectra.FPS, spectra.BANDS), 100, dtype=np.uint8)
    return scores, codes


def test_standout_drops_the_moments_the_check_says_are_no_reaction(monkeypatch):
    scores, codes = _three_moments()
    timeline = Timeline(hop=0.1, duration=180.0)
    asked = []

    def judged(codes, first, peak, earlier):
        asked.append(round(peak))
        return 0.01 if 85 < peak < 95 else 0.9

    monkeypatch.setattr(check, "chance", judged)
    monkeypatch.setattr(voiced, "chance", lambda x: 0.0)  # nor does the second look hear one
    kept = _fed(Standout(timeline), scores, codes)
    assert [round(h.peak_time) for h in kept] == [40, 140] and asked == [40, 90, 140]
    assert all(h.reason.endswith("; its sound: 90 % a reaction") for h in kept)
    unchecked = _fed(Standout(timeline, check=False), scores, codes)
    assert [round(h.peak_time) for h in unchecked] == [40, 90, 140]
    # a kept moment's score (what --max-clips ranks by) is weighed by its chance
    assert [h.score for h in kept] == pytest.approx([0.9 * unchecked[0].score,
                                                     0.9 * unchecked[2].score])
    assert unchecked[0].score > 1.0
    unheard = Standout(timeline)  # no spectra given: nothing is judged, nothing dropped
    assert [round(h.peak_time) for h in _fed(unheard, scores, None)] == [40, 90, 140]
    assert asked == [40, 90, 140]


def test_standout_keeps_only_the_spectra_and_levels_its_judgements_still_need():
    scores = np.full(36000, -40.0) + np.random.default_rng(5).normal(0, 0.5, 36000)
    codes = np.full((3600 * spectra.FPS, spectra.BANDS), 90, dtype=np.uint8)
    chooser = Standout(Timeline(hop=0.1, duration=3600.0))
    held, levels = [], []
    for i in range(0, 36000, 300):
        a = spectra.frame_of(i * 0.1)
        chooser.listen(codes[a:spectra.frame_of((i + 300) * 0.1)], a)
        chooser.feed(scores[i:i + 300])
        held.append(len(chooser._codes))
        second = chooser._second
        levels.append(max(len(chooser._raw.values), len(second._voice.values)))
    # the slices of 4096 frames it forgets at once, the 2 x 30 s of context a decision
    # reads back, the check's reach and a fed chunk: some 5 minutes, not the hour
    assert max(held) < 360 * spectra.FPS
    # the scores and the voice band's levels the second look reads: the five minutes a
    # level is set against, the half minute
    # after, a fed chunk and the slices of 4096 values it forgets at once
    assert max(levels) < (voiced.HISTORY + 2 * voiced.AROUND[1]) * 10 + 300 + 4096


@pytest.mark.slow
def test_a_run_on_segments_hears_the_spectra_a_run_in_one_process_hears(make_media, own_cache):
    """The cache keeps what the selector heard: a run decoding in two worker processes and
    a run decoding here give the same spectra (but for the frames at the boundary, where a
    decoder starting mid-stream lacks the previous packet), one row of 48 a frame."""
    path = make_media("judge_12min.m4a", "-f", "lavfi", "-i",
                      "anoisesrc=d=720:c=pink:a=0.05:r=48000:seed=7", "-af",
                      "volume='1+2*gt(mod(t,97),95)':eval=frame", "-c:a", "aac")
    rows = {}
    for jobs in (2, 0):
        result = m0core.analyze(path, None, clips=False, jobs=jobs)
        assert result.timings["cached"] == 0.0
        [meta] = own_cache.glob("*.json")
        described = json.loads(meta.read_text())["spectra"]
        rows[jobs] = np.fromfile(meta.with_suffix(".u8"), dtype=np.uint8).reshape(-1, 48)
        assert described["rows"] == len(rows[jobs]) and described["first"] == 0
        assert len(list(own_cache.glob("*.u8"))) == 1
        cache.clear()
    assert len(rows[2]) == len(rows[0]) == pytest.approx(720 * spectra.FPS, abs=1)
    differ = np.flatnonzero((rows[2] != rows[0]).any(axis=1))
    boundary = spectra.frame_of(360.0)
    assert all(abs(int(i) - boundary) <= spectra.FPS for i in differ), differ


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [2, 0])
def test_a_selector_hears_each_frame_once_a_batch_at_a_time_before_its_scores(make_media, jobs):
    """A selector that listens is handed the spectra of every frame once, in order, those of
    the audio of the scores it is fed before them, and in one call for each batch of scores
    (one more where two segments meet), not one for each chunk a decoder gives: a call costs
    a selector about the same however many frames it brings."""
    path = make_media("judge_12min.m4a", "-f", "lavfi", "-i",
                      "anoisesrc=d=720:c=pink:a=0.05:r=48000:seed=7", "-af",
                      "volume='1+2*gt(mod(t,97),95)':eval=frame", "-c:a", "aac")
    calls: list[tuple[str, int, int]] = []

    class Listener:
        def __init__(self, timeline: Timeline, threshold: float | None = None) -> None:
            self.hop = timeline.hop
            self.values = 0
            self.heard = 0  # the frame after the last one heard

        def listen(self, codes: np.ndarray, first: int) -> None:
            calls.append(("listen", first, len(codes)))
            assert codes.shape == (len(codes), spectra.BANDS) and codes.dtype == np.uint8
            assert 0 <= first - self.heard <= (1 if self.heard else 0)  # none twice, none lost
            self.heard = first + len(codes)

        def feed(self, scores: np.ndarray) -> list:
            self.values += len(scores)
            calls.append(("feed", self.values, self.heard))
            # the frames of the audio of every value fed so far, all heard already
            assert self.heard >= (self.values * self.hop - 0.1) * spectra.FPS
            return []

        def finish(self) -> list:
            return []

    with testing.registered("selectors", "test-listener", Listener) as name:
        result = m0core.analyze(path, None, clips=False, cache=False, jobs=jobs, selector=name)
    feeds = sum(kind == "feed" for kind, *_ in calls)
    listens = [(first, n) for kind, first, n in calls if kind == "listen"]
    segments = 2 if jobs == 2 else 1
    assert result.timings["cached"] == 0.0 and feeds >= 2
    assert len(listens) <= feeds + segments - 1, calls
    assert sum(n for _, n in listens) == pytest.approx(720 * spectra.FPS, abs=2)


def test_a_run_from_the_cache_judges_as_the_run_that_decoded(wav, own_cache, monkeypatch):
    """The spectra come back from the cache: the check is asked about the same moments with
    the same spectra, and a changed sensitivity is judged on them too."""
    heard = []
    real = check.chance

    def recorded(codes, first, peak, earlier):
        x = check.features(codes, first, peak)
        reference = earlier.reference(peak)
        heard.append((round(peak, 1), None if x is None else x.round(6).tolist(),
                      None if reference is None else reference.round(6).tolist()))
        return real(codes, first, peak, earlier)

    monkeypatch.setattr(check, "chance", recorded)
    fresh = m0core.analyze(wav, None, clips=False, sensitivity=0.9)
    first, heard[:] = list(heard), []
    again = m0core.analyze(wav, None, clips=False, sensitivity=0.9, selector_params={"busy": 4})
    assert again.timings["cached"] == 1.0
    assert heard == first and len(first) >= 2
    assert [h.peak_time for h in again.highlights] == [h.peak_time for h in fresh.highlights]


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "described otherwise"])
def test_damaged_spectra_are_ignored_and_rewritten(vod, own_cache, damage):
    m0core.analyze(vod, None, clips=False)
    [meta] = own_cache.glob("*.json")
    data = meta.with_suffix(".u8")
    raw = bytearray(data.read_bytes())
    if damage == "flip a byte":
        raw[500] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(bytes(raw[:-48]))
    else:
        doc = json.loads(meta.read_text())
        doc["spectra"]["first"] = "0"
        meta.write_text(json.dumps(doc))
    assert m0core.analyze(vod, None, clips=False).timings["cached"] == 0.0
    assert m0core.analyze(vod, None, clips=False).timings["cached"] == 1.0


def test_a_run_that_fails_leaves_no_spectra_behind(vod, own_cache, monkeypatch):
    from m0core.pipeline import run

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run, "_finish", broken)
    with pytest.raises(OSError):
        m0core.analyze(vod, None, clips=False)
    assert [p.name for p in own_cache.iterdir() if not p.name.endswith(".seen")] == []


def test_spectra_that_cannot_be_written_keep_no_entry(vod, own_cache, monkeypatch):
    """A spool that failed (a full disk) stores no curve: a run from it would not judge as
    the run that decoded."""
    def full(self, codes, first):
        self.failed = True

    monkeypatch.setattr(cache.Spool, "write", full)
    result = m0core.analyze(vod, None, clips=False)
    assert result.highlights
    assert list(own_cache.glob("*.json")) == []


def test_a_later_segment_s_spectra_and_scores_wait_on_disk_not_in_memory():
    """The second worker of a long file ends hours before its half is selected on: its
    pieces wait in the read-ahead queue without their spectra and scores, which come back in
    order."""
    from m0core.pipeline.run import _Waiting
    from m0core.pipeline.segments import Piece

    rng = np.random.default_rng(6)
    pieces = [Piece(rng.normal(-30, 5, m).astype(np.float32), 10.0,
                    rng.integers(0, 255, (n, spectra.BANDS), dtype=np.uint8), 7200 + 200 * i)
              for i, (n, m) in enumerate(((200, 100), (0, 100), (200, 0), (13, 7), (0, 0)))]
    with _Waiting() as waiting:
        queued = [waiting.put(p) for p in pieces]
        assert all(len(q.codes) == 0 and len(q.scores) == 0 and q.first == p.first
                   and q.seconds == p.seconds for q, p in zip(queued, pieces, strict=True))
        for q, p in zip(queued, pieces, strict=True):
            back = waiting.take(q)
            np.testing.assert_array_equal(back.codes, p.codes)
            np.testing.assert_array_equal(back.scores, p.scores)
            assert back.scores.dtype == np.float32 and back.codes.dtype == np.uint8
            assert back.codes.shape[1:] == (spectra.BANDS,) and back.first == p.first


def test_no_spectra_are_made_for_a_run_that_neither_listens_nor_caches(wav, monkeypatch):
    """0.3 s of CPU an hour: made for a selector that listens, or for the cache (a later run
    from it may listen), and not for `--selector top --no-cache`."""
    made = []
    real = spectra.Spectra.feed

    def counted(self, samples):
        made.append(len(samples))
        return real(self, samples)

    monkeypatch.setattr(spectra.Spectra, "feed", counted)
    m0core.analyze(wav, None, clips=False, cache=False, jobs=0, selector="top", max_clips=2)
    assert made == []
    m0core.analyze(wav, None, clips=False, cache=False, jobs=0)
    assert sum(made) == 60 * 48000


def test_weighed_drops_under_the_drop_level_and_weighs_the_rest():
    """What the check does to a moment's score: dropped under DROP_BELOW, times its chance
    from there on, as it was where it could not be judged."""
    assert check.weighed(4.0, check.DROP_BELOW / 2) is None
    assert check.weighed(4.0, 0.5) == pytest.approx(2.0)
    assert check.weighed(4.0, None) == 4.0


def test_the_features_of_a_loud_moment_are_read_back_not_measured_again():
    """A moment the default keeps is often one of the recording's loud moments: ``Earlier``
    gives back the features added at exactly its peak, and nothing for a peak it never had."""
    earlier = check.Earlier()
    rows = {t: np.full(check.FEATURES, t) for t in (10.0, 20.5, 31.2)}
    for t, x in rows.items():
        earlier.add(t, x)
    for t, x in rows.items():
        assert earlier.at(t) is not None and earlier.at(t).tolist() == x.tolist()
    assert earlier.at(20.4) is None and earlier.at(5.0) is None and earlier.at(40.0) is None
