"""``standout``: the default selector — moments held well over the bed around them (a reaction,
a cheer), or a short burst over a steady bed where bursts are rare."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from m0core.checks import flag, number, whole
from m0core.errors import OptionError
from m0core.judge import check, spectra, voiced
from m0core.judge.check import LOOSE_SENSITIVITY, Earlier
from m0core.levels import (
    RunningPercentile,
    audible_percentiles,
    audible_power_mean,
    clean,
    ignored_silence,
    median,
    values_per_second,
)
from m0core.model import Highlight, Line, Timeline

from . import params
from .spacing import Candidate, PeakSpacer
from .track import Track
from .voiced import SecondLook

#: Seconds whose running level one vectorised call computes at most.
_BLOCK = 200
#: Seconds whose running level waits for this many to be ready (not at the end): a few
#: vectorised calls an hour instead of one per fed chunk (a decision waits ``context``
#: seconds after its candidate anyway).
_BATCH = 60

#: The running level's window on each side of a second, at most (seconds): an hour.
WINDOW_MOST = 3600.0

#: The loud peaks of a stretch, from which its level as heard counts ``heard_db`` down.
HEARD_PERCENTILE = 98.0

#: A faint moment's loud part: its values within this many dB of its loudest (the sound as
#: heard, as the corpus and a listener measure a voice's level, without its pauses and tails).
FAINT_WITHIN_DB = 10.0

#: A candidate peaking at the margin is *near* a moment when its loud part stands this many dB
#: under ``faint_db`` over its bed, for this many seconds of such values, at least.
NEAR_FAINT_DB = 1.5
NEAR_FAINT_HOLD = 0.7

#: A candidate is at the recording's **ceiling** when its loudest value comes within
#: ``CEILING_DB`` of the ``CEILING_PERCENTILE``-th percentile of the recording's values so far
#: (the level its loudest moments reach: where a compressor squeezes them, one level).
CEILING_PERCENTILE = 99.9
CEILING_DB = 1.0
#: One at the ceiling is faint where its loud part stands this many dB under ``faint_db``.
CEILING_UNDER_FAINT_DB = 2.5
#: ... and its loudest value at most this many dB over its loud part's level (squeezed flat, as
#: a compressor leaves a loud moment; a sound left as it was peaks further over its loud part).
CEILING_CREST_DB = 4.0
#: Seconds a decision waits for at the recording's start (where the ceiling is heard), so
#: the ceiling is the recording's, not a first loud moment's own.
CEILING_SEEN = 120.0

#: Sensitivity 0 … 1 moves every margin by this many dB (0.5 is the default: no change).
SENSITIVITY_DB = 8.0


def sensitivity_value(value: float) -> float:
    """``value`` checked as a sensitivity: a number from 0 (fewest) to 1 (most)."""
    return number("sensitivity", value, low=0.0, high=1.0)


@dataclass
class _Span:
    """Consecutive values over the running level (gaps up to ``join``): one candidate."""

    start: int
    last: int
    measured: bool = False
    loud: float = 0.0      # its loudest value over its bed (dB)
    ok: bool = False
    score: float = 0.0
    peak: int = 0
    peak_db: float = 0.0
    kind: str = ""
    reason: str = ""
    bar: float = 0.0       # the chance the check must give a faint one


class Standout:
    """Moments that stand out of the bed around them, so one default fits quiet and loud,
    talky, musical and noisy recordings.

    1. **Candidates.** The running level of each second is the mean power of the values of the
       ``window`` seconds on each side of it (leaving out the ``gap`` seconds next to it, so a
       moment of a few seconds does not raise its own reference) without their loudest ones
       (only those up to its ``percentile``-th percentile: the bed as heard). Values
       ``rise_db`` over it (or ``burst_db``, if less, where those values range less than
       ``steady`` dB, p90 - p10: on a steady bed, a bang of a fifth of a second is spread
       over two score values and measures a dB or two under its level), with gaps of at most
       ``join`` seconds, form a candidate (at most ``longest`` seconds). A gap of up to
       ``bridge`` seconds joins too when its values stay within ``bridge_db`` of the running
       level (the bed between the lines of one reaction, not a pause: those lines are one
       moment, judged against the bed around them all).
    2. **Its bed** is the mean power of the ``side`` seconds before and after the candidate
       (the bed as a listener hears it around the moment: talk, music, noise). Where those
       seconds are mostly a pause — their median more than ``pause_db`` under the loud part
       of the ``context`` seconds on each side (their 90th percentile), or under those
       seconds' level as heard where they hold talk (at least ``talk`` separate sounds, more
       than ``bridge`` apart, within ``talk_db`` of their loud peaks: not one loud moment or
       two) — the bed is at least those seconds' level as heard less ``context_db``. That
       level is the mean power of their values within ``heard_db`` of their loud peaks (the
       98th percentile): the talk without the pauses between its lines. So talk resuming
       after a long pause is not a moment, nor a word now and then over a silent room, nor a
       game's sound as loud as that talk, while a quiet passage of music keeps its own,
       quieter bed, and two loud moments over a silent room do not hide each other. Where
       the recording's start or end cuts one side of these seconds, as many more are read on
       the other.
    3. **A moment** is a candidate that stays ``margin_db`` over its bed for ``hold`` seconds
       in all, and by ``excess`` dB·s in all (the dB over the margin, summed over those
       seconds: a long moment just over it or a short one far over it) (**held**: a reaction,
       a cheer; a game effect, a door slam or a swell of the music does not stay that far over
       for that long), or — on a steady bed only (the
       values around, but for the ``gap`` seconds next to it, range less than ``steady`` dB,
       p90 − p10) — rises ``burst_db`` over it
       at all (**burst**: a bang on a quiet room), unless the values rose ``busy_db`` over
       the running level at ``busy`` or more other places (gaps of at most ``join``) within
       ``busy_window`` seconds (then bursts are the game's sound, not moments, even where
       that sound stays under what makes a candidate; where the recording's start or end
       cuts those seconds on one side, as many more are read on the other, and only a
       recording shorter than twice ``busy_window`` asks proportionally fewer).
       A candidate that is neither may still be **faint** (with the check only, below): its
       loud part — its values within :data:`FAINT_WITHIN_DB` of its loudest — stands
       ``faint_db`` over its bed (mean power) for ``faint_hold`` seconds of such values in
       all (a reaction placed just over the margin whose syllables and breaths leave too
       little of it over the margin itself, a voice as loud as the talk between long pauses).
       One that is not is faint too where it is **near** a moment, kept on a surer chance
       (``near_chance``, below): held ``near_db`` dB under the margin (``hold`` and
       ``excess`` counted from there), or peaking at the margin with its loud part
       :data:`NEAR_FAINT_DB` under ``faint_db`` for :data:`NEAR_FAINT_HOLD` seconds (a
       reaction beside a pause, whose bed the talk around it raises; one placed just over the
       margin that stays there more briefly still). One **at the ceiling** (``ceiling``, on
       by default) is faint too, kept on the chance any moment needs
       (:data:`~m0core.judge.check.DROP_BELOW`): its loudest value within
       :data:`CEILING_DB` of the recording's ceiling (the :data:`CEILING_PERCENTILE`-th
       percentile of its values up to the end of the candidate's ``context``), its loud part
       :data:`CEILING_UNDER_FAINT_DB` under ``faint_db`` over its bed for ``faint_hold``
       seconds, its loudest value at most :data:`CEILING_CREST_DB` over its loud part: a
       compressor on the whole mix squeezes a reaction over a loud bed to the level of the
       recording's loudest moments, under the margin, and flat, while a sound that is no
       moment seldom reaches that level so flat in a recording that is not squeezed. Decisions wait
       until :data:`CEILING_SEEN` seconds are heard, so the ceiling is the recording's.

    4. **The check** (``check``, on by default): a moment is also judged by what it sounds
       like, when the pipeline gives the spectra of the audio (:meth:`listen`): a model
       trained on recorded reactions, game effects, music and talk
       (:mod:`m0core.judge.check`) gives the chance that it is a reaction (a shouted voice,
       a laugh, a cheer) rather than a game effect, a swell of the music or a door slam as
       loud, and a moment under :data:`~m0core.judge.check.DROP_BELOW` is dropped (a kept
       one's ``reason`` says its chance, and its score is weighed by it); a faint one is kept
       only where the check judged it and gave it ``faint_chance`` or more, a near one
       ``near_chance`` or more. The check hears
       the sound alone, not the moment's score, so a moment's chance is the same at any
       sensitivity. It hears each moment against the recording's own loud moments before
       it: those a second ``standout`` at sensitivity
       :data:`~m0core.judge.check.LOOSE_SENSITIVITY` (its other settings their defaults, no
       check) finds in the same scores, so a moment is judged once that one has given every
       loud moment up to it. Without spectra (audio under 22,050 Hz; a selector fed scores
       alone) nothing is dropped, and no moment is faint.
    5. **The second look** (``second_look``, on by default; with the check, where a score
       value is a whole number of spectra frames): a compressor on the streamer's mic
       squeezes a shout to a few dB over the talk, under every margin above. The loose
       moments of the scores and of the level of the voice's band (500–1,650 Hz, from the
       spectra) at least ``min_gap`` seconds from every moment kept above are judged by a
       second model (:mod:`m0core.judge.voiced`, trained on what the steps above leave),
       which reads what the check reads, how far both levels stand over the half minute
       around and the five minutes before, and how far the recording's loudest values stood
       over its usual ones then; one at least ``min_gap`` seconds from every other is kept
       (**voiced**) where its chance is :data:`~m0core.judge.voiced.KEEP_FROM` or more (at
       sensitivity 0.5; each 0.1 of sensitivity moves that by
       :data:`~m0core.judge.voiced.KEEP_STEP`, so 0 keeps none and 1 keeps from 30 %). Its
       score is its chance times :data:`~m0core.judge.voiced.SCORE`: it ranks after every
       moment kept above. Its decision waits until the moments above are decided ``min_gap``
       seconds past it, and the levels reach 30 s past it.

    ``sensitivity`` (0 … 1, default 0.5) lowers (towards 1) or raises every margin by up to
    ``SENSITIVITY_DB / 2`` dB: the same shift in dB over the recording's own bed on any
    recording (``excess`` counts from the shifted margin; ``faint_db`` moves with them);
    ``busy_db`` stays, as whether a stretch is busy is the recording's, not the
    sensitivity's (a higher sensitivity does not make bumps count against a burst that they
    did not count against before). Digital
    silence (under :data:`m0core.levels.SILENT_DB`: before a late-starting track, in a gap
    of the timestamps) is left out of every level and range while it is less than half of
    the values. A moment's
    **score**, by which ``--max-clips`` ranks (and which of two moments too close together
    stays), is how far and how long it stayed over the margin (its ``excess``, dB·s; a
    burst's: its dB over ``burst_db``, summed; a faint one's, under a held one's, may be 0),
    times the check's chance where the check
    judged it (so of two moments as far over, the one that sounds more like a reaction ranks
    first); its peak is its loudest value; its ``reason`` says by how much and how long. A
    decision waits ``context`` seconds after its candidate (a burst ``busy_window`` seconds,
    up to twice that near the recording's start; with the check and the ceiling, none
    before :data:`CEILING_SEEN` seconds are heard);
    memory is bounded.

    Parameters
    ----------
    timeline:
        Time of each score value, clip windows and minimum peak spacing.
    threshold:
        Absolute floor in the analyzer's unit (dBFS for RMS): a moment's loudest value must
        reach it; ``None`` uses ``floor_db``.
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
        rise_db: float = 8.0,
        join: float = 1.0,
        bridge: float = 2.0,
        bridge_db: float = 6.0,
        longest: float = 12.0,
        side: float = 4.0,
        context: float = 30.0,
        context_db: float = 5.0,
        pause_db: float = 20.0,
        heard_db: float = 25.0,
        talk: int = 3,
        talk_db: float = 12.0,
        margin_db: float = 10.0,
        hold: float = 0.4,
        excess: float = 1.0,
        burst_db: float = 6.0,
        steady: float = 3.0,
        busy: int = 3,
        busy_window: float = 45.0,
        busy_db: float = 6.0,
        floor_db: float = -60.0,
        faint_db: float = 8.5,
        faint_hold: float = 1.0,
        faint_chance: float = 0.75,
        near_db: float = 2.0,
        near_chance: float = 0.95,
        check: bool = True,
        ceiling: bool = True,
        second_look: bool = True,
    ) -> None:
        self.timeline = params.timeline(timeline)
        hop = self.timeline.hop
        if hop > 1.0:
            raise OptionError("the standout selector needs at least one score value a second")
        t = params.threshold(threshold)
        self.floor = number("floor_db", floor_db) if t is None else t
        shift = (0.5 - sensitivity_value(sensitivity)) * SENSITIVITY_DB
        self.margin = number("margin_db", margin_db, above=0.0) + shift
        self.burst = number("burst_db", burst_db, above=0.0) + shift
        self.faint = number("faint_db", faint_db, above=0.0) + shift
        self._faint_hold = number("faint_hold", faint_hold, low=0.0)
        self.faint_chance = number("faint_chance", faint_chance, low=0.0, high=1.0)
        self.near_db = number("near_db", near_db, low=0.0)
        self.near_chance = number("near_chance", near_chance, low=0.0, high=1.0)
        self.rise = min(number("rise_db", rise_db, above=0.0) + shift, self.margin)
        self.percentile = number("percentile", percentile, low=0.0, high=100.0)
        self.context_db = number("context_db", context_db)
        self.pause_db = number("pause_db", pause_db)
        self.heard_db = number("heard_db", heard_db, above=0.0)
        self.talk = whole("talk", talk, low=1)
        self.talk_db = number("talk_db", talk_db, above=0.0)
        self.steady = number("steady", steady, low=0.0)
        self.busy = whole("busy", busy, low=1)
        self.busy_db = number("busy_db", busy_db)
        self._size = values_per_second(hop)
        seconds = number("window", window, above=0.0, high=WINDOW_MOST)
        self._half = max(1, int(round(seconds / (self._size * hop))))
        self._gap = int(round(number("gap", gap, low=0.0, high=60.0) / (self._size * hop)))

        def values(name: str, seconds: float, low: float = 0.0) -> int:
            return max(1, int(round(number(name, seconds, low=low) / hop)))

        self._join = values("join", join)
        self._bridge = max(self._join, values("bridge", bridge))
        self.bridge_db = number("bridge_db", bridge_db, low=0.0)
        self._longest = values("longest", longest, low=hop)
        self._side = values("side", side, low=hop)
        self._context = values("context", context, low=hop)
        self._busy_window = values("busy_window", busy_window)
        self._hold = number("hold", hold, low=0.0)
        self._excess = number("excess", excess, low=0.0)
        self._raw = Track()                  # the values received, the oldest let go
        self._seen = 0                       # values looked at for candidates
        self._levels = bytearray()           # float64 running level per second levelled
        self._steadies = bytearray()         # whether each levelled second's bed is steady
        self._open: _Span | None = None      # the candidate being extended
        self._spans: deque[_Span] = deque()  # closed candidates not yet decided
        self._bumps: deque[list[int]] = deque()  # [start, last] of bumps over busy_db
        self._spacer = PeakSpacer(self.timeline)
        self._ended = False
        self.check = flag("check", check)
        self._codes, self._c0 = spectra.NONE, 0  # spectra heard, from frame _c0
        # the recording's loud moments, which the check sets each moment against
        self._earlier = Earlier()
        self.ceiling = flag("ceiling", ceiling)
        # the recording's ceiling, counted (and waited for) only where a faint moment may be
        # at it: with the check (so not in the loose selector below) and the ceiling on
        self._ceiling = RunningPercentile(CEILING_PERCENTILE) \
            if self.check and self.ceiling else None
        self._counted = 0                    # values the ceiling has counted
        self._wait = int(round(CEILING_SEEN / hop)) if self._ceiling is not None else 0
        self._loose = self._loose_one() if self.check else None
        # the second look (made when the first spectra come): where the check listens
        self.second_look = flag("second_look", second_look)
        self._per = voiced.frames_per_value(hop) if self.check and self.second_look else None
        self._second: SecondLook | None = None
        self._keep_from = min(1.0, max(0.0, voiced.KEEP_FROM + 10 * voiced.KEEP_STEP
                                       * (0.5 - sensitivity)))

    def _loose_one(self) -> Standout:
        """A loose selector: at :data:`~m0core.judge.check.LOOSE_SENSITIVITY`, no check."""
        return Standout(Timeline(hop=self.timeline.hop, duration=self.timeline.duration),
                        sensitivity=LOOSE_SENSITIVITY, check=False)

    # -- the stream -----------------------------------------------------------------------

    @property
    def _n(self) -> int:
        """The values received."""
        return self._raw.end

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Take the next score values; returns the highlights that became final."""
        new = clean(scores)
        self._raw.add(new)
        if self._loose is not None:
            self._hear(self._loose.feed(new))
        out = self._release(self._advance())
        self._trim()  # once the second look has said what it still reads
        return out

    def listen(self, codes: np.ndarray, first: int) -> None:
        """Take the spectra of the next frames (frame ``first`` on), which the check reads."""
        if not self.check:
            return
        if self._per is not None and self._second is None and len(codes):
            self._second = SecondLook(self.timeline, self._per, self._loose_one(),
                                      self._earlier, self._keep_from, self._raw.span)
        if self._second is not None:
            self._second.listen(codes, first)
        if not len(self._codes):
            self._codes, self._c0 = np.asarray(codes, dtype=np.uint8), first
            return
        new = spectra.aligned(codes, first, self._c0 + len(self._codes))
        self._codes = np.concatenate([self._codes, new])

    def finish(self) -> list[Highlight]:
        """Judge what is left (windows cut at the end); returns the last highlights."""
        self._ended = True
        if self._loose is not None:
            self._hear(self._loose.finish())
        return self._release(self._advance() + self._spacer.finish())

    def line(self) -> Line:
        """The running level plus the held margin, one value per second (after
        :meth:`finish`): where a moment's bed would put its margin on a steady bed."""
        levels = np.frombuffer(self._levels, dtype=np.float64)
        return Line(self._size * self.timeline.hop, levels + self.margin,
                    f"running level + {self.margin:g} dB")

    def settled(self) -> float:
        """The time (s) before which every highlight this selector will give is given."""
        if self._second is not None:
            return min(self._first_settled(), self._second.settled())
        return self._first_settled()

    def _first_settled(self) -> float:
        """:meth:`settled` of the first look (the moments the margins and the check keep)."""
        first = self.timeline.time(self._first())
        waiting = self._spacer.waiting
        return first if waiting is None else min(first, waiting.time)

    def _release(self, highlights: list[Highlight]) -> list[Highlight]:
        """The first look's final ``highlights`` with the second look's, in time order."""
        if self._second is None:
            return highlights
        loose = self._loose
        return self._second.release(highlights, self._first_settled(),
                                    np.inf if self._ended or loose is None else loose.settled(),
                                    self._n, self._codes, self._c0, self._ended)

    # -- the steps ------------------------------------------------------------------------

    def _first(self) -> int:
        """The first value a later decision is about."""
        starts = [s.start for s in self._spans] + ([self._open.start] if self._open else [])
        return min(starts + [self._seen])

    def _hear(self, loud: list[Highlight]) -> None:
        """Keep the features of the loose selector's moments ``loud`` for the check."""
        for h in loud:
            x = check.features(self._codes, self._c0, h.peak_time)
            if x is not None:
                self._earlier.add(h.peak_time, x)
        if self._second is not None:
            self._second.whole_loose(loud)

    def _advance(self) -> list[Highlight]:
        self._level()
        done = self._levelled * self._size if not self._ended else self._n
        self._extend(done)
        self._measure()
        out = self._decide()
        start = self._spans[0].start if self._spans else (
            self._open.start if self._open else done)
        return out + self._spacer.advance(self.timeline.time(start))

    @property
    def _levelled(self) -> int:
        return len(self._levels) // 8

    def _level(self) -> None:
        """The running level of every second whose windows are complete (all, at the end)."""
        size, gap = self._size, self._gap
        reach = self._half + gap  # bins on each side the level of a second looks at
        total = -(-self._n // size) if self._ended else self._n // size
        ready = total if self._ended else total - reach
        if not self._ended and ready - self._levelled < _BATCH:
            return
        sides = np.r_[0:self._half, self._half + 2 * gap + 1:2 * reach + 1]
        while self._levelled < ready:
            k = self._levelled
            if k < reach or k + reach >= self._n // size:  # windows cut at an end
                values = np.concatenate([
                    self._raw.span(max(0, k - reach) * size, max(0, k - gap) * size),
                    self._raw.span((k + gap + 1) * size, (k + reach + 1) * size)])
                if not len(values):
                    values = self._raw.span(k * size, (k + 1) * size)
                level, steady = self._bed_levels(values[None, :])
            else:
                stop = min(ready, self._n // size - reach, k + _BLOCK)
                bins = self._raw.span((k - reach) * size, (stop + reach) * size).reshape(-1, size)
                rows = sliding_window_view(bins, 2 * reach + 1, axis=0)[:, :, sides]
                level, steady = self._bed_levels(rows.reshape(stop - k, -1))
            self._levels += np.asarray(level, dtype=np.float64).tobytes()
            self._steadies += np.asarray(steady, dtype=np.uint8).tobytes()

    def _bed_levels(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean power of each row's values up to its ``percentile``-th percentile, and
        whether the row is steady (ranges less than ``steady`` dB, p90 - p10)."""
        cut, p10, p90 = audible_percentiles(rows, [self.percentile, 10.0, 90.0])
        kept = (rows <= cut[:, None]) & ~ignored_silence(rows)
        power = np.where(kept, np.power(10.0, rows / 10.0), 0.0)
        count = np.maximum(1, np.count_nonzero(kept, axis=1))
        return (10.0 * np.log10(np.maximum(power.sum(axis=1) / count, 1e-20)),
                p90 - p10 <= self.steady)

    def _extend(self, done: int) -> None:
        """Grow and close candidates over the values before ``done`` not yet looked at."""
        first = self._seen
        if done <= first:
            return
        levels = np.frombuffer(self._levels, dtype=np.float64)
        index = np.arange(first, done)
        second = np.minimum(index // self._size, len(levels) - 1)
        raw = self._raw.span(first, done)
        self._bump(index[raw >= levels[second] + self.busy_db])
        rise = np.where(np.frombuffer(self._steadies, dtype=np.uint8)[second] > 0,
                        min(self.rise, self.burst), self.rise)
        for i in index[raw >= levels[second] + rise]:
            i = int(i)
            span = self._open
            if span is not None and (i - span.start >= self._longest
                                     or not self._joins(span.last, i, levels)):
                self._spans.append(span)
                span = self._open = None
            if span is None:
                self._open = _Span(i, i)
            else:
                span.last = i
        self._seen = done
        span = self._open
        if span is not None and (done - 1 - span.last > self._bridge or self._ended):
            self._spans.append(span)
            self._open = None

    def _bump(self, above: np.ndarray) -> None:
        """Record the bumps ``busy_db`` over the running level among the values ``above``
        it (gaps up to ``join``): as ``[start, last]`` pairs, the last one still growing."""
        if not len(above):
            return
        bumps = self._bumps
        gaps = np.diff(above, prepend=bumps[-1][1] if bumps else -self._join - 1)
        going, *new = np.split(above, np.flatnonzero(gaps > self._join))
        if len(going):  # values that continue the last bump
            bumps[-1][1] = int(going[-1])
        bumps.extend([int(b[0]), int(b[-1])] for b in new)

    def _joins(self, last: int, i: int, levels: np.ndarray) -> bool:
        """Whether value ``i`` continues the candidate whose last value is ``last``: a gap of
        at most ``join``, or of at most ``bridge`` whose values' median stays within
        ``bridge_db`` of the running level."""
        if i - last <= self._join:
            return True
        if i - last > self._bridge:
            return False
        gap = self._raw.span(last + 1, i)
        second = min((last + 1 + i) // 2 // self._size, len(levels) - 1)
        return bool(median(gap) >= levels[second] - self.bridge_db)

    def _sides(self, s: int, e: int, width: int, after: int | None = None) -> np.ndarray:
        """The ``width`` values before index ``s`` and ``after`` (as many) after ``e`` (fewer
        at the ends)."""
        after = width if after is None else after
        return np.concatenate([self._raw.span(s - width, s), self._raw.span(e, e + after)])

    def _nearest(self, s: int, e: int, width: int) -> np.ndarray:
        """The ``2 * width`` values nearest ``[s, e)`` outside it: ``width`` on each side, and
        where the recording's start or end cuts one side, as many more on the other (all
        there are, if fewer)."""
        return self._sides(s, e, self._before(e, width), self._after(s, width))

    def _before(self, e: int, width: int) -> int:
        """How many values before a stretch ending at ``e`` :meth:`_nearest` reads: ``width``,
        and as many more as the recording's end (once it has come) cuts from the ``width``
        after."""
        left_after = self._n - e if self._ended else width  # what the end leaves after it
        return width + max(0, width - left_after)

    @staticmethod
    def _after(s: int, width: int) -> int:
        """How many values after a stretch starting at ``s`` :meth:`_nearest` reads:
        ``width``, and as many more as the recording's start cuts from the ``width`` before."""
        return width + max(0, width - s)

    def _measure(self) -> None:
        """Measure each closed candidate whose surroundings have all arrived."""
        hop = self.timeline.hop
        for span in self._spans:
            if span.measured:
                continue
            s, e = span.start, span.last + 1
            if not self._ended and (e + self._after(s, self._context) > self._n
                                    or self._n < self._wait):
                break
            # the ceiling of the values up to this candidate's context's end (or, at the
            # recording's start, the wait's), however the values came in
            self._count_to(max(e + self._after(s, self._context), self._wait))
            values = self._raw.span(s, e)
            around = self._nearest(s, e, self._side)
            wide = self._nearest(s, e, self._context)
            bed = audible_power_mean(around) if len(around) else float(values.min())
            middle = median(around) if len(around) else np.inf
            # a pause: under the context's loud or heard level, both at most its loudest
            # (the heard level's power mean to rounding)
            if len(wide) and middle < float(wide.max()) + 1e-6 - self.pause_db:
                loud, top = audible_percentiles(wide[None, :], [90.0, HEARD_PERCENTILE])[:, 0]
                heard = audible_power_mean(wide[wide >= top - self.heard_db])  # the talk as heard
                if middle < loud - self.pause_db or (
                        middle < heard - self.pause_db and self._talk(wide, top)):
                    bed = max(bed, heard - self.context_db)
            peak = int(np.argmax(values))
            span.peak, span.peak_db = s + peak, float(values[peak])
            span.loud = span.peak_db - bed
            over, excess, holds = self._over(values, bed + self.margin)
            span.measured = True
            if span.peak_db < self.floor:
                continue
            if holds:
                mean, held = audible_power_mean(over) - bed, len(over) * hop
                span.ok, span.score, span.kind = True, excess, "held"
                span.reason = f"held: +{mean:.0f} dB over the bed around it for {held:.1f} s"
            elif span.loud >= self.burst and self._steady(s, e):
                burst = values[values >= bed + self.burst]
                span.ok, span.kind = True, "burst"
                span.score = float(np.sum(burst - (bed + self.burst))) * hop
                span.reason = (f"burst: +{span.loud:.0f} dB over a steady bed, "
                               f"{(e - s) * hop:.1f} s")
            elif self.check:  # a faint moment, if the check hears a reaction (_decide)
                part = values[values >= span.peak_db - FAINT_WITHIN_DB]  # its loud part
                level, loud_for = audible_power_mean(part) - bed, len(part) * hop
                bar = None  # the chance the check must give it
                if loud_for >= self._faint_hold - 1e-9 and level >= self.faint:
                    bar = self.faint_chance
                elif self._near(values, bed, span.loud, level, loud_for):
                    bar = self.near_chance
                top = (bar is None or bar > check.DROP_BELOW) and \
                    self._at_ceiling(span.peak_db, span.loud, level, loud_for)
                if top:
                    bar = check.DROP_BELOW
                if bar is not None:
                    span.ok, span.score, span.kind, span.bar = True, excess, "faint", bar
                    span.reason = (f"faint: +{level:.0f} dB over the bed around it for "
                                   f"{loud_for:.1f} s" + (", as loud as the recording gets"
                                                          if top else ""))

    def _over(self, values: np.ndarray, line: float) -> tuple[np.ndarray, float, bool]:
        """The ``values`` over ``line`` (dB), their dB·s over it, and whether they hold there:
        ``hold`` seconds and ``excess`` dB·s in all."""
        hop = self.timeline.hop
        over = values[values >= line]
        excess = float(np.sum(over - line)) * hop
        return over, excess, bool(len(over)) and len(over) * hop >= self._hold - 1e-9 and \
            excess >= self._excess - 1e-9

    def _near(self, values: np.ndarray, bed: float, loud: float, level: float,
              loud_for: float) -> bool:
        """Whether a candidate of ``values`` over ``bed`` that is neither held nor faint is
        near a moment: held ``near_db`` under the margin, or peaking (``loud``) at the margin
        with its loud part (``level`` dB over the bed for ``loud_for`` seconds)
        :data:`NEAR_FAINT_DB` under ``faint_db`` for :data:`NEAR_FAINT_HOLD` seconds."""
        if loud >= self.margin and loud_for >= NEAR_FAINT_HOLD - 1e-9 and \
                level >= self.faint - NEAR_FAINT_DB:
            return True
        return self._over(values, bed + self.margin - self.near_db)[2]

    def _count_to(self, end: int) -> None:
        """Count the values before ``end`` (those received) in the ceiling."""
        end = min(end, self._n)
        if self._ceiling is not None and end > self._counted:
            self._ceiling.add(self._raw.span(self._counted, end))
            self._counted = end

    def _at_ceiling(self, peak_db: float, loud: float, level: float, loud_for: float) -> bool:
        """Whether a candidate peaking at ``peak_db``, ``loud`` dB over its bed, its loud part
        ``level`` dB over it for ``loud_for`` seconds, is faint at the recording's ceiling: its
        peak within :data:`CEILING_DB` of it and at most :data:`CEILING_CREST_DB` over its loud
        part, its loud part :data:`CEILING_UNDER_FAINT_DB` under ``faint_db`` for
        ``faint_hold`` seconds."""
        top = self._ceiling.value() if self._ceiling is not None else None
        return top is not None and peak_db >= top - CEILING_DB and \
            loud - level <= CEILING_CREST_DB + 1e-9 and \
            loud_for >= self._faint_hold - 1e-9 and level >= self.faint - CEILING_UNDER_FAINT_DB

    def _talk(self, values: np.ndarray, top: float) -> bool:
        """Whether ``values`` hold at least ``talk`` separate sounds (more than ``bridge``
        apart) within ``talk_db`` of their loud peaks ``top``: lines of talk, not a loud
        moment or two."""
        loud = np.flatnonzero(values >= top - self.talk_db)
        return len(loud) > 0 and 1 + int(np.count_nonzero(np.diff(loud) > self._bridge)) \
            >= self.talk

    def _steady(self, s: int, e: int) -> bool:
        """Whether the values around ``[s, e)`` (twice ``side`` on each side, leaving out the
        ``gap`` seconds next to it: a cheer's tail, the bed's rise into it) range less than
        ``steady`` dB (p90 - p10)."""
        skip = self._gap * self._size
        near = self._sides(s - skip, e + skip, 2 * self._side)
        if not len(near):
            return False
        p10, p90 = audible_percentiles(near[None, :], [10.0, 90.0])[:, 0]
        return bool(p90 - p10 <= self.steady)

    def _decide(self) -> list[Highlight]:
        """Decide the measured candidates in order: a burst once every candidate within
        ``busy_window`` after it is measured, the others at once."""
        out: list[Highlight] = []
        while self._spans and self._spans[0].measured:
            span = self._spans[0]
            burst = span.ok and span.kind == "burst"
            lo, reach = self._busy_span(span.start)
            # Only a burst waits for the bumps after it (to count them); the rest is final.
            if burst and not self._ended and self._seen <= reach:
                break
            checked = span.ok and self._codes is not spectra.NONE
            # a moment the check judges waits for the loud moments before it
            if checked and not self._ended and self._loose is not None and \
                    self._loose.settled() < self.timeline.time(span.peak) - check.EARLIER_GAP:
                break
            self._spans.popleft()
            if burst:
                # bumps within the window, but not the burst's own
                others = sum(1 for start, last in self._bumps
                             if start <= reach and last >= lo
                             and not (start <= span.last and last >= span.start))
                # A recording shorter than the window: fewer others make it busy, in
                # proportion.
                seen = min(reach + 1, self._n) - max(lo, 0)
                if others >= self.busy * min(1.0, seen / (2 * self._busy_window)) - 1e-9:
                    span.ok = False
            chance = None
            if checked and span.ok:
                chance = check.chance(self._codes, self._c0, self.timeline.time(span.peak),
                                      self._earlier)
                score = check.weighed(span.score, chance)
                if score is None:
                    span.ok = False
                elif chance is not None:
                    span.score = score
                    span.reason += f"; its sound: {100 * chance:.0f} % a reaction"
            if span.kind == "faint" and (chance is None or chance < span.bar):
                span.ok = False  # a faint moment is one only where the check hears a reaction
            if span.ok:
                out += self._spacer.push(Candidate(self.timeline.time(span.peak), span.peak_db,
                                                   span.score, span.kind, span.reason))
        return out

    def _busy_span(self, start: int) -> tuple[int, int]:
        """The first and last value whose bumps count against a burst starting at value
        ``start``: ``busy_window`` seconds on each side, and as many more on one side as the
        recording's start or end cuts from the other (the end is known once it has come)."""
        return (start - self._before(start, self._busy_window),
                start + self._after(start, self._busy_window))

    def _trim(self) -> None:
        """Forget values no later step needs (kept in slices of a few thousand)."""
        first = self._first()
        if self._loose is not None:  # the loose moments still to come are heard here too
            first = min(first, int(self._loose.settled() / self.timeline.hop))
        keep = min(first - 2 * self._context,  # a context cut by the end reaches back
                   (self._levelled - self._half - self._gap) * self._size)
        while self._bumps and self._bumps[0][1] < first - 2 * self._busy_window:
            self._bumps.popleft()
        values = keep
        needed = self._second.needs() if self._second is not None else np.inf
        if needed < keep:  # the scores the second look still reads (all, before its first)
            values = max(0, int(needed)) if np.isfinite(needed) else 0
        if self._raw.forgets(values):
            self._count_to(values)  # before any candidate still to be measured
            self._raw.forget(values)
        # the spectra a judgement reads reach this far before a peak (the second look's
        # moments still to judge too)
        seconds = self.timeline.time(keep)
        if self._second is not None:
            seconds = min(seconds, self._second.settled())
        frame = spectra.frame_of(max(0.0, seconds - check.REACH[0] - 1.0))
        if frame - self._c0 > 4096 and len(self._codes):
            cut = min(frame - self._c0, len(self._codes))
            self._codes, self._c0 = self._codes[cut:].copy(), self._c0 + cut

