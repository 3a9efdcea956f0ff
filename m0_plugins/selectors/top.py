"""``top``: the N best moments of the whole recording, spaced apart."""

from __future__ import annotations

import numpy as np

from m0core.checks import whole
from m0core.levels import clean
from m0core.model import Highlight, Line, Timeline

from . import params
from .spacing import Candidate, PeakSpacer


class Top:
    """The ``count`` best local maxima of the score curve by dB over the file's median level
    (only those above it),
    at least ``timeline.min_gap`` apart (the shared peak spacing keeps the best of each
    cluster), reported in time order.

    It needs the whole curve (at most a few values per second), so everything comes out of
    :meth:`finish`.

    Parameters
    ----------
    timeline:
        Time of each score value, clip windows and minimum peak spacing.
    threshold:
        If given, only values at least this high (analyzer's unit) can be chosen.
    count:
        How many highlights at most (default: the run's ``max_clips``, else 10).
    max_clips:
        The run's ``--max-clips``, passed by m0 because this factory names it.
    """

    def __init__(self, timeline: Timeline, threshold: float | None = None, *,
                 count: int | None = None, max_clips: int | None = None) -> None:
        self.timeline = params.timeline(timeline)
        self.threshold = params.threshold(threshold)
        wanted = count if count is not None else max_clips if max_clips is not None else 10
        self.count = whole("count", wanted, low=1)
        self._parts: list[np.ndarray] = []
        self._seen = 0

    def line(self) -> Line | None:
        """The ``threshold`` values had to reach, if one was given."""
        if self.threshold is None:
            return None
        return Line.flat(self.threshold, self.timeline.hop, self._seen)

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Keep the values; nothing is final before the end."""
        self._parts.append(clean(scores))
        self._seen += len(self._parts[-1])
        return []

    def finish(self) -> list[Highlight]:
        """Choose the best moments of the whole curve."""
        values = np.concatenate(self._parts) if self._parts else np.zeros(0)
        self._parts = []
        if not len(values):
            return []
        median = float(np.median(values))
        padded = np.concatenate([[-np.inf], values, [-np.inf]])
        # Local maxima over the median; a plateau counts once, at its first value.
        peaks = np.flatnonzero((values > padded[:-2]) & (values >= padded[2:])
                               & (values > median))
        if self.threshold is not None:
            peaks = peaks[values[peaks] >= self.threshold]
        spacer = PeakSpacer(self.timeline)
        kept: list[Highlight] = []
        best = "the best" if self.count == 1 else f"one of the {self.count} best"
        for i in peaks:
            value = float(values[i])
            kept += spacer.push(Candidate(
                self.timeline.time(int(i)), value, value - median, "top",
                f"{best}: +{value - median:.0f} dB over the median level"))
        kept += spacer.finish()
        best = sorted(range(len(kept)), key=lambda j: -kept[j].score)[: self.count]
        return [kept[j] for j in sorted(best)]
