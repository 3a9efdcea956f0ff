"""Detection on stream-like recordings made of real recorded sound (:mod:`m0core.dev.corpus`).

The recordings are composed at test time from Debian packages' sounds (game music, speech,
game effects, shouted voice lines; ``.ci/run`` installs them) and go through the real parts:
AAC encoding by ffmpeg, then ``m0core.analyze`` with its defaults. The files here use the
``validation`` recordings and seeds the detector was not tuned on. Without the packages the
tests skip, unless ``M0_REQUIRE_CORPUS=1`` (as in CI) makes that a failure.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import made_once, run_heldout, run_m0

import m0core
from benchmarks import detection as bench
from m0_plugins.selectors import standout
from m0core.dev import corpus, standing, synth
from m0core.errors import OptionError
from m0core.media.ffmpeg import ffmpeg_exe, probe
from m0core.outputs import position, read_highlights
from m0core.testing import run_ffmpeg

DURATION = 240.0
FILES = ((301, -38.0), (302, -29.0), (303, -20.0))   # quiet, normal, loud beds (dBFS)
#: The tests of `python -m m0core.dev.heldout`, a developer's tool (20 s: recordings made and
#: run for it), are in the slow tier, which CI runs too.
HELDOUT_TOOL = pytest.mark.slow


def _require() -> None:
    why = corpus.missing()
    if why:
        if os.environ.get("M0_REQUIRE_CORPUS", "") not in ("", "0"):
            pytest.fail(f"M0_REQUIRE_CORPUS is set but {why}")
        pytest.skip(why)


def _mono(path: Path) -> np.ndarray:
    """The recording at ``path`` decoded by ffmpeg as mono float32 samples."""
    return np.frombuffer(subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
        capture_output=True, check=True).stdout, np.float32)


def _make(job: tuple[str, int, float]) -> corpus.Recording:
    path, seed, bed_db = job
    return corpus.write(path, DURATION, seed=seed, bed_db=bed_db, split="validation")


@pytest.fixture(scope="module")
def streams(tmp_path_factory) -> list[tuple[Path, corpus.Recording]]:
    """Three 4-minute stream-like .m4a files, made on 2 cores once for all of pytest-xdist's
    workers (:func:`conftest.made_once`)."""
    _require()
    return made_once(tmp_path_factory, "streams", _make_all)


def _make_all(folder: Path) -> list[tuple[Path, corpus.Recording]]:
    jobs = [(str(folder / f"stream_{seed}.m4a"), seed, bed) for seed, bed in FILES]
    with ProcessPoolExecutor(2) as pool:
        made = list(pool.map(_make, jobs))
    return [(Path(job[0]), truth) for job, truth in zip(jobs, made, strict=True)]


def _f1(match: synth.Match) -> float:
    p, r = match.precision, match.recall
    return 2 * p * r / (p + r) if p + r else 0.0


def test_the_corpus_is_what_it_says(streams):
    for path, truth in streams:
        info = probe(path)
        assert (info.audio_codec, info.sample_rate) == ("aac", corpus.SAMPLE_RATE)
        assert info.duration == pytest.approx(DURATION, abs=0.2)
        assert len(truth.reactions) >= 3 and truth.effects and truth.beds
        for e in truth.reactions:
            assert e.kind == "reaction" and 1.5 <= e.duration <= 5.0
            assert 10.0 <= e.gain_db <= 16.0 and 0 < e.time and e.end < DURATION
        assert {d.kind for d in truth.distractors} <= {"slam", "cough", "notification", "swell"}
        assert all(3.0 <= e.gain_db <= 8.0 for e in truth.effects)
        assert truth.beds[0][0] == 0.0 and truth.beds[-1][1] == DURATION


def test_dev_and_validation_use_different_recordings():
    _require()
    dev, val = corpus.pools("dev"), corpus.pools("validation")
    for kind in ("music", "talk", "effects"):
        assert dev[kind] and val[kind] and not set(dev[kind]) & set(val[kind]), kind
    speakers = {lines[0].parent for lines in dev["voices"]}
    assert speakers and not speakers & {lines[0].parent for lines in val["voices"]}


def test_composing_is_deterministic_and_checks_its_options():
    _require()
    a, truth = corpus.compose(40.0, seed=5, bed_db=-30.0)
    b, again = corpus.compose(40.0, seed=5, bed_db=-30.0)
    assert truth == again and (a == b).all()
    assert corpus.compose(40.0, seed=6, bed_db=-30.0)[1] != truth
    for bad in ({"split": "test"}, {"bed_db": 3.0}, {"beds": ("rain",)}):
        with pytest.raises(OptionError):
            corpus.compose(40.0, **bad)


def test_the_outside_split_names_the_packages_it_needs_when_they_are_missing(tmp_path,
                                                                           monkeypatch):
    """split="outside" is composed from other packages than dev and validation (not installed
    by CI): without them, one clear error naming them, and the other splits do not need
    them."""
    assert not set(corpus.OUTSIDE_PACKAGES) & set(corpus.PACKAGES)
    monkeypatch.setattr(corpus, "SHARE", tmp_path)
    with pytest.raises(OptionError, match="outside.*needs the Debian packages warmux-data"):
        corpus.compose(40.0, split="outside")
    assert all(name in corpus.missing("outside") for name in corpus.OUTSIDE_PACKAGES)
    assert not any(name in corpus.missing("dev") for name in corpus.OUTSIDE_PACKAGES)


def test_the_check_s_training_hears_another_game_s_people_speaking(tmp_path, monkeypatch):
    """corpus.training_voices: MegaGlest's people (not its animals or monsters), one speaker a
    unit (its berserk twin left out), their spoken lines (acknowledging, answering a selection)
    of 0.3-3 s, and only units with four such lines; without the package, one clear error
    naming it. No split's recordings use it."""
    import soundfile

    assert not set(corpus.TRAINING_PACKAGES) & (set(corpus.PACKAGES) | set(corpus.OUTSIDE_PACKAGES))
    monkeypatch.setattr(corpus, "SHARE", tmp_path)
    with pytest.raises(OptionError, match="training needs the Debian packages megaglest-data"):
        corpus.training_voices()
    root = tmp_path / "games/megaglest/techs/megapack/factions"
    lines = {"norsemen/units/swordman": ["swordman_ack1", "swordman_ack2", "swordman_select1",
                                         "swordman_select12", "swordman_attack1", "swordman_die1"],
             "norsemen/units/swordman_berserk": [f"swordman_ack{i}" for i in range(1, 6)],
             "persian/units/sheep": [f"sheep_select{i}" for i in range(1, 6)],
             "magic/units/initiate": ["initiate_ack1", "initiate_ack2", "initiate_sel1"]}
    for unit, names in lines.items():
        (root / unit / "sounds").mkdir(parents=True)
        for name in names:
            soundfile.write(root / unit / "sounds" / f"{name}.wav", np.full(8000, 0.1), 8000)
    soundfile.write(root / "norsemen/units/swordman/sounds/swordman_ack3.wav",
                    np.full(32000, 0.1), 8000)  # 4 s: too long for a line
    speakers = corpus.training_voices()
    assert [[p.stem for p in s] for s in speakers] == [
        ["swordman_ack1", "swordman_ack2", "swordman_select1", "swordman_select12"]]


def test_the_default_finds_the_reactions_and_beats_the_previous_default(streams):
    """Measured on files from recordings and seeds the detector was not tuned on. Three short
    files hold 3-4 reactions each, so one file's F1 moves in big steps: the bar is on all
    their moments together. The full table (python -m benchmarks --only detection, 10-minute
    files) is in docs/benchmarks.md."""
    totals = {"default": [0, 0, 0], "adaptive": [0, 0, 0]}  # found, false, events
    for path, truth in streams:
        default = m0core.analyze(path, clips=False, cache=False)
        previous = m0core.analyze(path, clips=False, cache=False, selector="adaptive")
        for name, result in (("default", default), ("adaptive", previous)):
            match = synth.match_events(truth.reactions, result.highlights)
            print(f"{path.name} bed {truth.bed_db:+.0f} dBFS, {name}: {match.found} of "
                  f"{match.events} reactions, {match.false} false, F1 {_f1(match):.2f}")
            for i, n in enumerate((match.found, match.false, match.events)):
                totals[name][i] += n
        assert all(h.reason for h in default.highlights)
    found, false, events = totals["default"]
    assert found / events >= 0.8 and found / max(1, found + false) >= 0.9, totals
    assert found >= totals["adaptive"][0] + 3


def test_the_check_of_what_a_moment_sounds_like_drops_false_alarms_not_reactions(streams):
    """The default with its check against the default without it, on recordings and voices
    the check was not trained on (it learned from the dev split only): no reaction lost over
    the three files, no false alarm added, and a highlight's reason says the check's
    chance. Without the check no moment is faint."""
    with_check, without = [0, 0], [0, 0]  # found, false
    for path, truth in streams:
        checked = m0core.analyze(path, clips=False, cache=False)
        unchecked = m0core.analyze(path, clips=False, cache=False,
                                   selector_params={"check": False})
        # the check only drops, but for the faint moments only it admits (a reaction heard)
        assert {h.peak_time for h in checked.highlights if h.kind != "faint"} <= \
            {h.peak_time for h in unchecked.highlights}
        for totals, result in ((with_check, checked), (without, unchecked)):
            match = synth.match_events(truth.reactions, result.highlights)
            totals[0] += match.found
            totals[1] += match.false
        assert all("% a reaction" in h.reason for h in checked.highlights)
        assert not any("% a reaction" in h.reason for h in unchecked.highlights)
        assert not any(h.kind == "faint" for h in unchecked.highlights)
    assert with_check[0] >= without[0] and with_check[1] <= without[1], (with_check, without)


def _bed_in_words(beds: list, time: float) -> str:
    """The kind of the bed (start, end, kind) at ``time`` as heldout says it."""
    [kind] = [kind for start, end, kind in beds if start <= time < end]
    return "music and talk" if kind == "both" else kind


@HELDOUT_TOOL
def test_a_recording_of_ones_own_seed_is_made_with_its_truth_and_a_run_scored_against_it(
        tmp_path):
    """python -m m0core.dev.heldout: `make` writes a recording of any seed and its truth
    beside it (the reactions the corpus planted), `score` reads any run's highlights.json and
    says how it did by the benchmark's rules, naming each reaction missed and each highlight
    that is none; what it cannot read is one line and exit code 1."""
    _require()
    path = tmp_path / "held.m4a"
    made = run_heldout("make", str(path), "--seed", "907", "--bed-db", "-27", "--duration", "60")
    assert made.returncode == 0, made.stderr
    truth_file = tmp_path / "held.m4a.truth.json"
    _, truth = corpus.compose(60.0, seed=907, bed_db=-27.0, split="validation")
    doc = json.loads(truth_file.read_text())
    assert [synth.Event(**e) for e in doc["reactions"]] == truth.reactions
    assert doc["recording"] == "held.m4a" and doc["split"] == "validation"
    assert len(truth.reactions) == 1  # "1 reaction", said as one is
    assert made.stdout.strip() == f"{path}: 1 reaction; its truth: {truth_file}"
    assert probe(path).duration == pytest.approx(60.0, abs=0.2)

    ran = run_m0("analyze", str(path), str(tmp_path / "out"), "--no-clips", "--no-report",
                 "-q")
    assert ran.returncode == 0, ran.stderr
    run_json = tmp_path / "out" / "highlights.json"
    # One real highlight taken away (a reaction missed), one added far from every reaction.
    highlights, _ = read_highlights(run_json)
    match = synth.match_events(truth.reactions, highlights)
    gone = next(iter(match.event_of))
    quiet = next(t for t in range(5, 55, 5)
                 if all(not e.time - 10 <= t <= e.end + 10 for e in truth.reactions))
    edited = json.loads(run_json.read_text())
    rows = [r for r in edited["highlights"] if r["index"] != gone]
    rows.append({**edited["highlights"][0], "index": 99, "peak_time": float(quiet),
                 "start": quiet - 5.0, "end": quiet + 5.0, "reason": "made up"})
    edited["highlights"] = rows
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    kept, _ = read_highlights(tmp_path / "edited.json")
    expect = synth.match_events(truth.reactions, kept)
    assert (expect.found, expect.false) == (match.found - 1, match.false + 1)

    scored = run_heldout("score", str(truth_file), str(tmp_path / "edited.json"))
    assert scored.returncode == 0, scored.stderr
    lines = scored.stdout.strip().splitlines()
    assert lines[0] == (
        f"{expect.found} of {expect.events} reactions found, {expect.false} of "
        f"{expect.highlights} highlights false: precision {expect.precision:.2f}, recall "
        f"{expect.recall:.2f}, F1 {expect.f1:.2f}; precision of the {len(truth.reactions)} "
        f"best {synth.top_precision(truth.reactions, kept):.2f}")
    missed = match.event_of[gone]
    bed = _bed_in_words(truth.beds, missed.time)
    assert f"missed: the reaction at {position(missed.time)} ({missed.duration:.1f} s, " \
           f"+{missed.gain_db:.0f} dB over its bed of {bed})" in lines
    assert f"false: highlight 99 at {position(quiet)} (made up)" in lines
    assert len(lines) == 1 + len(expect.missed) + expect.false
    # a reader that goes away (`… score … | head -1`) ends it quietly, as it ends m0
    read, write = os.pipe()
    os.close(read)
    try:
        gone = subprocess.run([sys.executable, "-m", "m0core.dev.heldout", "score",
                               str(truth_file), str(tmp_path / "edited.json")], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert gone.returncode == 141 and gone.stderr == "", gone.stderr

    for args, says in ((("score", str(path), str(run_json)), "not a truth file"),
                       (("score", str(truth_file), str(tmp_path / "none.json")),
                        "cannot read"),
                       (("score", str(truth_file), str(truth_file)),
                        "not a highlights.json from m0 analyze"),
                       (("make", str(tmp_path / "x.m4a"), "--seed", "1", "--bed-db", "3"),
                        "bed_db must be between")):
        failed = run_heldout(*args)
        assert failed.returncode == 1 and not failed.stdout, args
        assert failed.stderr.count("\n") == 1 and says in failed.stderr, failed.stderr
    assert not (tmp_path / "x.m4a").exists()
    (tmp_path / "y.m4a.truth.json").mkdir()  # where its truth goes, a folder: not written
    failed = run_heldout("make", str(tmp_path / "y.m4a"), "--seed", "1", "--duration", "30")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith(f"Error: {tmp_path / 'y.m4a.truth.json'}: cannot write")
    # a recording without its truth is of no use: neither is left, nor any part of them
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".", "y"))) == \
        ["y.m4a.truth.json"]


def test_a_recording_is_made_at_a_stream_s_own_rate_with_what_its_sounds_hold_over_12_khz(
        tmp_path):
    """`make --rate 48000` (a stream VOD's rate) brings the sounds to that rate and mixes them
    there: what they hold over 12 kHz, which the corpus's 24 kHz cannot carry, is in the file,
    and its truth is the one the corpus composes at that rate; a rate no recording has is
    one line and no file."""
    _require()
    path = tmp_path / "held48.m4a"
    made = run_heldout("make", str(path), "--seed", "5", "--bed-db", "-30", "--duration", "60",
                    "--rate", "48000")
    assert made.returncode == 0, made.stderr
    samples, truth = corpus.compose(60.0, seed=5, bed_db=-30.0, split="validation",
                                    rate=48000)
    doc = json.loads((tmp_path / "held48.m4a.truth.json").read_text())
    assert truth.reactions and [synth.Event(**e) for e in doc["reactions"]] == truth.reactions
    assert len(samples) == 60 * 48000 and probe(path).sample_rate == 48000

    def over_12_khz(x: np.ndarray) -> float:  # dB of the power over 12 kHz, of all
        power = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
        return float(10 * np.log10(power[np.fft.rfftfreq(len(x), 1 / 48000) > 12000].sum()
                                   / power.sum()))

    composed, heard = over_12_khz(samples), over_12_khz(_mono(path))
    assert composed > -40.0 and heard == pytest.approx(composed, abs=6.0), (composed, heard)
    failed = run_heldout("make", str(tmp_path / "x.m4a"), "--seed", "1", "--rate", "100")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    assert "rate must be between 8000 and 192000" in failed.stderr
    assert not any(p.name.startswith((".x", "x")) for p in tmp_path.iterdir())


@HELDOUT_TOOL
def test_make_mic_puts_the_voice_through_a_filter_before_the_mix(tmp_path):
    """`make --mic obs`: the streamer's voice goes through OBS's Compressor at its defaults
    before it is mixed, as a mic filter in OBS does. On a loud bed the reactions come out
    quieter than the same seed composes them without it, at the same times; the truth says
    which filter. A filter ffmpeg refuses, or a mic on a noise bed, is one line and no file."""
    _require()
    path = tmp_path / "mic.m4a"
    made = run_heldout("make", str(path), "--seed", "5", "--bed-db", "-22", "--duration", "60",
                    "--mic", "obs")
    assert made.returncode == 0, made.stderr
    doc = json.loads((tmp_path / "mic.m4a.truth.json").read_text())
    plain, truth = corpus.compose(60.0, seed=5, bed_db=-22.0, split="validation")
    assert doc["mic"] == corpus.OBS_COMPRESSOR and truth.mic is None
    assert truth.reactions and [synth.Event(**e) for e in doc["reactions"]] == truth.reactions
    heard = _mono(path)

    def level(x: np.ndarray, event: synth.Event) -> float:  # dB over the reaction
        span = x[int(event.time * corpus.SAMPLE_RATE):int(event.end * corpus.SAMPLE_RATE)]
        return float(10 * np.log10(np.mean(span.astype(np.float64) ** 2)))

    for event in truth.reactions:
        assert level(heard, event) < level(plain, event) - 3.0, event
    for args, says in ((("--mic", "nonsense=3"), "ffmpeg refused it"),
                       (("--mic", "obs", "--split", "noise"), "leave out --mic")):
        failed = run_heldout("make", str(tmp_path / "x.m4a"), "--seed", "1", "--duration", "30",
                          *args)
        assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
        assert says in failed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mic.m4a", "mic.m4a.truth.json"]


def _stood(folder: Path) -> dict[str, tuple[float, float]]:
    """`heldout stand FOLDER` on one loud-bed recording: for each way of hearing, the
    reactions' median dB over the seconds around them and the chance one stands further than a
    stretch without one."""
    ran = run_heldout("stand", str(folder))
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("loud: 1 recording, ")
    out = {}
    for line in lines[1:3]:
        way, median, chance = re.fullmatch(
            r"  (.+): reactions ([+-][\d.]+) dB .*stands further: ([\d.]+)", line).groups()
        out[way] = (float(median), float(chance))
    return out


@HELDOUT_TOOL
def test_stand_hears_a_compressed_mic_squeeze_the_reactions_into_the_talk(tmp_path):
    """`heldout stand`: the same loud-bed seed made as it is and through OBS's Compressor on
    the mic. As made, its reactions stand far over the sound around them; through the mic they
    stand much less, and a stretch without one is harder to tell from them; in the voice's
    band a squeezed reaction still stands further than in the whole sound."""
    _require()
    for name, extra in (("made", ()), ("mic", ("--mic", "obs"))):
        made = run_heldout("make", str(tmp_path / name / "v.m4a"), "--seed", "303",
                        "--bed-db", "-20", "--duration", "240", *extra)
        assert made.returncode == 0, made.stderr
    made, mic = _stood(tmp_path / "made"), _stood(tmp_path / "mic")
    whole, voice = standing.WAYS
    assert made[whole][0] > 10.0 and made[whole][1] >= 0.95
    assert mic[whole][0] < made[whole][0] - 5.0 and mic[whole][1] < made[whole][1]
    assert mic[voice][0] > mic[whole][0] + 2.0


@HELDOUT_TOOL
def test_a_folder_of_recordings_is_tallied_against_a_batch_of_runs(tmp_path):
    """python -m m0core.dev.heldout tally FOLDER OUT: after `make` wrote recordings into
    FOLDER and `m0 batch` ran on them, one line a recording and the totals, by the same rules
    as `score`; the recordings under the bar are named; a recording with no run is named and
    the exit code is 1. `make --split noise` writes a noise bed like the benchmark's and its
    planned moments, tallied alike but held to 0.95, and apart from the stream-like ones."""
    _require()
    held, out = tmp_path / "held", tmp_path / "out"
    for seed, bed in ((911, -36.0), (912, -22.0)):
        made = run_heldout("make", str(held / f"v{seed}.m4a"), "--seed", str(seed),
                        "--bed-db", str(bed), "--duration", "60")
        assert made.returncode == 0, made.stderr
    ran = run_m0("batch", str(held / "*.m4a"), str(out), "--no-clips", "--no-report", "-q",
                 timeout=300)
    assert ran.returncode == 0, ran.stderr
    # one run given a highlight far from every reaction: that recording falls under a bar of 1
    run = out / "v912_highlights" / "highlights.json"
    doc = json.loads(run.read_text())
    events = [synth.Event(**e) for e in json.loads(
        (held / "v912.m4a.truth.json").read_text())["reactions"]]
    quiet = next(t for t in range(5, 55, 5)
                 if all(not e.time - 10 <= t <= e.end + 10 for e in events))
    best = max(row["score"] for row in doc["highlights"])  # and the best: among the N best
    doc["highlights"].append({**doc["highlights"][0], "index": 99, "peak_time": float(quiet),
                              "start": quiet - 5.0, "end": quiet + 5.0, "score": best + 1})
    run.write_text(json.dumps(doc))
    # another run with a found reaction's highlight taken away: a reaction missed, on its bed
    run = out / "v911_highlights" / "highlights.json"
    doc = json.loads(run.read_text())
    truth = [synth.Event(**e) for e in json.loads(
        (held / "v911.m4a.truth.json").read_text())["reactions"]]
    gone = next(iter(synth.match_events(truth, read_highlights(run)[0]).event_of))
    doc["highlights"] = [row for row in doc["highlights"] if row["index"] != gone]
    run.write_text(json.dumps(doc))

    expect, low, missed_on = [], [], collections.Counter()
    placed, found_at = collections.Counter(), collections.Counter()  # by whole dB over bed
    found = reactions = false = 0
    for name in ("v911.m4a", "v912.m4a"):
        doc = json.loads((held / f"{name}.truth.json").read_text())
        truth = [synth.Event(**e) for e in doc["reactions"]]
        highlights, _ = read_highlights(out / f"{Path(name).stem}_highlights" /
                                        "highlights.json")
        match = synth.match_events(truth, highlights)
        top = synth.top_precision(truth, highlights)
        expect.append(f"{name}: F1 {match.f1:.2f}, precision of the {max(1, len(truth))} best "
                      f"{top:.2f}; {match.found} of {match.events} found, {match.false} false")
        found, reactions, false = found + match.found, reactions + match.events, \
            false + match.false
        low.append((name, match.f1 < 1.0, top < 1.0))
        missed_on.update(_bed_in_words(doc["beds"], e.time) for e in match.missed)
        placed.update(int(e.gain_db) for e in truth)
        found_at.update(int(e.gain_db) for e in truth if e not in match.missed)
    assert low[1][1] and low[1][2]  # the made-up highlight is false
    assert low[0][1] and missed_on  # the reaction whose highlight was taken away is missed
    tallied = run_heldout("tally", str(held), str(out), "--bar", "1")
    assert tallied.returncode == 0, tallied.stderr
    lines = tallied.stdout.strip().splitlines()
    assert lines[:2] == expect
    assert lines[2] == (f"2 stream-like recordings: {found} of {reactions} found "
                        f"({found / reactions:.2f}), {false} false highlights")

    def named(what: str, names: list[str]) -> str:
        return f"{what}: {len(names)} of 2" + (f" ({', '.join(names)})" if names else "")

    assert lines[3:] == [named("F1 under 1", [n for n, f1, _ in low if f1]),
                         named("precision of the N best under 1", [n for n, _, t in low if t]),
                         named("either", [n for n, f1, t in low if f1 or t]),
                         "missed, by the bed they lay on: " + ", ".join(
                             f"{bed} {n}" for bed, n in missed_on.most_common()),
                         "found, by how far over their bed they were placed: " + ", ".join(
                             f"+{db}–{db + 1} dB {found_at[db]} of {n}"
                             for db, n in sorted(placed.items()))]
    assert sum(placed.values()) == reactions and sum(found_at.values()) == found

    # a recording the batch never ran: named, and the tally says so by its exit code
    (held / "v913.m4a.truth.json").write_text((held / "v911.m4a.truth.json").read_text())
    tallied = run_heldout("tally", str(held), str(out))
    assert tallied.returncode == 1
    assert "v913.m4a: no run (" in tallied.stdout
    assert tallied.stdout.strip().splitlines()[-1] == "no run: 1 (v913.m4a)"
    failed = run_heldout("tally", str(tmp_path), str(out))  # no truth files there
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    assert "no truth files" in failed.stderr
    # a noise bed like the benchmark's, its planned moments as its truth, tallied alike
    beds = tmp_path / "beds"
    made = run_heldout("make", str(beds / "n5.m4a"), "--seed", "5", "--bed-db", "-42",
                    "--split", "noise", "--duration", "90")
    moments = synth.plan_events(90.0, seed=5)
    assert made.returncode == 0 and made.stdout.strip() == \
        f"{beds / 'n5.m4a'}: {len(moments)} moments; its truth: {beds / 'n5.m4a.truth.json'}"
    doc = json.loads((beds / "n5.m4a.truth.json").read_text())
    assert [synth.Event(**e) for e in doc["reactions"]] == moments and doc["split"] == "noise"
    assert probe(beds / "n5.m4a").sample_rate == 48000
    ran = run_m0("batch", str(beds / "*.m4a"), str(tmp_path / "beds-out"), "--no-clips",
                 "--no-report", "-q")
    assert ran.returncode == 0, ran.stderr
    highlights, _ = read_highlights(tmp_path / "beds-out" / "n5_highlights" / "highlights.json")
    match = synth.match_events(moments, highlights)
    tallied = run_heldout("tally", str(beds), str(tmp_path / "beds-out"))
    assert tallied.returncode == 0, tallied.stderr
    bed_lines = tallied.stdout.splitlines()
    top = synth.top_precision(moments, highlights)
    assert bed_lines[:3] == [
        f"n5.m4a: F1 {match.f1:.2f}, precision of the {len(moments)} best {top:.2f}; "
        f"{match.found} of {match.events} found, {match.false} false",
        f"1 noise bed: {match.found} of {match.events} found "
        f"({match.found / match.events:.2f}), {match.false} false highlights",
        f"F1 under 0.95: {int(match.f1 < 0.95)} of 1" + (" (n5.m4a)" if match.f1 < 0.95 else "")]
    # a folder of both kinds: each kind's totals apart, each held to its own bar
    mixed, mixed_out = tmp_path / "mixed", tmp_path / "mixed-out"
    mixed.mkdir()
    for folder, name in ((held, "v911.m4a"), (beds, "n5.m4a")):
        for part in (name, name + ".truth.json"):
            shutil.copy(folder / part, mixed / part)
    shutil.copytree(out / "v911_highlights", mixed_out / "v911_highlights")
    shutil.copytree(tmp_path / "beds-out" / "n5_highlights", mixed_out / "n5_highlights")
    tallied = run_heldout("tally", str(mixed), str(mixed_out))
    assert tallied.returncode == 0, tallied.stderr
    totals = [line.split(":")[0] for line in tallied.stdout.splitlines()[2:]]
    assert totals == ["1 stream-like recording", "F1 under 0.9",
                      "precision of the N best under 0.9", "either",
                      "missed, by the bed they lay on",
                      "found, by how far over their bed they were placed", "1 noise bed",
                      "F1 under 0.95", "precision of the N best under 0.95", "either",
                      "found, by how far over their bed they were placed"]
    assert tallied.stdout.splitlines()[:2] == [bed_lines[0], expect[0]]
    # `make` makes the recording's folder, or says in one line why it cannot
    failed = run_heldout("make", str(run / "x.m4a"), "--seed", "1", "--duration", "30")
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith(f"Error: {run}: cannot make the folder")




def test_a_word_now_and_then_over_a_silent_room_is_not_a_highlight(tmp_path):
    """Someone silent but for a line now and then (recorded speech cut to 1.5 s, about -35
    dBFS, every 4-12 s) over room tone, and three shouted reactions 10-14 dB over that talk:
    the reactions are found and no line is a highlight (each line stood 40 dB over the room
    around it: the default before gave 11-14 false highlights in 10 minutes of this)."""
    _require()
    rng = np.random.default_rng(21)
    pool, rate = corpus.pools("validation"), corpus.SAMPLE_RATE
    mix = rng.normal(0.0, 10 ** (-75 / 20), int(DURATION * rate))  # room tone
    reactions = [40.0, 120.0, 190.0]
    t = 2.0
    while t < DURATION - 5.0:
        if not any(r - 3.0 < t < r + 7.0 for r in reactions):
            line = corpus._load(pool["talk"][int(rng.integers(len(pool["talk"])))])
            line = line[:int(1.5 * rate)] / corpus._active_rms(line[:int(1.5 * rate)])
            at = int(t * rate)
            mix[at:at + len(line)] += line * 10 ** ((-35.0 + rng.uniform(-3.0, 3.0)) / 20)
        t += rng.uniform(4.0, 12.0)
    events = []
    for r in reactions:
        shout, gain = corpus._reaction(pool["voices"], rng, rate), rng.uniform(10.0, 14.0)
        at = int(r * rate)
        mix[at:at + len(shout)] += shout / corpus._active_rms(shout) * 10 ** ((-35.0 + gain) / 20)
        events.append(synth.Event(r, len(shout) / rate, "reaction", gain))
    path = tmp_path / "sparse_talk.flac"
    soundfile.write(path, mix.astype(np.float32), rate)
    match = synth.match_events(events, m0core.analyze(path, clips=False, cache=False).highlights)
    assert (match.found, match.false) == (3, 0)


def test_a_reaction_just_over_the_margin_is_a_faint_moment_and_an_effect_as_loud_is_not(
        tmp_path):
    """Shouted reactions placed 9.5-10 dB over a music bed (the corpus places them 10-16 dB
    over it, as the heard level of their lines) alternate with game effects 8-10 dB over it.
    Between their syllables and breaths, some reactions stay over standout's 10-dB margin too
    briefly to be held; their loud part stands 8.5 dB or more over the bed for a second, and
    the check hears a voice, so they are faint moments. The effects as loud are not: more
    reactions found than without faint moments, and no faint moment false. (One effect, a
    minigun, stands +12 dB over the bed for 2.4 s, so it is held, not faint: whether it is a
    false highlight is the check's call on a held moment, with or without faint moments.)"""
    _require()
    rng = np.random.default_rng(5)
    pool, rate = corpus.pools("validation"), corpus.SAMPLE_RATE
    bed = corpus._music(int(DURATION * rate), pool["music"], rng, rate) * 10 ** (-30 / 20)
    mix, reactions, effects = bed.copy(), [], []
    for i, t in enumerate(np.arange(10.0, DURATION - 10.0, 14.0)):
        if i % 2 == 0:
            sound = corpus._reaction(pool["voices"], rng, rate)
            gain, into = rng.uniform(9.5, 10.0), reactions
        else:
            sound = corpus._load(pool["effects"][int(rng.integers(len(pool["effects"])))])
            sound, gain, into = sound[:3 * rate], rng.uniform(8.0, 10.0), effects
        length = corpus._add(mix, bed, sound, float(t), gain, rate)
        into.append(synth.Event(float(t), length / rate, "reaction", gain))
    path = tmp_path / "faint.flac"
    soundfile.write(path, mix.astype(np.float32), rate)
    found = {}
    # the second look off in both: what it would keep of a reaction the rules leave is its own
    # test's (tests/test_voiced.py)
    for name, params in (("default", {}), ("no faint", {"faint_db": 100.0, "near_chance": 1.0})):
        highlights = m0core.analyze(path, clips=False, cache=False,
                                    selector_params={**params, "second_look": False}).highlights
        match = synth.match_events(reactions, highlights)
        found[name] = (match.found, match.false, [h for h in highlights if h.kind == "faint"])
    (default, false, faint), (without, false_without, none) = found["default"], found["no faint"]
    assert default > without and false == false_without <= 1 and not none, found
    assert synth.match_events(reactions, faint).false == 0, faint
    assert faint and all(h.reason.startswith("faint: +") and "% a reaction" in h.reason
                         for h in faint), faint


@pytest.mark.slow
def test_through_a_compressor_a_reaction_at_the_recording_s_ceiling_is_a_faint_moment(
        tmp_path):
    """A stream-like recording over a loud bed (-21 dBFS), then through ffmpeg's compressor at
    OBS's defaults on the whole mix (10:1 over -18 dBFS): the compressor squeezes the
    reactions to one level, so one of four stands only +9 dB over its bed, under the margin
    and under what makes a faint moment. It reaches the recording's ceiling (as loud as its
    loudest moments), so it is a faint moment there, kept on the chance any moment needs:
    every reaction found, nothing else, where without the ceiling that one is lost."""
    _require()
    made = tmp_path / "made.flac"
    truth = corpus.write(made, DURATION, seed=347, bed_db=-21.0, split="validation")
    squeezed = tmp_path / "squeezed.m4a"
    run_ffmpeg("-i", str(made), "-af", "acompressor=threshold=0.125:ratio=10:attack=6:"
               "release=60", "-c:a", "aac", "-b:a", "160k", str(squeezed))
    runs = {name: m0core.analyze(squeezed, clips=False, cache=False,
                                 selector_params=params).highlights
            for name, params in (("default", {}),
                                 # the second look (on by default) would keep it too
                                 ("no ceiling", {"ceiling": False, "second_look": False}))}
    found = {name: synth.match_events(truth.reactions, hs) for name, hs in runs.items()}
    assert (found["default"].found, found["default"].false) == (4, 0), runs["default"]
    assert (found["no ceiling"].found, found["no ceiling"].false) == (3, 0), runs["no ceiling"]
    top = [h for h in runs["default"] if "as loud as the recording gets" in h.reason]
    assert len(top) == 1 and top[0].kind == "faint", runs["default"]
    assert round(top[0].peak_time, 2) not in {round(h.peak_time, 2)
                                              for h in runs["no ceiling"]}
    # The ceiling is counted at each candidate's own horizon: the same highlights whether
    # the scores and spectra come in pieces of 7 s, of a minute or all at once.
    curves, hops, end = bench.curves(squeezed, ["rms-streaming"])
    picks = [[(round(h.peak_time, 2), h.reason) for h in bench.select(
        curves["rms-streaming"], hops["rms-streaming"], end, "standout", None, {}, feed=feed,
        heard=bench.spectra_of(squeezed))] for feed in (7.0, 60.0, 1e6)]
    assert picks[0] == picks[1] == picks[2], picks
    assert any("as loud as the recording gets" in reason for _, reason in picks[0]), picks


@pytest.mark.slow
def test_through_a_compressed_mic_the_second_look_finds_the_squeezed_reactions(tmp_path):
    """Validation seed 605 over a loud bed (-22 dBFS), its voice through OBS's Compressor at
    its defaults before the mix (as a filter on the mic in OBS): the reactions come out a
    few dB over the talk, under the margins, where the rules alone find none; the second
    look keeps three of them (voiced), nothing else. Made without the mic, every reaction
    is the rules', and the second look adds nothing."""
    _require()
    runs = {}
    for name, mic in (("made", None), ("mic", corpus.OBS_COMPRESSOR)):
        path = tmp_path / f"{name}.m4a"
        truth = corpus.write(path, DURATION, seed=605, bed_db=-22.0, split="validation",
                             mic=mic, rate=48000)
        for look in (True, False):
            highlights = m0core.analyze(path, clips=False, cache=False,
                                        selector_params={"second_look": look}).highlights
            runs[name, look] = (synth.match_events(truth.reactions, highlights), highlights)
    (mic, highlights), (rules, _) = runs["mic", True], runs["mic", False]
    voiced = [h for h in highlights if h.kind == "voiced"]
    assert (mic.found, rules.found, len(voiced)) == (3, 0, 3), highlights
    assert synth.match_events(truth.reactions, voiced).false == 0, voiced
    assert all(h.reason.startswith("voiced: its voice's band +") for h in voiced), voiced
    (made, highlights), (_, without) = runs["made", True], runs["made", False]
    assert made.found == made.events == 4 and made.false == 0, highlights
    assert [h.peak_time for h in highlights] == [h.peak_time for h in without], highlights


@pytest.mark.slow
def test_a_sound_at_the_ceiling_that_peaks_over_its_loud_part_is_no_faint_moment(
        tmp_path, monkeypatch):
    """The detection table's recording of validation seed 101 (10 minutes, a -38 dBFS bed), as
    made, not squeezed: a sound at 4:08 reaches the recording's ceiling, its loud part 6 dB over
    its bed for 3 s, but it peaks more than 4 dB over that loud part, as a sound no compressor
    flattened does; so it is no faint moment. Were the crest not asked (any peak), it would be
    one, and a false highlight (the check gives it 17 %)."""
    _require()
    path = tmp_path / "v101.m4a"
    truth = corpus.write(path, 600.0, seed=101, bed_db=-38.0, split="validation")
    runs = {}
    for name, crest in (("default", standout.CEILING_CREST_DB), ("any crest", 100.0)):
        monkeypatch.setattr(standout, "CEILING_CREST_DB", crest)
        runs[name] = m0core.analyze(path, clips=False, cache=False).highlights
    default, loose = (synth.match_events(truth.reactions, runs[n]) for n in runs)
    assert (loose.found, loose.false) == (default.found, default.false + 1), runs
    ceiling = [h for h in runs["any crest"] if "as loud as the recording gets" in h.reason]
    assert [round(h.peak_time) for h in ceiling] == [248], ceiling
    assert not [h for h in runs["default"] if "as loud as the recording gets" in h.reason]


@pytest.mark.slow
def test_a_reaction_near_a_moment_is_kept_where_the_check_is_sure(tmp_path):
    """Two stream-like recordings of talk and long pauses (the corpus's, 4 minutes each): in
    each, one reaction beside a pause stands just under what makes a moment (the talk around
    it raises its bed), and the check is sure it is a reaction (95 % or more), so it is kept
    as a faint moment; with ``near_chance`` 1 (such moments never sure enough) and no second
    look it is lost.
    Every reaction is found and nothing else is a highlight."""
    _require()
    for seed, bed_db in ((700, -34.4), (705, -29.7)):
        path = tmp_path / f"near{seed}.flac"
        truth = corpus.write(path, DURATION, seed=seed, bed_db=bed_db, split="validation",
                             beds=("silence", "talk"))
        kept = m0core.analyze(path, clips=False, cache=False).highlights
        # (and no second look, which would keep it too)
        unsure = m0core.analyze(path, clips=False, cache=False,
                                selector_params={"near_chance": 1.0,
                                                 "second_look": False}).highlights
        match, without = (synth.match_events(truth.reactions, hs) for hs in (kept, unsure))
        assert (match.found, match.false) == (len(truth.reactions), 0), kept
        assert (without.found, without.false) == (len(truth.reactions) - 1, 0), unsure
        near = [h for h in kept if round(h.peak_time, 2) not in
                {round(u.peak_time, 2) for u in unsure}]
        assert len(near) == 1 and near[0].kind == "faint", near
        assert int(near[0].reason.rsplit(": ", 1)[1].split(" %")[0]) >= 95, near


@pytest.mark.slow
def test_the_same_stream_at_a_lower_gain_gives_the_same_highlights(tmp_path):
    """A quiet stream of talk with long pauses over a room's hum, and the same stream 6 dB
    quieter (a creator's mix set lower): the same highlights at the same times. The hum
    between the lines, then under -90 dB, is bed at either gain, not digital silence (as it
    was when m0 took everything under -90 dB for silence: a highlight of four lost)."""
    _require()
    path = tmp_path / "quiet.m4a"
    corpus.write(path, DURATION, seed=311, bed_db=-38.0, split="validation",
                 beds=("silence", "talk"))
    lower = tmp_path / "lower.flac"
    run_ffmpeg("-i", str(path), "-af", "volume=-6dB", "-c:a", "flac", "-sample_fmt", "s32",
               str(lower))
    as_made = m0core.analyze(path, clips=False, cache=False)
    lowered = m0core.analyze(lower, clips=False, cache=False)
    assert np.mean(lowered.scores < -90.0) > 0.05  # the hum now lies under -90 dB
    assert len(as_made.highlights) >= 3
    assert [round(h.peak_time, 1) for h in lowered.highlights] == \
        [round(h.peak_time, 1) for h in as_made.highlights]
