"""``m0 reference``: the level statistics of a recording and the thresholds they suggest.

One streaming pass of the normal pipeline (source → analyzer → the default selector, no
clips) gives the score curve, which is all the statistics need, what the default would pick
and the line it judged by. Silence (at or below the analyzers' floor,
:data:`m0core.levels.FLOOR_DB`) is left out of the statistics. The thresholds are percentiles
of the one-second levels the crest selector judges, so each picks the seconds it says are
above it.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from m0core.errors import InputError
from m0core.levels import FLOOR_DB, bin_levels, clean, power_mean_db, values_per_second
from m0core.media.ffmpeg import silent_track
from m0core.options import Options
from m0core.pipeline.run import Progress, analyze
from m0core.result import AnalysisResult

#: Share of the time a threshold leaves above it: aggressive (many clips) … conservative.
THRESHOLD_PERCENTILES = {"aggressive": 90.0, "balanced": 97.0, "conservative": 99.5}
HISTOGRAM_BINS = 12


@dataclass(frozen=True)
class Reference:
    """Level statistics of one file (dB values rounded to 0.1).

    ``dynamic_range_db`` is p95 − p5 of the level; ``thresholds`` maps aggressive / balanced /
    conservative to the one-second level (crest's) exceeded 10 % / 3 % / 0.5 % of the time
    (use one with ``--selector crest -t``); ``adaptive_limit_db`` is the median level the
    default selector required; ``histogram`` is ``[low_db, high_db, share_of_time]`` rows;
    ``warnings`` what the analysis warned of (a recording that looks cut short), as
    ``m0 analyze`` says them; ``unit`` what the analyzer's values are (its ``unit``:
    ``dBFS`` for the rms analyzers, ``LUFS``, ``dB of flux``; ``dB`` for one that does not
    say, or analyzers combined).
    """

    path: str
    duration: float
    average_db: float
    max_db: float
    percentiles: dict[str, float]
    dynamic_range_db: float
    thresholds: dict[str, float]
    adaptive_highlights: int
    adaptive_limit_db: float | None
    adaptive_peaks: list[float]
    histogram: list[list[float]]
    warnings: list[str] = field(default_factory=list)
    unit: str = "dB"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def reference(path: str | os.PathLike, options: Options | None = None, *,
              progress: Progress | None = None) -> Reference:
    """Analyse ``path`` (streaming, no clips) and return its :class:`Reference`.

    ``options`` may choose the source and analyzer; the selector is always the default one
    with its defaults, so ``adaptive_*`` tell what a plain ``m0 analyze`` would pick.
    """
    opts = Options.build(options, selector=Options().selector, selector_params={},
                         threshold=None, max_clips=None, clips=False)
    return summarise(analyze(path, None, opts, progress=progress))


def summarise(result: AnalysisResult) -> Reference:
    """The :class:`Reference` of an analysis result's score curve, labelled with the unit of
    the analyzer that made it (:attr:`AnalysisResult.unit`; ``dB`` where it gives none)."""
    scores = np.asarray(result.scores, dtype=np.float64)
    level = scores[np.isfinite(scores) & (scores > FLOOR_DB)]
    duration = result.media.duration or len(scores) * result.hop
    if len(level) == 0:
        said = silent_track(result.media, result.options.audio_track,
                            ", there are no levels to measure")
        raise InputError(f"{result.media.path}: {said}")
    names = {"p5": 5.0, "p10": 10.0, "p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
    pct = dict(zip(names, np.percentile(level, list(names.values())), strict=True))
    seconds = bin_levels(clean(scores), values_per_second(result.hop))
    seconds = seconds[seconds > FLOOR_DB]  # as crest judges them; a file under 1 s has none
    thresholds = dict(zip(THRESHOLD_PERCENTILES, np.percentile(
        seconds if len(seconds) else level, list(THRESHOLD_PERCENTILES.values())), strict=True))
    limit = result.line.values if result.line is not None else np.zeros(0)
    counts, edges = np.histogram(level, bins=HISTOGRAM_BINS,
                                 range=(np.floor(pct["p5"] - 3), np.ceil(level.max())))
    counts[0] += int(np.sum(level < edges[0]))
    return Reference(
        path=result.media.path,
        duration=round(duration, 3),
        average_db=_r(power_mean_db(level)),
        max_db=_r(level.max()),
        percentiles={k: _r(v) for k, v in pct.items()},
        dynamic_range_db=_r(pct["p95"] - pct["p5"]),
        # rounded down: the loudest seconds stay at or above each, as crest judges them
        thresholds={k: _r(math.floor(v * 10) / 10) for k, v in thresholds.items()},
        adaptive_highlights=len(result.highlights),
        adaptive_limit_db=_r(np.median(limit)) if len(limit) else None,
        adaptive_peaks=[round(h.peak_time, 2) for h in result.highlights],
        histogram=[[_r(lo), _r(hi), round(float(c) / len(level), 4)]
                   for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)],
        warnings=list(result.warnings),
        unit=result.unit or "dB",
    )


def _r(value: float) -> float:
    return round(float(value), 1)
