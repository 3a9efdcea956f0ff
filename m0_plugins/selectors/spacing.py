"""Peak spacing shared by every selector: streaming non-maximum suppression.

Candidates come in time order. Two highlights' peaks end up at least ``timeline.min_gap``
seconds apart: a candidate closer than that to the one waiting replaces it when its score is
higher (ties keep the earlier) and is dropped otherwise. The waiting candidate becomes a
highlight as soon as no later candidate can be that close, i.e. once the stream has passed
``min_gap`` seconds beyond it, so the delay is bounded by ``min_gap``. Each candidate costs
O(1); the result does not depend on how the stream was cut into pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

from m0core.model import Highlight, Timeline

# Peak times are sums of float hops; a gap this much under min_gap still counts as min_gap.
_EPS = 1e-6


@dataclass(frozen=True)
class Candidate:
    """A possible highlight: peak time (s), level at the peak, selector's score, its kind
    and the reason in words (``Highlight.reason``)."""

    time: float
    peak_db: float
    score: float
    kind: str
    reason: str = ""


class PeakSpacer:
    """Turns time-ordered candidates into spaced, final highlights."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._waiting: Candidate | None = None
        self._last_time = float("-inf")

    @property
    def waiting(self) -> Candidate | None:
        """The candidate waiting to become a highlight, if any."""
        return self._waiting

    def push(self, candidate: Candidate) -> list[Highlight]:
        """Offer ``candidate`` (not earlier than the previous one); returns what became final."""
        if candidate.time < self._last_time:
            raise ValueError("candidates must come in time order")
        self._last_time = candidate.time
        out = self.advance(candidate.time)
        if self._waiting is None:
            self._waiting = candidate
        elif candidate.score > self._waiting.score:
            self._waiting = candidate
        return out

    def advance(self, time: float) -> list[Highlight]:
        """Declare that no candidate earlier than ``time`` will come; returns what is final."""
        w = self._waiting
        if w is not None and time - w.time >= self.timeline.min_gap - _EPS:
            self._waiting = None
            return [self._highlight(w)]
        return []

    def finish(self) -> list[Highlight]:
        """The end of the stream: the waiting candidate, if any, is final."""
        w, self._waiting = self._waiting, None
        return [] if w is None else [self._highlight(w)]

    def _highlight(self, c: Candidate) -> Highlight:
        start, end = self.timeline.window(c.time)
        return Highlight(start=start, end=end, peak_time=c.time, peak_db=c.peak_db,
                         score=c.score, kind=c.kind, reason=c.reason)
