"""The second look: a reaction that a compressor on the streamer's mic squeezed under
``standout``'s margins, found in the voice's band and judged by its sound and level together.

A compressor on the mic (OBS's at its defaults) brings a shout down to a few dB over the talk,
so over a loud bed it no longer stands the margins ``standout`` asks of a moment. It still
stands in the band where a voice is strongest (:data:`VOICE_BAND`: the mel bands of the
spectra whose centres lie there) and it still sounds like a shout. So the moments offered to
this look are the loose moments (``standout`` at
:data:`~m0core.judge.check.LOOSE_SENSITIVITY`, no check) of the whole sound's scores and of
the voice band's level (:func:`voice_values`), a second's worth apart joined as one; and a
model trained on what the first look leaves of the development corpus's recordings (the
moments offered at least ``min_gap`` seconds from every moment it keeps), through such a mic
and without one (:mod:`m0core.dev.judge_training`), gives the chance that one is a reaction
from :func:`features`: what the check reads of it, how far each level stands over the half
minute around it and over the five minutes before, how far the recording's loudest values
stood over its usual ones then (a squeezed recording's less), and the loose moments' scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from m0core.levels import SILENT_DB, median, percentiles

from . import check
from .spectra import FPS, centres, decode

#: The band a voice is strongest in (Hz): the mel bands whose centres lie in it.
VOICE_BAND = (500.0, 1650.0)
#: Added to the band's power (the spectra's dB) to bring its level near the RMS scores of
#: the same sound, so the loose selector's floor means about the same on both.
OFFSET_DB = 25.0
#: Two loose moments whose peaks are this close (s) are one moment offered (the whole
#: sound's peak kept).
SAME_WITHIN = 2.0
#: A level's loudest part is read from this long before a peak to this long after (s) ...
CORE = (-1.0, 3.0)
#: ... as the mean of its loudest second; set against the values from ``AROUND[1]`` to
#: ``AROUND[0]`` seconds on each side ...
AROUND = (3.0, 30.0)
#: ... and against the loudest values (:data:`HISTORY_PERCENTILE`-th percentile) of the
#: ``HISTORY`` seconds before the peak.
HISTORY = 300.0
HISTORY_PERCENTILE = 99.9
#: Numbers :func:`levels` gives of one level.
LEVELS = 4
#: Numbers the model reads: the check's, the levels of the whole sound and of the voice's
#: band, and the loose moments' scores.
SIZE = check.SIZE + 2 * LEVELS + 2
#: A moment offered is kept where its chance is this or more (at sensitivity 0.5; each 0.1
#: of sensitivity moves it by ``KEEP_STEP``, down towards 1).
KEEP_FROM = 0.65
KEEP_STEP = 0.07
#: A kept moment's score is its chance times this: it ranks after every moment the first look
#: kept held over its margin.
SCORE = 0.01
MODEL = Path(__file__).with_name("voiced.npz")
_CENTRES = centres()
#: Which of the spectra's bands lie in :data:`VOICE_BAND`.
_BANDS = (_CENTRES >= VOICE_BAND[0]) & (_CENTRES < VOICE_BAND[1])


def frames_per_value(hop: float) -> int | None:
    """The spectra's frames in one score value of ``hop`` seconds; ``None`` where that is
    not a whole number (then there is no second look)."""
    frames = hop * FPS
    whole = int(round(frames))
    return whole if whole >= 1 and abs(frames - whole) < 1e-6 else None


def voice_power(codes: np.ndarray) -> np.ndarray:
    """The power of the voice's band in each frame of ``codes``."""
    return np.power(10.0, decode(codes[:, _BANDS]).astype(np.float64) / 10.0).sum(axis=1)


def voice_values(power: np.ndarray, per: int) -> np.ndarray:
    """The level (dB) of the voice's band in each score value: the mean power of its ``per``
    frames (whole values only), plus :data:`OFFSET_DB`."""
    whole = len(power) // per
    mean = power[: whole * per].reshape(whole, per).mean(axis=1)
    return 10.0 * np.log10(np.maximum(mean, 1e-12)) + OFFSET_DB


def value_of(peak: float, hop: float) -> int:
    """The score value (from value 0, ``hop`` seconds each) whose centre is at ``peak``
    seconds, as :meth:`m0core.model.Timeline.time` gives a peak's time."""
    return int(np.floor(peak / hop))


def offers(whole: list[tuple[float, float]], voice: list[tuple[float, float]]
           ) -> list[tuple[float, float, float]]:
    """The moments offered, in time order, from the loose moments of the whole sound and of
    the voice's band (``(peak time, score)`` each): each whole-sound moment, with the score of
    a voice moment within :data:`SAME_WITHIN` seconds (0 where none is), and each voice
    moment with no whole-sound one that near, its whole score 0: ``(time, whole score, voice
    score)``."""
    def near(t: float, others: list[tuple[float, float]]) -> float | None:
        return next((s for u, s in others if abs(u - t) <= SAME_WITHIN), None)

    out = [(t, s, near(t, voice) or 0.0) for t, s in whole]
    out += [(t, 0.0, s) for t, s in voice if near(t, whole) is None]
    return sorted(out)


def levels(values: np.ndarray, index: int, hop: float) -> np.ndarray:
    """How far a level stands at the peak of value ``index`` of ``values`` (one every ``hop``
    seconds, from value 0): the mean of the loudest second of its :data:`CORE` less the
    median and less the 90th percentile of its :data:`AROUND` values (digital silence left
    out), and less the :data:`HISTORY_PERCENTILE`-th percentile of the :data:`HISTORY`
    seconds before it; and how far that percentile stands over those seconds' median (a
    recording whose loudest moments a compressor squeezed stands less)."""
    def at(seconds: float) -> int:
        return max(0, index + int(round(seconds / hop)))

    values = values[at(-HISTORY):at(AROUND[1])].astype(np.float64)  # what is read, as float64
    index -= at(-HISTORY)
    core = np.sort(values[at(CORE[0]):at(CORE[1])])
    if not len(core):
        return np.full(LEVELS, np.nan)
    top = float(core[-max(1, int(round(1.0 / hop))):].mean())
    around = np.r_[values[at(-AROUND[1]):at(-AROUND[0])], values[at(AROUND[0]):at(AROUND[1])]]
    around = around[around >= SILENT_DB]
    history = values[at(-HISTORY):index + 1]
    if not len(around):
        around = np.array([SILENT_DB])
    loudest = percentiles(history[None, :], [HISTORY_PERCENTILE])[0, 0]
    return np.array([top - median(around), top - percentiles(around[None, :], [90.0])[0, 0],
                     top - loudest, loudest - median(history)])


def features(judged: np.ndarray, whole: np.ndarray, voice: np.ndarray, index: int,
             hop: float, whole_score: float, voice_score: float) -> np.ndarray:
    """What the model reads of the moment whose peak is value ``index`` of the scores
    ``whole`` and the voice's band's values ``voice`` (both from value 0): what the check
    reads of it (``judged``, :func:`m0core.judge.check.judged`), the :func:`levels` of each,
    and the scores of the loose moments of each that offered it (0 where none did)."""
    return np.r_[judged, levels(whole, index, hop), levels(voice, index, hop),
                 whole_score, voice_score].astype(np.float64)


def chance(x: np.ndarray) -> float:
    """The chance that the moment of :func:`features` ``x`` is a reaction."""
    return float(check.model(MODEL).chance(np.asarray(x, dtype=np.float64)[None, :])[0])
