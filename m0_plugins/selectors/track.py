"""A curve received in pieces whose oldest values are let go: what ``standout`` and
``adaptive`` keep of their scores (``adaptive`` of its smoothed values too) and the second
look of its voice's level."""

from __future__ import annotations

import numpy as np

#: Values are let go only more than this many at once (so a curve is not copied at every
#: piece).
FORGET_FROM = 4096


class Track:
    """A curve from value 0 on, as received (:meth:`add`), less the values before
    :attr:`start` (:meth:`forget`)."""

    def __init__(self) -> None:
        self.values = np.zeros(0, dtype=np.float64)
        self.start = 0

    @property
    def end(self) -> int:
        """The index after the last value received."""
        return self.start + len(self.values)

    def add(self, values: np.ndarray) -> None:
        """Receive the next values."""
        self.values = np.concatenate([self.values, np.asarray(values, dtype=np.float64)])

    def span(self, lo: int, hi: int) -> np.ndarray:
        """Values ``lo`` to ``hi`` (absolute indices; those still kept and received)."""
        return self.values[max(lo - self.start, 0):max(hi - self.start, 0)]

    def forgets(self, before: int) -> bool:
        """Whether :meth:`forget` of ``before`` would let values go."""
        return before - self.start > FORGET_FROM

    def forget(self, before: int) -> None:
        """Let the values before ``before`` go, where they are more than
        :data:`FORGET_FROM`."""
        if self.forgets(before):
            self.values, self.start = self.values[before - self.start:].copy(), before
