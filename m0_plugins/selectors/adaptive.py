"""``adaptive``: relative to the local background level (the default before ``standout``)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from m0core.checks import number
from m0core.levels import audible_percentiles, clean, values_per_second
from m0core.model import Highlight, Line, Timeline

from . import params
from .spacing import Candidate, PeakSpacer
from .track import Track

#: Seconds whose windows one percentile call judges (a block is ~1 MB of windows).
_BLOCK = 200


@dataclass
class _Run:
    """Consecutive loud values (gaps shorter than ``join``) that make one candidate."""

    start: int
    last: int
    score: float
    peak: int
    peak_db: float


class Adaptive:
    """Values that stand out of the local background, so one default fits quiet and loud
    recordings.

    Score values are lightly smoothed (a power mean over ``smooth`` seconds, so a 0.15 s spike
    keeps most of its energy). Around each second, the smoothed values within ``±window``
    seconds give the background (their ``percentile``-th percentile) and the bed's spread
    (p50 − p10: the lower half, which the events themselves do not inflate). A value is loud
    when it exceeds the background by ``max(margin_db, spread × (p50 − p10))`` and reaches the
    absolute floor (``threshold`` if given, else ``floor_db``, so near-silence never counts).
    Digital silence (under :data:`m0core.levels.SILENT_DB`: before a late-starting track, in a
    gap of the timestamps) is left out of a window's background and spread while it is less
    than half of the window.
    Loud values less than ``join`` seconds apart form one burst; its peak is its loudest raw
    value and its score its most dB over the background. Decisions wait ``window`` seconds for
    the background to be known, then highlights come out progressively; memory is bounded.

    Parameters
    ----------
    timeline:
        Time of each score value, clip windows and minimum peak spacing.
    threshold:
        Absolute floor in the analyzer's unit (dBFS for RMS); ``None`` uses ``floor_db``.
    """

    def __init__(
        self,
        timeline: Timeline,
        threshold: float | None = None,
        *,
        window: float = 30.0,
        percentile: float = 25.0,
        margin_db: float = 5.0,
        spread: float = 4.0,
        floor_db: float = -60.0,
        smooth: float = 0.2,
        join: float = 1.0,
    ) -> None:
        self.timeline = params.timeline(timeline)
        hop = self.timeline.hop
        t = params.threshold(threshold)
        self.floor = number("floor_db", floor_db) if t is None else t
        self.percentile = number("percentile", percentile, low=0.0, high=100.0)
        self.margin_db = number("margin_db", margin_db, above=0.0)
        self.spread = number("spread", spread, low=0.0)
        self._size = values_per_second(hop)
        self._half = max(1, int(round(number("window", window, above=0.0)
                                      / (self._size * hop))))
        self._taps = max(1, int(round(number("smooth", smooth, low=0.0) / hop)))
        self._join = max(1, int(round(number("join", join, low=0.0) / hop)))
        self._raw = Track()                   # the values received, the oldest let go
        self._smooth = Track()                # the smoothed values, the oldest let go
        self._bin = 0                         # next second to judge
        self._run: _Run | None = None
        self._spacer = PeakSpacer(self.timeline)
        # What each second was judged by (8 bytes a second each): the report's line.
        self._background, self._limit = array("d"), array("d")

    @property
    def _n(self) -> int:
        """The values received."""
        return self._raw.end

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Take the next score values; returns the highlights that became final."""
        new = clean(scores)
        self._raw.add(new)
        self._smooth_upto(self._n - self._taps + 1)
        done = self._smooth.end
        out = self._judge_ready(done)
        self._trim()
        start = self._run.start if self._run else self._bin * self._size
        return out + self._spacer.advance(self.timeline.time(start))

    def finish(self) -> list[Highlight]:
        """Judge what is left with the windows cut at the end; returns the last highlights."""
        self._smooth_upto(self._n)
        out: list[Highlight] = []
        while self._bin * self._size < self._n:
            k = self._bin
            out += self._judge(k, self._n, *self._limits(self._window(k, self._n)))
        if self._run is not None:
            out += self._close()
        return out + self._spacer.finish()

    def line(self) -> Line:
        """The level a value had to reach, one per second bin (after :meth:`finish`)."""
        return Line(self._size * self.timeline.hop, np.frombuffer(self._limit, dtype=np.float64),
                    "adaptive threshold")

    def _smooth_upto(self, end: int) -> None:
        """Smooth the values up to index ``end``: power mean of i..i+taps-1, cut at the end."""
        first = self._smooth.end
        if end <= first:
            return
        power = np.power(10.0, self._raw.span(first, self._raw.end) / 10.0)
        total, count = np.zeros(end - first), np.zeros(end - first)
        for t in range(self._taps):
            part = power[t:t + end - first]
            total[:len(part)] += part
            count[:len(part)] += 1
        self._smooth.add(10.0 * np.log10(total / count))

    def _judge_ready(self, done: int) -> list[Highlight]:
        """Judge every second whose window is complete; ``done`` values are smoothed so far.

        Whole windows are judged in blocks: one ``np.percentile`` call per block of seconds
        instead of one per second (the per-second calls were most of a cached re-run's time).
        """
        size, half, out = self._size, self._half, []
        last = done // size - half - 1  # the last second whose window ends by ``done``
        while self._bin <= last:
            k = self._bin
            if k < half:  # the window is cut at the start of the recording
                out += self._judge(k, done, *self._limits(self._window(k, done)))
                continue
            stop = min(last + 1, k + _BLOCK)
            bins = self._smooth.span((k - half) * size, (stop + half) * size)
            windows = sliding_window_view(bins.reshape(-1, size), 2 * half + 1, axis=0)
            background, limit = self._limits(windows.reshape(stop - k, -1))
            for b, lim in zip(background.tolist(), limit.tolist(), strict=True):
                out += self._judge(self._bin, done, b, lim)
        return out

    def _window(self, k: int, done: int) -> np.ndarray:
        """The smoothed values within ``±window`` of second ``k`` (cut at both ends)."""
        size = self._size
        return self._smooth.span(max(0, k - self._half) * size,
                                 min(done, (k + self._half + 1) * size))

    def _judge(self, k: int, done: int, background: float, limit: float) -> list[Highlight]:
        """Judge the values of second ``k`` against its ``background`` and ``limit``."""
        size = self._size
        i0, i1 = k * size, min((k + 1) * size, done)
        smoothed = self._smooth.span(i0, i1)
        out: list[Highlight] = []
        for j in np.flatnonzero(smoothed >= limit):
            i, score = i0 + int(j), float(smoothed[j] - background)
            raw = float(self._raw.span(i, i + 1)[0])
            run = self._run
            if run is not None and i - run.last <= self._join:
                run.last = i
                run.score = max(run.score, score)
                if raw > run.peak_db:
                    run.peak, run.peak_db = i, raw
            else:
                if run is not None:
                    out += self._close()
                self._run = _Run(i, i, score, i, raw)
        if self._run is not None and i1 - 1 - self._run.last >= self._join:
            out += self._close()
        self._bin = k + 1
        return out

    def _limits(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Background levels and the levels a value must reach, one per row of ``windows``
        (smoothed values; a 1-D window gives 0-d arrays), recorded for :meth:`line`."""
        # Digital silence (a late-starting track, a gap filled with silence) is no background:
        # where it is less than half a window, the rest of the window decides.
        stats = audible_percentiles(np.atleast_2d(windows), [self.percentile, 10.0, 50.0])
        if np.ndim(windows) == 1:
            stats = stats[:, 0]
        background, p10, p50 = stats
        limit = np.maximum(background + np.maximum(self.margin_db, self.spread * (p50 - p10)),
                           self.floor)
        self._background.extend(np.atleast_1d(background).tolist())
        self._limit.extend(np.atleast_1d(limit).tolist())
        return background, limit

    def _close(self) -> list[Highlight]:
        run, self._run = self._run, None
        seconds = (run.last - run.start + 1) * self.timeline.hop
        return self._spacer.push(Candidate(
            self.timeline.time(run.peak), run.peak_db, run.score, "burst",
            f"burst: +{run.score:.0f} dB over the local background, {seconds:.1f} s"))

    def _trim(self) -> None:
        """Forget values no later judgement needs (kept in slices of a few thousand)."""
        self._raw.forget(self._bin * self._size)
        self._smooth.forget(max(0, self._bin - self._half) * self._size)


def threshold_line(scores: np.ndarray, timeline: Timeline, threshold: float | None = None,
                   **params: float) -> tuple[np.ndarray, np.ndarray]:
    """The background level and the loudness limit :class:`Adaptive` uses, one per second bin.

    Runs the selector itself over ``scores`` (a whole score curve); a run keeps the same line
    without running it again (:meth:`Adaptive.line`, ``AnalysisResult.line``). Bin ``k``
    covers score values ``k * values_per_second(hop)`` onwards. Returns ``(background,
    limit)`` arrays in dB.
    """
    selector = Adaptive(timeline, threshold, **params)
    selector.feed(scores)
    selector.finish()
    background = np.frombuffer(selector._background, dtype=np.float64)
    return background, np.frombuffer(selector._limit, dtype=np.float64)
