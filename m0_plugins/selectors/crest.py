"""``crest``: the seed's multi-criteria rule on per-second levels against a fixed threshold."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from m0core.checks import number, whole
from m0core.levels import bin_levels, clean, values_per_second
from m0core.model import Highlight, Line, Timeline

from . import params
from .spacing import Candidate, PeakSpacer

#: The seed's default threshold (dBFS).
DEFAULT_THRESHOLD = -5.0


class Crest:
    """The seed's rule: a second is a highlight candidate when its level (power mean of its
    score values) is

    - ``spike``: at least ``threshold + spike_db``;
    - ``dynamic``: at least ``threshold`` and ``dynamic_db`` over the mean level of the
      previous ``history`` seconds (a mean of dB levels, as the seed had it);
    - ``sustained``: at least ``threshold``, with ``sustain_count`` of the last
      ``sustain_window`` seconds (this one included) at least ``threshold``.

    The first matching kind in that order names it. Its peak is the loudest value of the
    second and its score the level's dB over ``threshold``. Memory is bounded.

    Parameters
    ----------
    timeline:
        Time of each score value, clip windows and minimum peak spacing.
    threshold:
        Level in the analyzer's unit (dBFS for RMS); ``None`` is the seed's -5.
    """

    def __init__(
        self,
        timeline: Timeline,
        threshold: float | None = None,
        *,
        spike_db: float = 3.0,
        dynamic_db: float = 6.0,
        history: float = 10.0,
        sustain_count: int = 3,
        sustain_window: int = 5,
    ) -> None:
        self.timeline = params.timeline(timeline)
        t = params.threshold(threshold)
        self.threshold = DEFAULT_THRESHOLD if t is None else t
        self.spike_db = number("spike_db", spike_db, low=0.0)
        self.dynamic_db = number("dynamic_db", dynamic_db, low=0.0)
        hist = number("history", history, above=0.0)
        self.sustain_window = whole("sustain_window", sustain_window, low=1)
        self.sustain_count = whole("sustain_count", sustain_count, low=1,
                                          high=self.sustain_window)
        self._size = values_per_second(self.timeline.hop)
        seconds_per_bin = self._size * self.timeline.hop
        self._history: deque[float] = deque(maxlen=max(1, int(round(hist / seconds_per_bin))))
        self._recent: deque[bool] = deque(maxlen=self.sustain_window)
        self._rest = np.zeros(0, dtype=np.float64)
        self._next = 0  # absolute index of the first value in self._rest
        self._spacer = PeakSpacer(self.timeline)

    def line(self) -> Line:
        """The threshold every second was judged against (a flat line)."""
        return Line.flat(self.threshold, self.timeline.hop, self._next + len(self._rest))

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Take the next score values; returns the highlights that became final."""
        buf = np.concatenate([self._rest, clean(scores)])
        whole = len(buf) // self._size * self._size
        out = self._seconds(buf[:whole])
        self._rest = buf[whole:]
        out += self._spacer.advance(self.timeline.time(self._next))
        return out

    def finish(self) -> list[Highlight]:
        """Judge the last, shorter second and return the highlights still pending."""
        rest, self._rest = self._rest, np.zeros(0)
        out = self._seconds(rest, size=len(rest)) if len(rest) else []
        return out + self._spacer.finish()

    def _seconds(self, values: np.ndarray, size: int | None = None) -> list[Highlight]:
        size = size or self._size
        out: list[Highlight] = []
        levels = bin_levels(values, size)
        for k, level in enumerate(levels):
            second = values[k * size:(k + 1) * size]
            kind = self._judge(float(level))
            if kind is not None:
                peak = int(np.argmax(second))
                out += self._spacer.push(Candidate(
                    self.timeline.time(self._next + peak), float(second[peak]),
                    float(level) - self.threshold, kind,
                    f"{kind}: {float(level):.0f} dB, {float(level) - self.threshold:+.0f} dB "
                    f"from the threshold {self.threshold:g} dB"))
            self._next += size
        return out

    def _judge(self, level: float) -> str | None:
        """The kind of the second at ``level`` (and remember it), or ``None``."""
        loud = level >= self.threshold
        self._recent.append(loud)
        history = self._history
        average = math.fsum(history) / len(history) if history else None
        history.append(level)
        if not loud:
            return None
        if level >= self.threshold + self.spike_db:
            return "spike"
        if average is not None and level >= average + self.dynamic_db:
            return "dynamic"
        if sum(self._recent) >= self.sustain_count:
            return "sustained"
        return None
