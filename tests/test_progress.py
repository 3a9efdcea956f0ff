"""The terminal's progress bars (m0core.cli.progress)."""

from __future__ import annotations

import io
import re

import pytest
from conftest import run_m0

from m0core.cli.progress import ConsoleProgress
from m0core.media.ffmpeg import ffmpeg_exe
from m0core.model import MediaInfo


@pytest.fixture(autouse=True)
def _a_terminal_that_redraws(monkeypatch) -> None:
    """A terminal that is not TERM=dumb, whatever ran the tests: there no bar is drawn."""
    monkeypatch.setenv("TERM", "xterm")


class _Terminal(io.StringIO):
    """stderr as a terminal: click draws its bars only there."""

    def isatty(self) -> bool:
        return True


def _percentages(text: str) -> list[int]:
    return [int(p) for p in re.findall(r"(\d+)%", text)]


def test_the_analysis_bar_ends_at_100_percent_when_the_decoded_seconds_fall_short(
        monkeypatch):
    # the seconds the workers decoded sum to a fraction under the file's duration (an
    # hour's mp4 decoded to 3599.98 s): the bar stopped at 99 % before the clips' bar
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = ConsoleProgress()
    progress.started(MediaInfo(path="vod.mp4", duration=3600.0, sample_rate=48000,
                               channels=2))
    progress.analysed(1800.4, 1)
    progress.analysed(3599.98, 2)
    progress.analysis_done(2, 0)
    progress.close()
    shown = _percentages(terminal.getvalue())
    assert shown == sorted(shown), shown
    assert shown[-1] == 100, shown


def test_an_analysis_of_unknown_length_still_closes_its_bar(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = ConsoleProgress()
    progress.started(MediaInfo(path="live.raw", duration=None, sample_rate=48000,
                               channels=1))
    progress.analysed(12.5, 0)
    progress.analysis_done(0, 0)
    progress.close()
    assert "Analysing" in terminal.getvalue()
    assert "%" not in terminal.getvalue()


def test_the_clips_of_max_clips_are_counted_when_the_analysis_is_done(vod, tmp_path):
    """With --max-clips the best are chosen at the end of the analysis: they were queued
    after the progress was told none was pending, so the terminal drew no 'Cutting clips'
    bar while a 6 h file's 50 clips were cut."""
    from m0core.pipeline import Progress, analyze

    told: list[tuple[int, int]] = []

    class Recording(Progress):
        def analysis_done(self, highlights: int, clips_pending: int) -> None:
            told.append((highlights, clips_pending))

    result = analyze(vod, tmp_path / "out", max_clips=2, report=False,
                     progress=Recording())
    made = [c for c in result.clips if c.ok]
    assert len(made) == 2
    assert told == [(2, 2)]


def test_the_clips_bar_counts_to_the_end_past_a_failed_clip(vod, tmp_path, monkeypatch,
                                                            request):
    """Clip 1 of 3 fails: its warning is printed above the bar, which goes on to 100 % (it
    was closed at the warning, and clips 2 and 3 were cut with no bar)."""
    from m0core.pipeline import analyze

    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in *01_0h*) exit 1;; esac\n'
                       f'exec "{ffmpeg_exe()}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("M0_FFMPEG", str(wrapper))
    ffmpeg_exe.cache_clear()
    request.addfinalizer(ffmpeg_exe.cache_clear)  # the real one again after the test
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = ConsoleProgress()
    # with max_clips the 3 clips are queued when the analysis is done: all under the bar
    result = analyze(vod, tmp_path / "out", selector="top", max_clips=3, clip_length=2,
                     workers=1, report=False, progress=progress)
    progress.close()
    assert [c.ok for c in result.clips] == [False, True, True]
    text = terminal.getvalue()
    before, warning, after = text.partition("Warning: clip 1 failed")
    assert warning and "Cutting clips" in before
    assert _percentages(after.split("\n", 1)[1])[-1] == 100, after


def test_a_progress_that_is_not_a_progress_is_one_option_error(vod, tmp_path):
    """``analyze(..., progress=lambda *a: None)`` ended in ``AttributeError: 'function' object
    has no attribute 'started'`` from inside the run, its decoders already started."""
    import pytest

    from m0core import OptionError, Progress, analyze

    with pytest.raises(OptionError, match="progress must be an m0core.Progress .* not function"):
        analyze(vod, tmp_path / "out", progress=lambda *args: None)
    assert not (tmp_path / "out").exists()

    class Recording(Progress):
        pass

    with pytest.raises(OptionError, match=r"an instance: Recording\(\), not the class"):
        analyze(vod, tmp_path / "out", progress=Recording)
    assert not (tmp_path / "out").exists()

    class Duck:  # every callback, no subclass: still welcome
        def __init__(self) -> None:
            self.calls: list[str] = []

        def started(self, media: MediaInfo) -> None:
            self.calls.append("started")

        def analysed(self, position: float, highlights: int) -> None: ...
        def clip_done(self, result: object, done: int, submitted: int) -> None: ...
        def analysis_done(self, highlights: int, clips_pending: int) -> None: ...

    duck = Duck()
    analyze(vod, None, clips=False, progress=duck)
    assert duck.calls == ["started"]


def test_the_outputs_have_a_bar_counting_the_thumbnails(vod, tmp_path, monkeypatch):
    """After the clips, the report's thumbnails (one per highlight: 360 of a 6 h recording,
    17 s) and the --format files were written with nothing on the terminal; a 'Writing
    outputs' bar counts them now, a step per thumbnail, to 100 %."""
    from m0core.pipeline import analyze

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = ConsoleProgress()
    result = analyze(vod, tmp_path / "out", selector="top", max_clips=8, clip_length=2,
                     min_gap=3, formats=("edl", "csv"), progress=progress)
    progress.close()
    assert len(result.highlights) == 8 and not result.failed_outputs
    text = terminal.getvalue()
    clips, label, writing = text.partition("Writing outputs")
    assert label and "Cutting clips" in clips, text
    shown = _percentages(writing)
    # 0 %, a step per thumbnail, the page, the EDL and the CSV: 11 steps
    assert shown == sorted(shown) and shown[-1] == 100, shown
    assert len(set(shown)) >= 10, shown


def test_the_outputs_bar_prints_its_label_alone_where_stderr_is_no_terminal(vod, tmp_path):
    """As the other bars: the label on a line of its own, nothing drawn, in a log."""
    run = run_m0("analyze", str(vod), str(tmp_path / "out"), "--no-clips", "-f", "csv")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == ["Analysing", "Writing outputs"], run.stderr


def test_the_compilation_has_a_bar_of_its_own(wav, tmp_path):
    """The compilation was made with the clips' bar standing at its end and nothing said
    (minutes for an hour of clips crossfaded); it has a bar of its own, between the clips'
    and the outputs'."""
    run = run_m0("analyze", str(wav), str(tmp_path / "out"), "--compilation",
                 "--max-clips", "2")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == ["Analysing", "Cutting clips", "Making the compilation",
                                       "Writing outputs"], run.stderr
    assert (tmp_path / "out" / "compilation.m4a").is_file()


def test_ffmpeg_s_last_progress_is_told_before_run_returns(tmp_path):
    """The thread that reads ffmpeg's ``-progress`` was left behind when ffmpeg ended: its pipe
    was closed under it, so a copy faster than the thread (a loaded machine, a slow bar) never
    told its last seconds, and ``m0 chapters``'s bar ended at 0 %."""
    import time

    from m0core.media.ffmpeg import base_command, run

    told: list[float] = []

    def slow(seconds: float) -> None:
        time.sleep(0.05)  # a bar drawing on a busy terminal
        told.append(seconds)

    run(base_command() + ["-stats_period", "0.001", "-f", "lavfi", "-i",
                          "sine=duration=20:sample_rate=8000", "-f", "null", "-"],
        timeout=60, what="test", progress=slow)
    assert told and told[-1] == pytest.approx(20.0, abs=0.2), told


def test_a_progress_callback_that_raises_stops_ffmpeg_and_run_raises_it():
    """A progress callback that raised ended the thread reading ffmpeg's ``-progress``: nobody
    read the pipe any more, so ffmpeg waited on it once full (until its timeout, or for ever),
    and the exception was only printed by that thread. ffmpeg is stopped at once, and ``run``
    raises the callback's exception in its caller's thread."""
    from m0core.media.ffmpeg import base_command, run

    class BarBroke(Exception):
        pass

    def broken(seconds: float) -> None:
        raise BarBroke("the bar broke")

    # a minute of sound read in real time: ffmpeg would run for a minute
    with pytest.raises(BarBroke, match="the bar broke"):
        run(base_command() + ["-stats_period", "0.001", "-re", "-f", "lavfi", "-i",
                              "sine=duration=60:sample_rate=8000", "-f", "null", "-"],
            timeout=30, what="test", progress=broken)
