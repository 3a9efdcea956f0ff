"""``standout``: the default selector — moments that stand out of the running level of the
recording, judged at three time scales against how much the recording itself moves there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from m0core.checks import number
from m0core.errors import OptionError
from m0core.levels import audible_percentiles, clean, ignored_silence, values_per_second
from m0core.model import Highlight, Line, Timeline

from . import params
from .spacing import Candidate, PeakSpacer

_EMPTY = np.zeros(0, dtype=np.float64)
#: Seconds whose windows one vectorised call judges at most, and at least once they are ready.
_BLOCK = 200
_BATCH = 30

#: The time scales: seconds of the span that measures the level around a value, and the name
#: a reason gives the scale. Over 2 s the measure is the mean excess over the running level
#: (high for a level held for seconds, a reaction; low for a bang, a door slam); over 0.5 s
#: the mean power; over one value the value itself.
SCALES = ((2.0, "held"), (0.5, "burst"), (0.1, "peak"))

#: Sensitivity 0 … 1 moves every margin by this many dB (0.5 is the default: no change).
SENSITIVITY_DB = 8.0


def sensitivity_value(value: float) -> float:
    """``value`` checked as a sensitivity: a number from 0 (fewest) to 1 (most)."""
    return number("sensitivity", value, low=0.0, high=1.0)


@dataclass
class _Run:
    """Consecutive standing-out values (gaps shorter than ``join``): one candidate."""

    start: int
    last: int
    over: float        # the most a measure exceeded its limit (dB), and that measure's
    excess: float      # excess over the running level
    scale: int
    peak: int
    peak_db: float
    held: float        # the largest held measure (mean excess over 2 s) within the run


class Standout:
    """Moments that stand out of the running level, so one default fits quiet and loud,
    talky, musical and noisy recordings.

    The **running level** around each second is the mean power of the ``window`` seconds
    before it and of the ``window`` seconds after it (each ``gap`` seconds away from it, so
    the moment itself is mostly outside), each without its loudest values (only those up to
    its ``percentile``-th percentile: the bed as heard, without the moments), whichever is
    higher — so the start of loud music or the end of a quiet passage is not a
    moment, and a moment of a few seconds does not raise its own reference.

    Three measures stand out of it at three time scales:

    - **held**: the mean over 2 s of how far the values rise over the running level (0 where
      they do not). A reaction or a cheer — seconds of loud voice — rises by ``margin_db``
      and more; a door slam or a game effect of a tenth of a second barely moves it.
    - **burst**: the mean power of 0.5 s (a shout), and **peak**: the value itself (a bang).
      Their margins ``burst_db`` and ``peak_db`` are at least ``steady`` times how widely
      the values range around the second (p90 − p10 within ``±window``): on a steady bed
      (noise, hum) a short bang is a moment; on talk and music, which rise and fall all the
      time, a short bang must be far louder than anything around it.

    ``sensitivity`` (0 … 1, default 0.5) lowers (towards 1) or raises every margin by up to
    ``SENSITIVITY_DB / 2`` dB: the same shift in dB over the recording's own running level on
    any recording. Digital silence (under :data:`m0core.levels.SILENT_DB`: before a
    late-starting track, in a gap of the timestamps) is left out of the running level and
    the range while it is less than half of their span, as ``adaptive`` does.
    Values that stand out less than ``join`` seconds apart form one moment.
    Its **score**, by which ``--max-clips`` ranks, is its largest held measure (dB: how far
    and how long it rose); its peak is its loudest value; its ``reason`` says by how much it
    rose over the running level, at which scale and for how long. Decisions wait ``window``
    seconds for the running level after them (and are made for half a minute at a time);
    memory is bounded.

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
        sensitivity: float = 0.5,
        window: float = 8.0,
        gap: float = 1.0,
        percentile: float = 80.0,
        margin_db: float = 7.0,
        burst_db: float = 9.0,
        peak_db: float = 9.0,
        steady: float = 3.0,
        floor_db: float = -60.0,
        join: float = 1.0,
    ) -> None:
        self.timeline = params.timeline(timeline)
        hop = self.timeline.hop
        t = params.threshold(threshold)
        self.floor = number("floor_db", floor_db) if t is None else t
        shift = (0.5 - sensitivity_value(sensitivity)) * SENSITIVITY_DB
        self.margins = np.array([number(n, v, above=0.0) for n, v in (
            ("margin_db", margin_db), ("burst_db", burst_db), ("peak_db", peak_db))]) + shift
        self.steady = number("steady", steady, low=0.0)
        self.percentile = number("percentile", percentile, low=0.0, high=100.0)
        self._size = values_per_second(hop)
        self._half = max(1, int(round(number("window", window, above=0.0)
                                      / (self._size * hop))))
        self._widths = [max(1, int(round(seconds / hop))) for seconds, _ in SCALES]
        self._held_left = self._widths[0] // 2
        self._held_right = self._widths[0] - 1 - self._held_left
        self._pad = max(self._widths) // 2 + 1
        self._gap = int(round(number("gap", gap, low=0.0, high=60.0) / (self._size * hop)))
        self._join = max(1, int(round(number("join", join, low=0.0) / hop)))
        if hop > 1.0:
            raise OptionError("the standout selector needs at least one score value a second")
        self._raw, self._r0 = _EMPTY, 0       # raw values from absolute index _r0
        self._meas = np.zeros((2, 0))         # their measures (burst, peak)
        self._m = 0                           # values measured
        self._n = 0                           # values received
        self._bin = 0                         # next second to judge
        self._run: _Run | None = None
        self._spacer = PeakSpacer(self.timeline)
        self._limit = bytearray()  # float64 per judged second: running level + held margin

    # -- the stream -----------------------------------------------------------------------

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Take the next score values; returns the highlights that became final."""
        new = clean(scores)
        self._raw = np.concatenate([self._raw, new])
        self._n += len(new)
        self._measure_upto(self._n - self._pad, final=False)
        # Second k needs the measures of the seconds up to k + half. Seconds are judged in
        # batches of _BATCH (numpy's per-call cost is most of the work for a few seconds).
        last = self._m // self._size - self._half - self._gap - 1
        out = self._judge_upto(last) if last - self._bin + 1 >= _BATCH else []
        self._trim()
        start = self._run.start if self._run else self._bin * self._size
        return out + self._spacer.advance(self.timeline.time(start))

    def finish(self) -> list[Highlight]:
        """Judge what is left (windows cut at the end); returns the last highlights."""
        self._measure_upto(self._n, final=True)
        out = self._judge_upto(-(-self._n // self._size) - 1)
        if self._run is not None:
            out += self._close()
        return out + self._spacer.finish()

    def line(self) -> Line:
        """The level the held measure had to reach: the running level plus the held margin,
        one value per second bin (after :meth:`finish`)."""
        return Line(self._size * self.timeline.hop, np.frombuffer(self._limit, dtype=np.float64))

    # -- measuring ------------------------------------------------------------------------

    def _measure_upto(self, end: int, *, final: bool) -> None:
        """The three measures (rows: held, burst, peak) of the values up to index ``end``:
        percentiles over spans centred on each value, cut at the ends of the recording."""
        first = self._m
        if end <= first:
            return
        r0, rows = self._r0, []
        for width in self._widths[1:]:
            if width == 1:
                rows.append(self._raw[first - r0:end - r0])
                continue
            left, right = width // 2, width - 1 - width // 2
            lo, hi = max(0, first - left), min(self._n, end + right)
            part = self._raw[lo - r0:hi - r0]
            part = np.pad(part, (left - (first - lo), right - (hi - end)), mode="edge")
            # Each window summed on its own, so the values do not depend on the chunking.
            mean = sliding_window_view(np.power(10.0, part / 10.0), width).mean(axis=1)
            rows.append(10.0 * np.log10(np.maximum(mean, 1e-20)))
        self._meas = np.concatenate([self._meas, np.vstack(rows)], axis=1)
        self._m = end
        del final

    # -- judging --------------------------------------------------------------------------

    def _judge_upto(self, last: int) -> list[Highlight]:
        """Judge seconds ``self._bin … last`` (all the values they need are measured)."""
        size, half, gap, out = self._size, self._half, self._gap, []
        reach = half + gap
        whole = self._m // size  # seconds whose values are all measured
        while self._bin <= last:
            k = self._bin
            if k < reach or k + reach + 1 > whole:  # the windows are cut at an end
                level, limits = self._context(k)
                out += self._judge(k, np.array([level]), limits[None, :])
                continue
            stop = min(last + 1, whole - reach, k + _BLOCK)
            n = stop - k
            a, b = (k - reach) * size - self._r0, (stop + reach) * size - self._r0
            raw = self._raw[a:b].reshape(-1, size)  # seconds k - reach … stop + reach - 1
            before = sliding_window_view(raw[:n + half - 1], half, axis=0).reshape(n, -1)
            after = sliding_window_view(raw[half + 2 * gap + 1:], half, axis=0).reshape(n, -1)
            level = np.maximum(self._levels(before), self._levels(after))
            around = raw[gap:gap + n + 2 * half]
            out += self._judge(k, level, self._limits(
                sliding_window_view(around, 2 * half + 1, axis=0).reshape(n, -1)))
        return out

    def _context(self, k: int) -> tuple[float, np.ndarray]:
        """The running level and the three limits of second ``k``, windows cut at the ends."""
        size, half, r0 = self._size, self._half, self._r0
        i0, i1 = k * size, min((k + 1) * size, self._n)
        gap = self._gap * size
        before = self._raw[max(r0, i0 - gap - half * size) - r0:max(r0, i0 - gap) - r0]
        after = self._raw[min(self._n, i1 + gap) - r0:min(self._n, i1 + gap + half * size) - r0]
        sides = [side for side in (before, after) if len(side)]
        if not sides:
            sides = [self._raw[i0 - r0:i1 - r0]]
        level = max(float(self._levels(side[None, :])[0]) for side in sides)
        around = self._raw[max(r0, i0 - half * size) - r0:min(self._n, i1 + half * size) - r0]
        return level, self._limits(around[None, :])[0]

    def _limits(self, raw: np.ndarray) -> np.ndarray:
        """The three limits (columns) for each row of ``raw`` values around a second: the held
        margin; the burst and peak margins, at least ``steady`` × how widely the values range
        there (p90 − p10)."""
        p10, p90 = audible_percentiles(raw, [10.0, 90.0])
        width = self.steady * (p90 - p10)
        return np.maximum(self.margins,
                          np.stack([np.zeros_like(width), width, width], axis=-1))

    def _levels(self, rows: np.ndarray) -> np.ndarray:
        """The running level of each row of values: the mean power of the values up to the
        row's ``percentile``-th percentile (the bed as heard, without the moments)."""
        cut = audible_percentiles(rows, [self.percentile])[0][:, None]
        kept = (rows <= cut) & ~ignored_silence(rows)
        power = np.where(kept, np.power(10.0, rows / 10.0), 0.0)
        count = np.maximum(1, np.count_nonzero(kept, axis=1))
        return 10.0 * np.log10(np.maximum(power.sum(axis=1) / count, 1e-20))

    def _held(self, i0: int, i1: int, level: np.ndarray) -> np.ndarray:
        """The held measure of values ``i0 … i1 - 1``: the mean over 2 s around each of how
        far the values rise over its second's running ``level`` (one per value; 0 where they
        do not rise), the span cut at the ends of the recording. Each value's span is summed
        on its own, so the result does not depend on how the stream was cut."""
        r0, left, right = self._r0, self._held_left, self._held_right
        lo, hi = max(r0, i0 - left), min(self._n, i1 + right)
        pad = (left - (i0 - lo), right - (hi - i1))
        values = np.pad(self._raw[lo - r0:hi - r0], pad, constant_values=np.nan)
        spans = sliding_window_view(values, left + right + 1) - level[:, None]
        return np.nanmean(np.maximum(spans, 0.0), axis=1) if any(pad) else \
            np.maximum(spans, 0.0).mean(axis=1)

    def _judge(self, k: int, levels: np.ndarray, limits: np.ndarray) -> list[Highlight]:
        """Judge seconds ``k, k + 1, …`` (one per entry of ``levels`` and row of ``limits``)."""
        size, r0 = self._size, self._r0
        self._limit += (np.asarray(levels, dtype=np.float64) + self.margins[0]).tobytes()
        i0, i1 = k * size, min((k + len(levels)) * size, self._n)
        self._bin = k + len(levels)
        if i1 <= i0:
            return []
        level = np.repeat(np.asarray(levels, dtype=np.float64), size)[:i1 - i0]
        limit = np.repeat(np.asarray(limits, dtype=np.float64), size, axis=0)[:i1 - i0].T
        part = self._meas[:, i0 - r0:i1 - r0]
        excess = np.vstack([self._held(i0, i1, level), part - level])
        loud = np.vstack([part[:1], part])
        over = np.where(loud >= self.floor, excess - limit, -np.inf)
        return self._take(i0, i1, over, excess)

    def _take(self, i0: int, i1: int, over: np.ndarray, excess: np.ndarray
              ) -> list[Highlight]:
        out: list[Highlight] = []
        for j in np.flatnonzero((over >= 0).any(axis=0)):
            i = i0 + int(j)
            scale = int(np.argmax(over[:, j]))
            over_db = float(over[scale, j])
            raw = float(self._raw[i - self._r0])
            run = self._run
            held = float(excess[0, j])
            if run is not None and i - run.last <= self._join:
                run.last = i
                run.held = max(run.held, held)
                if over_db > run.over:
                    run.over, run.excess, run.scale = over_db, float(excess[scale, j]), scale
                if raw > run.peak_db:
                    run.peak, run.peak_db = i, raw
            else:
                if run is not None:
                    out += self._close()
                self._run = _Run(i, i, over_db, float(excess[scale, j]), scale, i, raw, held)
        if self._run is not None and i1 - 1 - self._run.last >= self._join:
            out += self._close()
        return out

    def _close(self) -> list[Highlight]:
        run, self._run = self._run, None
        seconds = (run.last - run.start + 1) * self.timeline.hop
        kind = SCALES[run.scale][1]
        reason = f"+{run.excess:.0f} dB over the running level ({kind}), {seconds:.1f} s"
        return self._spacer.push(Candidate(self.timeline.time(run.peak), run.peak_db,
                                           run.held, kind, reason))

    def _trim(self) -> None:
        """Forget values no later judgement needs (kept in slices of a few thousand)."""
        keep = max(0, (self._bin - self._half - self._gap - 2) * self._size)
        if keep - self._r0 > 4096:
            cut = keep - self._r0
            self._raw, self._meas, self._r0 = (self._raw[cut:].copy(),
                                               self._meas[:, cut:].copy(), keep)
