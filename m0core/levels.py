"""dB arithmetic on score curves, shared by the core, the selectors and the writers."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def values_per_second(hop: float) -> int:
    """How many score values make one (about) one-second bin."""
    return max(1, int(round(1.0 / hop)))


def power_mean_db(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The dB of the mean power of dB ``values`` (along ``axis``); silence (-inf) stays -inf."""
    power = np.power(10.0, np.asarray(values, dtype=np.float64) / 10.0)
    if axis is None:  # np.mean's sum and division, without its cost on short arrays
        return 10.0 * np.log10(power.sum() / power.size)
    return 10.0 * np.log10(np.mean(power, axis=axis))


def bin_levels(values: np.ndarray, size: int) -> np.ndarray:
    """Power mean of each whole group of ``size`` consecutive values (a rest is ignored)."""
    count = len(values) // size
    return power_mean_db(np.asarray(values[: count * size]).reshape(count, size), axis=1)


#: Level that stands for silence (also for -inf and NaN scores).
SILENCE_DB = -200.0


def clean(scores: np.ndarray) -> np.ndarray:
    """Scores as float64, with NaN, -inf and anything below :data:`SILENCE_DB` made silence."""
    x = np.nan_to_num(np.asarray(scores, dtype=np.float64).ravel(), nan=SILENCE_DB,
                      neginf=SILENCE_DB)
    return np.maximum(x, SILENCE_DB)


#: The dB analyzers' default floor (``floor_db`` of ``rms-streaming``, ``rms-legacy`` and
#: ``loudness``): the value of a window of exact zeros, and of any quieter than it.
FLOOR_DB = -100.0

#: Values under this (dB) are digital silence (a late-starting track, a gap filled with
#: silence): only the analyzers' floor (:data:`FLOOR_DB`), what exact zeros give. Anything
#: over it, however quiet, is sound — a room's hum between the lines of a stream mixed low
#: lies under -90 dB — so a recording's highlights do not change with the gain it was mixed at.
SILENT_DB = FLOOR_DB + 1.0


def silent(scores: np.ndarray) -> bool:
    """Whether every one of ``scores`` (at least one) is digital silence (:data:`SILENT_DB`)."""
    values = clean(scores)
    return len(values) > 0 and not np.any(values >= SILENT_DB)


def ignored_silence(rows: np.ndarray) -> np.ndarray:
    """The values of ``rows`` (2-D) that are digital silence in a row that is less than half
    silent (a row mostly silent is judged as it is)."""
    silent = rows < SILENT_DB
    return silent & (silent.mean(axis=-1, keepdims=True) < 0.5)


def percentiles(rows: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(rows, q, axis=-1)`` (its "linear" method) of 2-D ``rows`` that hold
    no NaN, the same to the bit (rows: ``len(q)``) at a third of its cost: one partition or
    sort, without numpy's general path, which costs more than the partition itself on the
    rows of a few hundred values the selectors measure thousands of times an hour."""
    below, above, kth, t, near = _places(rows.shape[-1], tuple(q))
    # the same numbers in their places either way: a sort costs less on short rows and on
    # many values (numpy's partition at several places slows sharply past about 16,000)
    whole = rows.shape[-1] <= 256 or rows.size >= 16384
    part = np.sort(rows, axis=-1) if whole else np.partition(rows, kth, axis=-1)
    a, b = part[:, below].T, part[:, above].T
    # numpy's interpolation, step for step: from the nearer neighbour
    step = b - a
    out = a + step * t
    np.subtract(b, step * (1 - t), out=out, where=near)
    return out


@lru_cache(maxsize=256)
def _places(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Where :func:`percentiles` reads the ``q`` of ``n`` values, sorted: the places below
    and above each, both to partition at, the fraction between them (a column) and whether
    it is read from the one above."""
    at = (n - 1) * (np.asarray(q, dtype=np.float64) / 100.0)  # its place among them, sorted
    below = np.floor(at).astype(np.intp)
    last = at >= n - 1
    below[last] = n - 1
    above = np.where(last, n - 1, below + 1)
    t = (at - np.where(last, -1, below))[:, None]  # numpy reads the last as -1
    places = below, above, np.concatenate([below, above]), t, t >= 0.5
    for a in places:  # shared by every call: read only
        a.flags.writeable = False
    return places


def median(values: np.ndarray) -> float:
    """``np.median`` of 1-D ``values`` that hold no NaN, the same to the bit, at a fraction of
    its cost on short arrays (see :func:`percentiles`)."""
    n = len(values)
    half = n // 2
    if not n:
        return float("nan")
    if n % 2:
        return float(np.partition(values, half)[half])
    part = np.partition(values, [half - 1, half])
    return float((part[half - 1] + part[half]) / 2.0)


def medians(rows: np.ndarray) -> np.ndarray:
    """``np.median(rows, axis=0)`` of 2-D ``rows`` that hold no NaN, the same to the bit (the
    mean of the middle one or two of each column, as numpy takes it), from a sort: on a few
    hundred rows of a few dozen columns, a third of numpy's cost."""
    n = len(rows)
    return np.sort(rows, axis=0)[(n - 1) // 2:n // 2 + 1].mean(axis=0)


def audible_percentiles(rows: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(rows, q, axis=-1)`` of 2-D ``rows``, leaving out the digital silence
    of :func:`ignored_silence` (rows: ``len(q)``). The one rule the selectors share."""
    out = percentiles(rows, q)
    if not np.any(rows < SILENT_DB):  # most rows: no silence to leave out
        return out
    ignored = ignored_silence(rows)
    mixed = ignored.any(axis=-1)
    if np.any(mixed):
        out[:, mixed] = np.nanpercentile(np.where(ignored[mixed], np.nan, rows[mixed]), q,
                                         axis=-1)
    return out


def audible_power_mean(values: np.ndarray) -> float:
    """:func:`power_mean_db` of 1-D ``values``, leaving out the digital silence of
    :func:`ignored_silence` (the rule of :func:`audible_percentiles`)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) and values.min() >= SILENT_DB:  # most stretches: no silence to leave out
        return float(power_mean_db(values))
    rows = values[None, :]
    return float(power_mean_db(rows[~ignored_silence(rows)]))


class RunningPercentile:
    """A percentile of every audible value seen so far (digital silence left out), to
    ``step`` dB, in constant memory: a count of the values in each ``step``-dB bin from
    :data:`SILENT_DB` up to ``top`` dB (louder ones count in the last)."""

    def __init__(self, percentile: float, *, step: float = 0.1, top: float = 20.0) -> None:
        self.percentile = percentile
        self.step = step
        self._counts = np.zeros(int(np.ceil((top - SILENT_DB) / step)) + 1, dtype=np.int64)
        self.count = 0

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (dB; cleaned, as :func:`clean` gives them)."""
        audible = values[values >= SILENT_DB]
        if len(audible):
            bins = np.minimum(((audible - SILENT_DB) / self.step).astype(np.int64),
                              len(self._counts) - 1)
            self._counts += np.bincount(bins, minlength=len(self._counts))
            self.count += len(audible)

    def value(self) -> float | None:
        """The percentile by nearest rank (the smallest value with that share of the values at
        or under it), as the top of its bin; ``None`` before any audible value."""
        if not self.count:
            return None
        rank = int(np.ceil(self.percentile / 100.0 * self.count))
        index = int(np.searchsorted(np.cumsum(self._counts), max(1, rank)))
        return SILENT_DB + (index + 1) * self.step
