"""The test kit's media (``m0_media``, :mod:`m0core.testing`): made once, never replaced."""

from __future__ import annotations

import pytest

from m0core import testing

TONE = ("-f", "lavfi", "-i", "sine=f=440:duration=0.2")


def test_a_media_file_is_made_once_and_then_read_as_it_is(tmp_path, monkeypatch):
    make = testing._maker(tmp_path)
    made = make("tone.wav", *TONE)
    assert made == tmp_path / "tone.wav" and made.stat().st_size > 1000
    monkeypatch.setattr(testing, "run_ffmpeg", pytest.fail)  # made: ffmpeg is not run again
    assert make("tone.wav", *TONE) == made
    assert list(tmp_path.iterdir()) == [made]


def test_a_file_another_worker_made_first_is_never_replaced(tmp_path, monkeypatch):
    """Two pytest-xdist workers that both found no file make it both; the one that finishes
    second once replaced the first's file, under a test that was reading it (to m0 another
    file: the cache it had kept for it was not kept). The first one's file stays now."""
    make = testing._maker(tmp_path)
    theirs = tmp_path / "tone.wav"
    run = testing.run_ffmpeg

    def another_worker_first(*args: str) -> None:
        theirs.write_bytes(b"the other worker's")  # lands while this one's is being made
        run(*args)

    monkeypatch.setattr(testing, "run_ffmpeg", another_worker_first)
    assert make("tone.wav", *TONE) == theirs
    assert theirs.read_bytes() == b"the other worker's"
    assert list(tmp_path.iterdir()) == [theirs]  # this one's copy is gone


def test_a_failed_ffmpeg_leaves_nothing(tmp_path):
    make = testing._maker(tmp_path)
    with pytest.raises(RuntimeError, match="ffmpeg failed"):
        make("nothing.wav", "-f", "lavfi", "-i", "no_such_source")
    assert not list(tmp_path.iterdir())
