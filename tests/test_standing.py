"""m0core.dev.standing and `python -m m0core.dev.heldout stand`: how far the reactions of a
folder of recordings stand out of the sound around them, heard whole and in the voice's band.
Real ffmpeg on sound generated here; the stream-like corpus's case is in
test_detection_real.py (it needs the corpus's packages)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import run_heldout

from m0core.dev import standing
from m0core.errors import InputError
from m0core.testing import run_ffmpeg


def test_a_stretch_stands_by_its_loudest_third_over_the_seconds_around_it():
    values = np.full(600, -30.0)
    values[100:130] = -18.0          # 3 s at +12 dB, from 10 s on
    values[100:110] = -40.0          # its first second far under: not in its loudest third
    assert standing.stands(values, 10.0, 13.0) == pytest.approx(12.0, abs=1e-6)
    values[0:30] = -18.0             # at the start: only the seconds after it are around
    assert standing.stands(values, 0.0, 3.0) == pytest.approx(12.0, abs=1e-6)
    assert standing.stands(values, 20.0, 20.05) is None          # no whole frame in it
    assert standing.stands(values[:30], 0.0, 3.0) is None        # nothing around it


def test_stretches_without_a_reaction_keep_clear_of_every_reaction_and_both_ends():
    reactions = [(20.0, 23.0), (40.0, 44.5)]
    stretches = standing.without(60.0, reactions)
    assert len(stretches) >= 4
    for start, end in stretches:
        assert end - start == pytest.approx(standing.STRETCH)
        assert start >= standing.AROUND and end <= 60.0 - standing.AROUND
        for a, b in reactions:
            assert end + standing.CLEAR <= a or start - standing.CLEAR >= b


def test_separation_is_the_chance_a_reaction_stands_further():
    assert standing.separation([10.0, 12.0], [1.0, 2.0, 3.0]) == 1.0
    assert standing.separation([1.0, 2.0], [10.0, 12.0]) == 0.0
    assert standing.separation([5.0], [5.0]) == 0.5
    assert standing.separation([2.0, 6.0], [1.0, 4.0]) == 0.75
    assert np.isnan(standing.separation([], [1.0]))


def test_a_recording_is_grouped_by_its_beds_level():
    assert [standing.group_of(db) for db in (-45.0, -33.5, -33.0, -26.1, -26.0, -18.0)] == \
        ["quiet", "quiet", "normal", "normal", "loud", "loud"]
    assert standing.group_of(float("nan")) == standing.UNKNOWN


def test_the_voice_band_hears_a_voice_pitched_tone_and_not_a_bass_one(tmp_path):
    path = tmp_path / "tones.wav"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=1000:duration=5:sample_rate=48000",
               "-f", "lavfi", "-i", "sine=frequency=100:duration=5:sample_rate=48000",
               "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1", str(path))
    whole, voice = standing.levels(path)
    assert len(whole) == len(voice) == pytest.approx(100, abs=1)
    high, low = slice(5, 45), slice(55, 95)
    assert np.ptp(whole[5:95]) < 0.5                        # the same level, whole
    assert np.all(np.abs(voice[high] - whole[high]) < 0.1)  # all of 1 kHz is in the band
    assert np.all(voice[low] < whole[low] - 40.0)           # next to none of 100 Hz is


def test_a_recording_that_cannot_be_decoded_is_one_line(tmp_path):
    bad = tmp_path / "bad.m4a"
    bad.write_bytes(b"not a recording at all" * 100)
    with pytest.raises(InputError, match=r"bad\.m4a: not a media file ffmpeg can read \("):
        standing.levels(bad)
    blip = tmp_path / "blip.wav"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=1000:duration=0.05", str(blip))
    with pytest.raises(InputError, match=r"blip\.wav: less than 0\.1 s of audio in it"):
        standing.levels(blip)
    blip.unlink()
    (tmp_path / "bad.m4a.truth.json").write_text(
        '{"schema": "m0.corpus-truth/1", "reactions": [], "split": "validation", '
        '"bed_db": -30}')
    for folder, says in ((tmp_path, "not a media file ffmpeg can read"),
                         (tmp_path / "none", "not a folder")):
        failed = run_heldout("stand", str(folder))
        assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
        assert failed.stderr.startswith("Error: ") and says in failed.stderr
        assert "Traceback" not in failed.stderr


def test_stand_says_how_far_a_noise_beds_moments_stand(tmp_path):
    """`heldout stand` on a noise bed `make` wrote: its moments stand well over the noise,
    said for the noise beds and for all, each way of hearing."""
    made = run_heldout("make", str(tmp_path / "n1.flac"), "--seed", "3", "--bed-db", "-35",
                    "--split", "noise", "--duration", "120")
    assert made.returncode == 0, made.stderr
    ran = run_heldout("stand", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    moments = int(re.search(r"(\d+) moments?;", made.stdout).group(1))
    assert moments >= 3
    assert lines[0] == f"noise beds: 1 recording, {moments} reactions"
    assert lines[3] == f"all: 1 recording, {moments} reactions"
    assert lines[1:3] == lines[4:6]                            # one group: all is the same
    for line, way in zip(lines[1:3], standing.WAYS, strict=True):
        found = re.fullmatch(rf"  {way}: reactions \+([\d.]+) dB .*stretches without one "
                             rf"[+-]([\d.]+) dB .*stands further: ([\d.]+)", line)
        assert found, line
        assert float(found.group(1)) > 6.0 and float(found.group(2)) < 3.0
        assert float(found.group(3)) >= 0.9
