"""Writer ``report``: ``report.html``, one self-contained page to review a run, + thumbnails.

The page embeds its data as JSON and its CSS/JS inline (no network). It plots the score curve
over the whole file (an overview max-pooled to a few hundred points, and a zoomable detail
view), the line the selector judged by (its own Line), and the highlights; then one row per
highlight with its thumbnail, its playable clip (by relative path), time, level, kind and
why it was chosen.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from m0core.levels import clean
from m0core.model import Line
from m0core.outputs import position, write_text_atomic

from .thumbnails import make_thumbnails

if TYPE_CHECKING:
    from m0core.result import AnalysisResult

REPORT_FILE = "report.html"
#: Points of the overview curve (max-pooled) and the most points of the detail curve.
OVERVIEW_POINTS = 1200
DETAIL_POINTS = 50_000


def max_pool(values: np.ndarray, factor: int) -> np.ndarray:
    """The maximum of each group of ``factor`` values (the last group may be shorter)."""
    values = np.asarray(values, dtype=np.float64)
    if factor <= 1 or len(values) == 0:
        return values
    pad = (-len(values)) % factor
    padded = np.concatenate([values, np.full(pad, -np.inf)])
    return padded.reshape(-1, factor).max(axis=1)


def series(values: np.ndarray, step: float, points: int) -> dict[str, Any]:
    """``values`` (one per ``step`` s) max-pooled to at most ``points``: ``{step, values}``."""
    factor = max(1, -(-len(values) // points))
    pooled = max_pool(values, factor)
    return {"step": step * factor, "values": [round(float(v), 1) for v in pooled]}


def limit_series(result: AnalysisResult) -> dict[str, Any] | None:
    """The level a moment had to reach, or ``None``: the line the selector reported judging
    by (``AnalysisResult.line``), else a flat line at ``--threshold`` when one was given."""
    if result.line is not None and len(result.line.values):
        return result.line.to_dict()
    if result.options.threshold is not None:
        return Line.flat(result.options.threshold, result.hop, len(result.scores),
                         "--threshold").to_dict()
    return None


def track_label(result: AnalysisResult) -> str | None:
    """The audio track the run analysed, for a file with more than one (or a run on another
    than the first): ``audio track 2 "Mic"``, ``all 2 audio tracks mixed``; else ``None``."""
    tracks, track = result.media.tracks, result.options.audio_track
    if len(tracks) < 2 and track in (1, "all"):
        return None
    if track == "all":
        return f"all {len(tracks)} audio tracks mixed"
    return "audio " + (tracks[track - 1].name() if track <= len(tracks) else f"track {track}")


def report_data(result: AnalysisResult, out_dir: Path, thumbs: dict[int, Path]) -> dict:
    """Everything the page shows, JSON-ready."""
    scores = clean(result.scores)
    shown = scores[scores > -200.0]
    limit = limit_series(result)
    # the top holds the line too: one no score reaches is drawn where it is, not at the edge
    tops = [float(shown.max())] if len(shown) else []
    tops += [v for v in (limit["values"] if limit else []) if np.isfinite(v)]
    low = float(np.percentile(shown, 1)) - 6.0 if len(shown) else -90.0
    high = max(tops) + 3.0 if tops else 0.0
    rows = []
    for h in result.highlights:
        clip = result.clip_for(h)
        thumb = thumbs.get(h.index)
        rows.append({
            **h.to_dict(), "position": position(h.peak_time),
            "clip": _relative(clip.path, out_dir) if clip and clip.ok and clip.path else None,
            "clip_error": clip.error if clip and not clip.ok else None,
            "clip_start": clip.start if clip and clip.ok and clip.path else None,
            "thumb": _relative(thumb, out_dir) if thumb else None,
        })
    media = result.media
    duration = media.duration or len(scores) * result.hop
    return {
        "title": Path(media.path).name,
        "duration": duration,
        "has_video": media.has_video,
        "hop": result.hop,
        "selector": result.selector.name,
        "analyzer": result.analyzer.name,
        "track": track_label(result),
        "warnings": list(result.warnings),
        "range": [max(low, -120.0), max(high, low + 10.0)],
        "overview": series(scores, result.hop, OVERVIEW_POINTS),
        "detail": series(scores, result.hop, DETAIL_POINTS),
        "limit": limit,
        "highlights": rows,
        "compilation": result.compilation.to_dict() if result.compilation else None,
    }


def _relative(path: str, out_dir: Path) -> str:
    return Path(os.path.relpath(path, out_dir)).as_posix()


#: What the embedded JSON escapes so that no text in it can end the ``<script>`` element,
#: open a comment or a CDATA section in it, or end the line of a JavaScript string.
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                   "\u2028": "\\u2028", "\u2029": "\\u2029"}
_PLACEHOLDER = re.compile(r"\{\{(TITLE|DATA)\}\}")


def script_json(data: Any) -> str:
    """``data`` as JSON that is inert inside an HTML ``<script>`` element: ``<``, ``>``,
    ``&``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes (the same JSON once parsed)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(str.maketrans(_SCRIPT_ESCAPES))


def render(data: dict) -> str:
    """The page: the template with ``data`` embedded as JSON (safe inside ``<script>``) and the
    title escaped, both placeholders filled in one pass (a ``{{DATA}}`` in a name is text)."""
    template = files(__package__).joinpath("report.html").read_text(encoding="utf-8")
    values = {"TITLE": html.escape(data["title"], quote=True), "DATA": script_json(data)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


class ReportWriter:
    """``report.html`` and ``thumbs/NN.jpg`` (one per highlight, media with video only).

    Parameters
    ----------
    thumbnails:
        Grab a thumbnail per highlight (default ``True``).
    """

    def __init__(self, thumbnails: bool = True) -> None:
        self.thumbnails = thumbnails

    def steps(self, result: AnalysisResult) -> int:
        """The steps of :meth:`write`: a thumbnail per highlight (of media with video), then
        the page."""
        return 1 + (len(result.highlights) if self.thumbnails and result.media.has_video
                    else 0)

    def write(self, result: AnalysisResult, out_dir: Path,
              step: Callable[[], None] | None = None) -> list[Path]:
        """Grab the thumbnails, then write the page; returns every path made. ``step()`` is
        called after each thumbnail (see :meth:`steps`)."""
        thumbs = {}
        if self.thumbnails:
            thumbs = make_thumbnails(result.media, result.highlights, out_dir, step=step)
        target = out_dir / REPORT_FILE
        try:
            write_text_atomic(target, render(report_data(result, out_dir, thumbs)))
        except BaseException:
            for thumb in thumbs.values():
                thumb.unlink(missing_ok=True)
            raise
        return [*thumbs.values(), target]
