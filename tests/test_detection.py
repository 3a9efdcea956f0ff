"""Acceptance: the default selector finds synthetic events on quiet, normal and loud beds.

Recordings come from :mod:`m0core.dev.synth` (ground truth included) and go through the real
parts: the ``ffmpeg`` source, the ``rms-streaming`` analyzer and the selector. Also tests
the synthesizer itself (levels, determinism, streamed wav/mp4 writing).
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import made_once

from m0core import plugins
from m0core.dev import synth
from m0core.errors import OptionError, OutputError
from m0core.media.ffmpeg import probe
from m0core.model import Highlight, Timeline
from m0core.options import Options

DURATION = 900.0                      # 15 minutes: one full drift period
BEDS = (-42.0, -32.0, -22.0)          # quiet, normal, loud stream (dBFS)
SEEDS = {-42.0: (11, 12), -32.0: (21, 22), -22.0: (31, 32)}


def detect(path: Path, selector: str = Options.selector, threshold: float | None = None,
           duration: float = DURATION) -> list[Highlight]:
    """Run ``path`` through the ffmpeg source, rms-streaming and ``selector``."""
    source = plugins.create("sources", "ffmpeg")
    analyzer = plugins.create("analyzers", "rms-streaming")
    chooser = plugins.create("selectors", selector,
                             timeline=Timeline(hop=analyzer.hop, duration=duration),
                             threshold=threshold)
    out: list[Highlight] = []
    for chunk in source.chunks(str(path)):
        out += chooser.feed(analyzer.feed(chunk))
    out += chooser.feed(analyzer.finish())
    return out + chooser.finish()


def _make(job: tuple[str, float, int]) -> list[synth.Event]:
    path, bed_db, seed = job
    return synth.write_audio(path, DURATION, seed=seed, bed_db=bed_db)


def _make_all(folder: Path) -> dict[float, list[tuple[Path, list[synth.Event]]]]:
    jobs = [(str(folder / f"bed{-bed:.0f}_{seed}.wav"), bed, seed)
            for bed in BEDS for seed in SEEDS[bed]]
    with ProcessPoolExecutor(2) as pool:
        made = list(pool.map(_make, jobs))
    result: dict[float, list] = {bed: [] for bed in BEDS}
    for (path, bed, _), events in zip(jobs, made, strict=True):
        result[bed].append((Path(path), events))
    return result


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[float, list[tuple[Path, list[synth.Event]]]]:
    """Six 15-minute 48 kHz wav recordings, two seeds per bed level, made on 2 cores once
    for all of pytest-xdist's workers (:func:`conftest.made_once`)."""
    return made_once(tmp_path_factory, "synth", _make_all)


@pytest.mark.parametrize("bed_db", BEDS)
def test_default_selector_finds_the_events(recordings, bed_db):
    for path, events in recordings[bed_db]:
        assert len(events) >= 15 and {e.kind for e in events} == set(synth.KINDS)
        match = synth.match_events(events, detect(path))
        print(f"bed {bed_db:+.0f} dBFS {path.name}: {match.events} events, "
              f"{match.highlights} highlights, recall {match.recall:.1%}, "
              f"precision {match.precision:.1%}")
        assert match.recall >= 0.9, (path.name, match.missed)
        assert match.precision >= 0.9, path.name


@pytest.mark.parametrize("bed_db", [-42.0, -32.0])
def test_seed_rule_finds_nothing_on_quiet_and_normal_beds(recordings, bed_db):
    """The seed's fixed -5 dBFS threshold misses every event that the default finds."""
    for path, events in recordings[bed_db]:
        assert synth.match_events(events, detect(path, "crest", -5.0)).found == 0


def test_match_events_rules():
    """The acceptance criteria are not vacuous: off-event peaks and windows do not count."""
    cheer, shout = synth.Event(100.0, 3.0, "cheer", 10.0), synth.Event(200.0, 1.0, "shout", 9.0)
    timeline = Timeline(hop=0.1, duration=DURATION)

    def at(peak: float, index: int = 0) -> Highlight:
        return Highlight(*timeline.window(peak), peak, -20.0, 10.0, index=index)

    match = synth.match_events([cheer, shout], [at(101.0, 1), at(150.0, 2), at(203.5, 3)])
    assert (match.found, match.false, match.recall, match.precision) == (1, 2, 0.5, 1 / 3)
    assert match.missed == (shout,) and match.event_of == {1: cheer}
    # A peak on the event whose clip window misses the onset: real, but the event not found.
    early = Highlight(60.0, 99.0, 98.5, -20.0, 10.0)
    match = synth.match_events([cheer], [early])
    assert (match.found, match.false, match.event_of) == (0, 0, {1: cheer})
    assert synth.match_events([], []).recall == 1.0


def test_f1_and_the_precision_of_the_top_n():
    """F1 of a match, and the precision of the N best by score (N = the events: what
    --max-clips N keeps)."""
    cheer, shout = synth.Event(100.0, 3.0, "cheer", 10.0), synth.Event(200.0, 1.0, "shout", 9.0)
    timeline = Timeline(hop=0.1, duration=DURATION)

    def at(peak: float, score: float) -> Highlight:
        return Highlight(*timeline.window(peak), peak, -20.0, score)

    found = [at(101.0, 1.0), at(150.0, 5.0), at(201.0, 2.0)]  # the false one scores highest
    match = synth.match_events([cheer, shout], found)
    assert match.f1 == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))
    assert synth.top_precision([cheer, shout], found) == 0.5
    assert synth.top_precision([cheer, shout], [found[0], found[2]]) == 1.0
    assert synth.top_precision([cheer], []) == 0.0 and synth.match_events([cheer], []).f1 == 0.0


# -- the synthesizer ---------------------------------------------------------------------

def test_plan_events_is_deterministic_spaced_and_clear_of_the_edges():
    events = synth.plan_events(3600.0, seed=5)
    assert events == synth.plan_events(3600.0, seed=5)
    assert events != synth.plan_events(3600.0, seed=6)
    assert len(events) > 50
    assert all(b.time - a.time >= 40.0 for a, b in zip(events, events[1:], strict=False))
    assert events[0].time >= synth.EDGE and events[-1].end <= 3600.0 - synth.EDGE
    ranges = {"cheer": (2.0, 6.0), "shout": (0.6, 1.5), "spike": (0.15, 0.4)}
    for e in events:
        low, high = ranges[e.kind]
        assert low <= e.duration <= high and 8.0 <= e.gain_db <= 20.0
    only = synth.plan_events(600.0, seed=1, kinds=("spike",), gain_db=(9.0, 9.0),
                             min_spacing=60.0)
    assert {e.kind for e in only} == {"spike"} and {e.gain_db for e in only} == {9.0}
    assert all(b.time - a.time >= 60.0 for a, b in zip(only, only[1:], strict=False))


@pytest.mark.parametrize("kw", [{"kinds": ("boom",)}, {"min_spacing": 0.0},
                                {"gain_db": (10.0, 5.0)}, {"seed": 1, "min_spacing": math.nan}])
def test_plan_events_rejects_bad_options(kw):
    with pytest.raises(OptionError):
        synth.plan_events(600.0, **kw)


def _whole(duration: float, events, **kw) -> np.ndarray:
    return np.concatenate(list(synth.audio_blocks(duration, events, **kw)))


def test_audio_is_deterministic_and_independent_of_the_block_size():
    events = synth.plan_events(60.0, seed=3, min_spacing=12.0)
    a = _whole(60.0, events, seed=3, block_seconds=10.0)
    assert a.dtype == np.float32 and a.ndim == 1 and len(a) == 60 * 48000
    assert np.array_equal(a, _whole(60.0, events, seed=3, block_seconds=3.3))
    assert not np.array_equal(a, _whole(60.0, events, seed=4, block_seconds=10.0))


def test_bed_level_and_drift():
    def level(x: np.ndarray) -> float:
        return 10 * math.log10(np.mean(np.square(x, dtype=np.float64)))

    flat = _whole(120.0, [], bed_db=-35.0, drift_db=0.0, seed=2, sample_rate=16000)
    assert level(flat) == pytest.approx(-35.0, abs=0.5)
    seconds = [level(flat[i:i + 16000]) for i in range(0, len(flat), 16000)]
    assert 1.0 < max(seconds) - min(seconds) < 6.0  # a few-second wobble, not flat
    drift = _whole(120.0, [], bed_db=-35.0, drift_db=6.0, drift_period=120.0, seed=2,
                   sample_rate=16000)
    rising, falling = drift[15 * 16000:45 * 16000], drift[75 * 16000:105 * 16000]
    assert level(rising) - level(falling) == pytest.approx(10.4, abs=1.0)  # 2*6*sin(pi/4)


@pytest.mark.parametrize("kind", synth.KINDS)
def test_events_sit_gain_db_over_the_local_bed(kind):
    event = synth.Event(20.0, {"cheer": 4.0, "shout": 1.0, "spike": 0.2}[kind], kind, 12.0)
    kw = {"seed": 7, "bed_db": -40.0, "drift_db": 6.0, "drift_period": 100.0}
    mixed, bed = _whole(40.0, [event], **kw), _whole(40.0, [], **kw)
    only = (mixed - bed).astype(np.float64)
    assert not only[:20 * 48000].any() and not only[int(event.end * 48000) + 1:].any()
    part = only[20 * 48000:int(event.end * 48000)]
    core = part[synth.core_mask(part, 48000)]
    centre = int((event.time + event.duration / 2) * 48000)
    local = bed[centre - 2400:centre + 2400].astype(np.float64)  # the bed around the centre
    gain = 10 * math.log10(np.mean(core**2) / np.mean(local**2))
    assert gain == pytest.approx(12.0, abs=1.5)


def test_write_audio_streams_a_wav_with_its_events(tmp_path):
    path = tmp_path / "short.flac"
    events = synth.write_audio(path, 30.0, seed=9, bed_db=-30.0)
    assert events == synth.plan_events(30.0, seed=9)
    info = soundfile.info(str(path))
    assert (info.samplerate, info.channels, info.frames) == (48000, 1, 30 * 48000)
    assert [p.name for p in tmp_path.iterdir()] == ["short.flac"]
    with pytest.raises(OutputError):
        synth.write_audio(tmp_path / "missing" / "x.wav", 5.0)


def test_write_vod_makes_a_real_mp4_whose_events_are_found(tmp_path):
    events = [synth.Event(20.0, 3.0, "cheer", 15.0), synth.Event(50.0, 1.0, "shout", 12.0)]
    path = tmp_path / "demo.mp4"
    assert synth.write_vod(path, 75.0, events=events, size="320x180", seed=1) == events
    info = probe(path)
    assert info.has_video and info.video_codec == "h264"
    assert (info.audio_codec, info.channels, info.sample_rate) == ("aac", 2, 48000)
    assert info.duration == pytest.approx(75.0, abs=0.2)
    match = synth.match_events(events, detect(path, duration=info.duration))
    assert (match.found, match.false) == (len(events), 0)
    assert [p.name for p in tmp_path.iterdir()] == ["demo.mp4"]


def test_write_vod_failure_leaves_no_file(tmp_path):
    with pytest.raises(OutputError):
        synth.write_vod(tmp_path / "bad.mp4", 5.0, size="notasize")
    assert list(tmp_path.iterdir()) == []
