"""The check of what a moment sounds like: the chance that a moment ``standout`` keeps is a
reaction (a shouted voice, a laugh, a cheer) and not a game effect, a swell of the music or a
door slam of the same loudness, from the spectra around its peak.

**Features** (:func:`features`, 204 numbers). The frames of the 3 s around the peak (from 1 s
before to 2 s after: the *core*) against the per-band median of the frames from 8 s to 2 s
before the peak and from 4 s to 10 s after (the *bed*): over the core's loudest 30 % of
frames, each band's mean level over the bed, the same less its highest band, each band's
spread; each band's mean change from frame to frame over the core; then the moment's
*shape* over the 5 s from 1 s before the peak (:func:`shape`: how long and how far it
stays over the bed, how its loudness moves at the rate of syllables, how flat, how bright and
how harmonic its sound over the bed is). A core that the recording's start or end cuts is
read as far as it goes (at least 1 s of it). A moment is judged by these and by how they
differ from the recording's own loud moments before it (:class:`Earlier`, :func:`judged`: 408
numbers in all): a voice or a game's sound the model never heard is told by how it stands
apart from the rest of its recording. The selector's score is not among them: the check hears
the sound alone, so a moment's chance is the same at any sensitivity.

**Model**: ten sets of 200 gradient-boosted trees of depth 2 (scikit-learn's
``HistGradientBoostingClassifier``), each trained by :mod:`m0core.dev.judge_training` on the
development corpus's recordings drawn with replacement, their log-odds averaged
(:func:`~m0core.dev.judge_training.bagged`); kept as one table of plain arrays in ``check.npz``
and walked here with numpy: nothing of scikit-learn at run time, nothing unpickled.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from m0core.levels import medians, percentiles

from .spectra import BANDS, FPS, decode

#: Frames of the core and of the bed around a peak, as (from, to) seconds from it.
CORE = (-1.0, 2.0)
BED = ((-8.0, -2.0), (4.0, 10.0))
#: The frames a judgement reads: from this many seconds before the peak to this many after.
REACH = (-BED[0][0], BED[1][1])
#: The frames :func:`shape` reads, as (from, to) seconds from the peak.
SHAPE = (-1.0, 4.0)
#: Numbers :func:`shape` gives.
SHAPES = 12
#: Numbers in a moment's features (:func:`features`): four for each band, and the shape.
FEATURES = 4 * BANDS + SHAPES
#: Numbers the model reads (:func:`judged`): the features and their difference from the
#: recording's earlier loud moments.
SIZE = 2 * FEATURES
#: The recording's loud moments :class:`Earlier` holds: those ``standout`` finds at this
#: sensitivity without the check (with its other settings at their defaults).
LOOSE_SENSITIVITY = 0.95
#: A moment is set against the loud moments of this many seconds before it, at least
#: ``EARLIER_LEAST`` of them whose peaks are ``EARLIER_GAP`` seconds or more before its own.
EARLIER_SECONDS = 1800.0
EARLIER_LEAST = 3
EARLIER_GAP = 0.5
#: A moment whose chance is under this is not a reaction.
DROP_BELOW = 0.15
MODEL = Path(__file__).with_name("check.npz")


def _frames(t: float, span: tuple[float, float]) -> tuple[int, int]:
    i = int(round(t * FPS))
    return i + int(round(span[0] * FPS)), i + int(round(span[1] * FPS))


def _bed(codes: np.ndarray, first: int, peak: float) -> np.ndarray:
    """The frames (dB, one row a frame) of the bed around the peak at ``peak`` seconds that
    are there."""
    sides = [decode(codes[max(0, lo - first):max(0, hi - first)])
             for lo, hi in (_frames(peak, side) for side in BED)]
    return np.concatenate(sides, axis=0)


def features(codes: np.ndarray, first: int, peak: float) -> np.ndarray | None:
    """The features of the moment whose peak is at ``peak`` seconds, from the spectra
    ``codes`` (one row a frame, :class:`~m0core.judge.spectra.Spectra`'s) whose first row is
    frame ``first``; ``None`` when less than a second of the core is there (a core the
    recording's start or end cuts is read as far as it goes)."""
    a, b = _frames(peak, CORE)
    a, b = max(a, first), min(b, first + len(codes))
    if b - a < FPS:
        return None
    core = decode(codes[a - first:b - first]).T  # bands x frames
    around = _bed(codes, first, peak)
    bed = medians(around) if len(around) >= 10 else None  # per band
    median = bed if len(around) > 10 else medians(core.T)
    energy = np.log10(np.sum(10.0 ** (core / 10.0), axis=0) + 1e-12)
    loud = core[:, energy >= np.quantile(energy, 0.7)]
    rel = loud.mean(axis=1) - median
    return np.concatenate([rel, rel - rel.max(), loud.std(axis=1),
                           np.abs(np.diff(core, axis=1)).mean(axis=1),
                           _shape(codes, first, peak, bed)]).astype(np.float64)


def shape(codes: np.ndarray, first: int, peak: float) -> np.ndarray:
    """What the moment at ``peak`` seconds does over the frames of :data:`SHAPE` (those there)
    against the per-band median of its bed (:data:`BED`), :data:`SHAPES` numbers; all
    missing (NaN) when fewer than 10 frames of bed or 2 s of the moment are there.

    Its level (all bands' power) over the bed's, frame by frame: the seconds it is over by
    6 dB and by 10 dB; the seconds of the stretch around its loudest frame of the first 2 s
    that stays within 10 dB of that frame; the share of the level's change over the first 4 s
    at 2.5–8 Hz (the rate of syllables); over the loudest 30 % of frames, the flatness of the
    power over the bed's (log10 of its geometric over its arithmetic mean over the bands: a
    tone is low, a noise high), its mean and spread, the band of its centre of power, mean and
    spread, and that centre's mean move from frame to frame; how harmonic the lowest 20 bands
    are (the highest correlation of their ripple, less its 5-band mean, with itself 2 to 7
    bands on); how far the loudest frame rises over the half second before it; and how far it
    stands over the bed."""
    bed = _bed(codes, first, peak)
    return _shape(codes, first, peak, medians(bed) if len(bed) >= 10 else None)


def _shape(codes: np.ndarray, first: int, peak: float, bed: np.ndarray | None) -> np.ndarray:
    """:func:`shape`, given the per-band median of the bed's frames (``None``: fewer than 10
    of them)."""
    a, b = _frames(peak, SHAPE)
    a, b = max(a, first), min(b, first + len(codes))
    seg = decode(codes[a - first:max(a, b) - first]).astype(np.float64)  # frames x bands
    if bed is None or len(seg) < 2 * FPS:
        return np.full(SHAPES, np.nan)
    bed_db = bed.astype(np.float64)
    power, bed_power = 10.0 ** (seg / 10.0), 10.0 ** (bed_db / 10.0)
    over = 10.0 * np.log10(power.sum(axis=1) + 1e-30) - 10.0 * np.log10(bed_power.sum() + 1e-30)
    top = int(np.argmax(over[:2 * FPS]))
    lo = hi = top
    while lo > 0 and over[lo - 1] > over[top] - 10.0:
        lo -= 1
    while hi < len(over) - 1 and over[hi + 1] > over[top] - 10.0:
        hi += 1
    level = over[:4 * FPS] - over[:4 * FPS].mean()
    moves = np.abs(np.fft.rfft(level * _hann(len(level)))) ** 2
    hz = np.fft.rfftfreq(len(level), 1.0 / FPS)
    syllables = moves[(hz >= 2.5) & (hz <= 8.0)].sum() / (moves[hz > 0.2].sum() + 1e-12)
    loud = over >= percentiles(over[None, :], [70.0])[0, 0]  # np.quantile's 0.7
    excess = np.maximum(power - bed_power, 1e-12)
    flatness = np.log10(np.exp(np.log(excess).mean(axis=1)) / excess.mean(axis=1))[loud]
    centre = (excess * np.arange(seg.shape[1])).sum(axis=1) / excess.sum(axis=1)
    steps = np.abs(np.diff(centre))[loud[1:]]
    low = seg[:, :20]
    ripple = low[:, 2:-2] - sliding_window_view(low, 5, axis=1).mean(axis=2)
    ripple -= ripple.mean(axis=1, keepdims=True)
    power_of = (ripple * ripple).sum(axis=1) + 1e-9
    harmonic = np.max([(ripple[:, :-k] * ripple[:, k:]).sum(axis=1) / power_of
                       for k in range(2, 8)], axis=0)[loud]
    rise = over[top] - over[max(0, top - FPS // 2):top].mean() if top > 0 else 0.0
    return np.array([(over > 6.0).sum() / FPS, (over > 10.0).sum() / FPS, (hi - lo + 1) / FPS,
                     syllables, flatness.mean(), flatness.std(), centre[loud].mean(),
                     centre[loud].std(), steps.mean() if len(steps) else 0.0,
                     harmonic.mean(), rise, over[top]])


@cache
def _hann(n: int) -> np.ndarray:
    """``np.hanning(n)``, made once a length."""
    window = np.hanning(n)
    window.flags.writeable = False
    return window


class Earlier:
    """The features of a recording's loud moments (:data:`LOOSE_SENSITIVITY`), added in time
    order as they are found, and what a later moment is set against: their per-number median
    (:meth:`reference`). Holds at most twice ``EARLIER_SECONDS`` of them."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._rows: deque[np.ndarray] = deque()

    def add(self, peak: float, x: np.ndarray) -> None:
        """The features ``x`` of the loud moment whose peak is at ``peak`` seconds."""
        self._times.append(peak)
        self._rows.append(np.asarray(x, dtype=np.float64))
        while self._times and self._times[0] < peak - 2 * EARLIER_SECONDS:
            self._times.popleft()
            self._rows.popleft()

    def reference(self, peak: float) -> np.ndarray | None:
        """The median features of the loud moments whose peaks lie from ``EARLIER_SECONDS``
        to ``EARLIER_GAP`` seconds before ``peak``; ``None`` when there are fewer than
        ``EARLIER_LEAST``."""
        rows = [x for t, x in zip(self._times, self._rows, strict=True)
                if peak - EARLIER_SECONDS <= t < peak - EARLIER_GAP]
        return medians(np.array(rows)) if len(rows) >= EARLIER_LEAST else None

    def at(self, peak: float) -> np.ndarray | None:
        """The features added for the loud moment whose peak is at ``peak`` seconds; ``None``
        when none was (or its features were not there)."""
        for t, x in zip(reversed(self._times), reversed(self._rows), strict=True):
            if t <= peak:
                return x if t == peak else None
        return None


def judged(x: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    """What the model reads of a moment: its features ``x`` and their difference from the
    ``reference`` (:meth:`Earlier.reference`; missing values where there is none)."""
    x = np.asarray(x, dtype=np.float64)
    apart = x - reference if reference is not None else np.full(len(x), np.nan)
    return np.r_[x, apart]


@dataclass(frozen=True)
class Trees:
    """Boosted trees as arrays, one row a tree: a node's ``feature`` (−1: a leaf), its
    ``threshold`` (≤ goes ``left``, else ``right``; a missing value goes left where
    ``missing_left``), and a leaf's ``value``; the chance is the logistic of ``baseline``
    plus the leaves reached."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray
    baseline: float

    def chance(self, x: np.ndarray) -> np.ndarray:
        """The chance of each row of ``x`` (rows of :func:`features`)."""
        return 1.0 / (1.0 + np.exp(-self.odds(x)))

    def odds(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of each row of ``x``: ``baseline`` plus the leaves reached."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        flat = self._flat
        # each row's node in each tree, as an index into the flattened arrays
        node = np.repeat(flat.roots[None, :], len(x), axis=0)
        for _ in range(self.feature.shape[1]):
            f = flat.feature[node]
            leaf = f < 0
            if leaf.all():
                break
            v = np.take_along_axis(x, np.maximum(f, 0), axis=1)
            go_left = np.where(np.isnan(v), flat.missing_left[node], v <= flat.threshold[node])
            nxt = np.where(go_left, flat.left[node], flat.right[node]) + flat.roots
            node = np.where(leaf, node, nxt)
        return self.baseline + flat.value[node].sum(axis=1)

    @cached_property
    def _flat(self) -> SimpleNamespace:
        """The arrays flattened, tree after tree, and where each tree's root lies in them:
        one index a node (a moment's walk above costs 0.6 of one through the 2-D arrays)."""
        names = ("feature", "threshold", "left", "right", "missing_left", "value")
        return SimpleNamespace(roots=np.arange(self.feature.shape[0]) * self.feature.shape[1],
                               **{name: getattr(self, name).ravel() for name in names})

    def save(self, path: Path) -> None:
        """Write the arrays to ``path`` (``.npz``)."""
        np.savez_compressed(path, feature=self.feature, threshold=self.threshold,
                            left=self.left, right=self.right, missing_left=self.missing_left,
                            value=self.value, baseline=np.float64(self.baseline))

    @classmethod
    def load(cls, path: Path) -> Trees:
        """The trees :meth:`save` wrote to ``path``."""
        with np.load(path, allow_pickle=False) as data:
            return cls(**{name: data[name] for name in data.files if name != "baseline"},
                       baseline=float(data["baseline"]))


@cache
def fingerprint(path: Path = MODEL) -> str:
    """The SHA-256 of a shipped model's file (the check's by default: a selection kept with
    another is not replayed)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@cache
def model(path: Path = MODEL) -> Trees:
    """A shipped model (the check's by default; read once)."""
    return Trees.load(path)


def judged_at(codes: np.ndarray, first: int, peak: float, earlier: Earlier
              ) -> np.ndarray | None:
    """What the model reads of the moment at ``peak`` (:func:`judged`), set against the
    recording's ``earlier`` loud moments; ``None`` when its spectra are not there. A moment
    that is one of those loud moments is not measured again: its features are the ones
    ``earlier`` holds."""
    x = earlier.at(peak)
    if x is None:
        x = features(codes, first, peak)
    return None if x is None else judged(x, earlier.reference(peak))


def chance(codes: np.ndarray, first: int, peak: float, earlier: Earlier) -> float | None:
    """The chance that the moment at ``peak`` is a reaction (:func:`judged_at`); ``None``
    when its spectra are not there (so it cannot be judged)."""
    x = judged_at(codes, first, peak, earlier)
    return None if x is None else float(model().chance(x)[0])


def weighed(score: float, chance: float | None) -> float | None:
    """A moment's score once judged: ``None`` when the check drops it (a chance under
    :data:`DROP_BELOW`), its score times its chance when kept, its score as it was when it
    could not be judged (``chance`` is ``None``)."""
    if chance is None:
        return score
    return None if chance < DROP_BELOW else score * chance
