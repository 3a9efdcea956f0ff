"""The terminal's progress bars (m0core.cli.progress)."""

from __future__ import annotations

import io
import re

from m0core.cli.progress import ConsoleProgress
from m0core.model import MediaInfo


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
