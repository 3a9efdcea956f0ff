"""``standout``'s second look: reactions a compressor on the mic squeezed under its margins,
offered by the loose moments of the whole sound and of the voice's band and kept where the
model of :mod:`m0core.judge.voiced` hears a reaction, at least ``min_gap`` seconds from
every other highlight."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from m0core.judge import check, voiced
from m0core.model import Highlight, Timeline

from .track import Track


class Loose(Protocol):
    """A selector fed a curve in pieces (``standout`` at the loose sensitivity, no check);
    a protocol, as ``standout`` imports this module."""

    def feed(self, scores: np.ndarray) -> list[Highlight]: ...
    def finish(self) -> list[Highlight]: ...
    def settled(self) -> float: ...


class SecondLook:
    """The moments the second look keeps, in time order with the first look's (``base``).

    Reads the scores as ``standout`` keeps them (``scores(lo, hi)``: values ``lo`` to ``hi``;
    it keeps those from :meth:`needs` on); fed the spectra (:meth:`listen`) and the loose
    moments of the scores (:meth:`whole_loose`); :meth:`release` takes the first look's final
    highlights and gives them back with the kept moments, in time order, once no earlier one
    can come. A moment offered at ``t`` is decided once the first look has settled past
    ``t + min_gap`` and the values reach :data:`~m0core.judge.voiced.AROUND` seconds past
    it; it is kept where no other highlight is within ``min_gap`` seconds and its chance is
    ``keep_from`` or more."""

    def __init__(self, timeline: Timeline, per: int, loose: Loose, earlier: check.Earlier,
                 keep_from: float, scores: Callable[[int, int], np.ndarray]) -> None:
        self.timeline = timeline
        self.keep_from = keep_from
        self._per = per                       # frames a value
        self._loose = loose                   # the voice band's loose selector
        self._earlier = earlier               # the first look's: the loose moments' features
        self._scores = scores
        self._voice = Track()
        self._power = np.zeros(0)             # voice power of frames not yet in a value
        self._frame = 0                       # the frame ``_power`` starts at
        self._offers: dict[str, list[tuple[float, float]]] = {"whole": [], "voice": []}
        self._offered = -np.inf               # offers before this time were taken
        self._pending: deque[tuple[float, float, float]] = deque()
        self._firsts: deque[float] = deque()  # the first look's peaks, recent
        self._kept = -np.inf                  # the last kept moment's peak
        self._out: list[Highlight] = []       # final, waiting for earlier ones
        self._settled = -np.inf

    def listen(self, codes: np.ndarray, first: int) -> None:
        """The spectra of the next frames (frame ``first`` on; a gap is silence)."""
        expected = self._frame + len(self._power)
        power = voiced.voice_power(np.asarray(codes, dtype=np.uint8).reshape(-1, check.BANDS))
        if first > expected:
            power = np.r_[np.zeros(first - expected), power]
        else:
            power = power[expected - first:]
        self._power = np.r_[self._power, power]
        whole = len(self._power) // self._per
        if whole:
            values = voiced.voice_values(self._power, self._per)
            self._power = self._power[whole * self._per:]
            self._frame += whole * self._per
            self._voice.add(values)
            self._took(self._loose.feed(values), "voice")

    def whole_loose(self, moments: list[Highlight]) -> None:
        """The loose moments of the scores that became final."""
        self._took(moments, "whole")

    def _took(self, moments: list[Highlight], track: str) -> None:
        self._offers[track] += [(h.peak_time, h.score) for h in moments]

    def settled(self) -> float:
        """The time before which every moment :meth:`release` will give is given."""
        return self._settled

    def needs(self) -> float:
        """The first score value a later decision reads (``-inf`` before any moment is
        offered, ``inf`` once all are decided)."""
        first = min(self._settled, self._offered, self._next())
        return (first - voiced.HISTORY - voiced.AROUND[1] - 10.0) / self.timeline.hop

    def release(self, base: list[Highlight], base_settled: float, whole_settled: float,
                scored: int, codes: np.ndarray, c0: int, ended: bool) -> list[Highlight]:
        """Take the first look's final highlights ``base`` (in time order; every later one
        peaks at ``base_settled`` or after), decide what can be, and give what is final.
        ``whole_settled`` is the scores' loose selector's settled time, ``scored`` the score
        values received; ``codes`` (frame ``c0`` on) the spectra still kept; ``ended``:
        nothing more comes."""
        if ended:
            self._took(self._loose.finish(), "voice")
        self._out += base
        self._firsts.extend(h.peak_time for h in base)
        self._offer(np.inf if ended else min(whole_settled, self._loose.settled()))
        gap = self.timeline.min_gap
        hop = self.timeline.hop
        while self._pending:
            t, whole, voice = self._pending[0]
            index = voiced.value_of(t, hop)
            if not ended and (base_settled < t + gap or
                              min(scored, self._voice.end) * hop < t + voiced.AROUND[1]):
                break
            self._pending.popleft()
            h = self._judged(t, index, whole, voice, codes, c0)
            if h is not None:
                self._kept = t
                self._out.append(h)
        self._settled = np.inf if ended else min(self._offered, base_settled, self._next())
        self._out.sort(key=lambda h: h.peak_time)
        final = [h for h in self._out if h.peak_time < self._settled]
        self._out = self._out[len(final):]
        self._forget()
        return final

    def _offer(self, settled: float) -> None:
        """Offer the moments before ``settled`` less :data:`~m0core.judge.voiced.SAME_WITHIN`
        (each loose moment near one of the other curve's is then known)."""
        upto = settled - voiced.SAME_WITHIN
        if upto <= self._offered:
            return
        whole, voice = self._offers["whole"], self._offers["voice"]
        self._pending.extend(o for o in voiced.offers(whole, voice)
                             if self._offered <= o[0] < upto)
        self._offered = upto
        keep = upto - voiced.SAME_WITHIN
        for track in self._offers.values():
            track[:] = [o for o in track if o[0] >= keep]

    def _judged(self, t: float, index: int, whole: float, voice: float, codes: np.ndarray,
                c0: int) -> Highlight | None:
        gap = self.timeline.min_gap
        if t - self._kept < gap or any(abs(t - u) < gap for u in self._firsts):
            return None
        judged = check.judged_at(codes, c0, t, self._earlier)
        if judged is None:
            return None
        hop = self.timeline.hop
        # the values levels() reads: from HISTORY before the peak to AROUND after it
        lo = max(0, index + int(round(-voiced.HISTORY / hop)))
        hi = index + int(round(voiced.AROUND[1] / hop))
        scores = self._scores(lo, hi)
        features = voiced.features(judged, scores, self._voice.span(lo, hi), index - lo, hop,
                                   whole, voice)
        chance = voiced.chance(features)
        if chance < self.keep_from:
            return None
        voice_over = features[check.SIZE + voiced.LEVELS]
        start, end = self.timeline.window(t)
        return Highlight(start=start, end=end, peak_time=t,
                         peak_db=float(scores[index - lo]),
                         score=voiced.SCORE * chance, kind="voiced",
                         reason=f"voiced: its voice's band +{voice_over:.0f} dB over the "
                                f"half minute around it; its sound and level: "
                                f"{100 * chance:.0f} % a reaction")

    def _forget(self) -> None:
        """Forget what no later decision reads."""
        first = min(self._settled, self._offered, self._next())
        if np.isfinite(first):
            self._voice.forget(int(self.needs()))
        while self._firsts and self._firsts[0] < first - self.timeline.min_gap:
            self._firsts.popleft()

    def _next(self) -> float:
        """The peak of the first moment offered and not yet decided (infinity: none)."""
        return self._pending[0][0] if self._pending else np.inf
