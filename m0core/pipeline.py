"""One file through the four stages: source → analyzer → selector → encoder.

The timeline is cut into segments decoded and analysed in parallel reader threads (one
ffmpeg each); their scores flow to the selector in time order as they are computed, and each
highlight goes to the encoder as soon as the selector finalises it, so clip 1 is cut while
hour 3 is still decoding. Memory is constant except for the score curve.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, as_completed
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from m0core import cache, plugins
from m0core.errors import InputError
from m0core.ffmpeg import check_input_file
from m0core.model import ClipResult, Highlight, MediaInfo, Stage
from m0core.options import Options
from m0core.segments import SegmentJob, plan_segments, scores_from_worker, segment_scores
from m0core.streaming import ReadAhead


class Progress:
    """Callbacks a caller can pass to follow a run; every method is optional to override."""

    def started(self, media: MediaInfo) -> None:
        """Probing is done; decoding starts."""

    def analysed(self, position: float, highlights: int) -> None:
        """Audio up to ``position`` seconds is analysed; ``highlights`` found so far."""

    def clip_done(self, result: ClipResult, done: int, submitted: int) -> None:
        """A clip finished (``result.ok`` tells how)."""

    def analysis_done(self, highlights: int, clips_pending: int) -> None:
        """The whole file is analysed; ``clips_pending`` clips are still being cut."""


@dataclass(frozen=True)
class AnalysisResult:
    """What one run found and made."""

    media: MediaInfo
    highlights: tuple[Highlight, ...]
    clips: tuple[ClipResult, ...]
    scores: np.ndarray
    hop: float
    options: Options
    source: Stage
    analyzer: Stage
    selector: Stage
    out_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: One line per writer (``--format``, the report) that failed; the other outputs are kept.
    failed_outputs: tuple[str, ...] = ()

    def clip_for(self, highlight: Highlight) -> ClipResult | None:
        """The clip made for ``highlight``, if any."""
        for clip in self.clips:
            if clip.highlight.index == highlight.index:
                return clip
        return None

    @property
    def failed_clips(self) -> tuple[ClipResult, ...]:
        """Clips that could not be made."""
        return tuple(c for c in self.clips if not c.ok)


def analyze(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    options: Options | None = None,
    *,
    progress: Progress | None = None,
    **overrides: Any,
) -> AnalysisResult:
    """Find the highlights of ``path`` and, with ``out_dir``, cut their clips and write
    ``highlights.json`` and ``index.json`` there.

    ``options`` (an :class:`Options`) and keyword ``overrides`` (any Options field, e.g.
    ``threshold=-8``, ``clips=False``) choose plugins and settings. Raises an
    :class:`~m0core.M0Error` subclass with one clear line for bad input, options or output.
    On failure nothing this run wrote is left in ``out_dir``. A writer that fails after the
    analysis (an extra ``formats`` file, the report) does not fail the run: its line is in
    ``failed_outputs`` and the clips, the JSON files and the other writers' files are kept.
    """
    from m0core.outputs import create_writers, prepare_out_dir, write_outputs

    opts = Options.build(options, **overrides)
    progress = progress or Progress()
    started = time.perf_counter()
    path = os.fspath(path)
    check_input_file(path)
    analyzer = plugins.create("analyzers", opts.analyzer, **opts.analyzer_params)
    ident = _cache_identity(path, opts, analyzer) if opts.cache else None
    cached = cache.load(ident) if ident else None
    source = None
    if cached is not None:
        media, hop = cached.media, cached.hop
    else:
        source = plugins.create("sources", opts.source, **opts.source_params)
        with plugins.blame("sources", opts.source):
            media = source.probe(path)
        hop = float(analyzer.hop)
    if not media.has_audio:
        raise InputError(f"{path}: has no audio stream, nothing to analyse")
    if media.duration is not None and media.duration <= 0:
        raise InputError(f"{path}: the audio is empty (zero duration), nothing to analyse")
    selector_params = dict(opts.selector_params)
    if opts.selector == "top" and opts.max_clips:
        selector_params.setdefault("count", opts.max_clips)
    if opts.sensitivity is not None:
        selector_params.setdefault("sensitivity", opts.sensitivity)
    selector = plugins.create("selectors", opts.selector, **{
        "timeline": opts.timeline(hop, media.duration), "threshold": opts.threshold,
        **selector_params})
    out = prepare_out_dir(out_dir) if out_dir is not None else None
    writers = create_writers(opts) if out is not None else {}
    progress.started(media)

    run = _Run(media, opts, out, progress, selector)
    try:
        if cached is not None:
            run.select(cached.scores)
            progress.analysed(media.duration or 0.0, run.found)
        else:
            _decode(path, media, opts, source, analyzer, run)
        run.select(None)
        run.timings["analysis"] = time.perf_counter() - started
        if ident is not None and cached is None:
            cache.store(ident, media, hop, run.curve())
        progress.analysis_done(run.found, run.pending)
        run.finish_clips()
    except BaseException:
        run.abort()
        raise

    result = AnalysisResult(
        media=media,
        highlights=tuple(run.highlights),
        clips=tuple(sorted(run.clips, key=lambda c: c.highlight.index)),
        scores=run.curve(),
        hop=hop,
        options=opts,
        source=Stage(opts.source, dict(opts.source_params)),
        analyzer=Stage(opts.analyzer, dict(opts.analyzer_params)),
        selector=Stage(opts.selector, selector_params),
        out_dir=out,
        timings={**run.timings, "cached": float(cached is not None)},
    )
    if out is not None:
        try:
            _, failed = write_outputs(result, writers)
        except BaseException:
            run.abort()
            raise
        result = replace(result, failed_outputs=tuple(failed))
    result.timings["total"] = time.perf_counter() - started
    return result


def _cache_identity(path: str, opts: Options, analyzer: Any) -> dict[str, Any]:
    from m0core import __version__

    versions = {
        "m0": __version__,
        "source": plugins.version_of(plugins.lookup("sources", opts.source).plugin),
        "analyzer": "+".join(str(plugins.version_of(plugins.lookup("analyzers", part).plugin))
                             for part in opts.analyzer.split("+")),
        "analyzer_class": str(getattr(analyzer, "version", "")),
    }
    return cache.identity(path, opts.source, dict(opts.source_params), opts.analyzer,
                          dict(opts.analyzer_params), versions)


def _decode(path: str, media: MediaInfo, opts: Options, source: Any, analyzer: Any,
            run: _Run) -> None:
    """Decode and analyse the timeline and feed the scores to the selector in time order.

    With a source that seeks exactly and a long enough file, the timeline is split into
    segments analysed by worker processes; otherwise one reader thread does it all. Either
    way a reader thread per segment collects the (small) score arrays, and audio is held one
    chunk at a time.
    """
    jobs = opts.decode_jobs if getattr(source, "exact_seek", False) else 1
    segments = plan_segments(media.duration, jobs, float(analyzer.hop))
    decoded = [0.0] * len(segments)

    def report() -> None:
        run.progress.analysed(sum(decoded), run.found)

    def reader(start: float, length: float | None) -> Callable[[], Iterator]:
        if len(segments) == 1:
            return lambda: segment_scores(source, opts.source, analyzer, opts.analyzer, path,
                                          chunk_seconds=opts.chunk_seconds, start=start,
                                          length=length)
        job = SegmentJob(path, opts.source, dict(opts.source_params), opts.analyzer,
                         dict(opts.analyzer_params), opts.chunk_seconds, start, length,
                         plugins.blocked())
        return lambda: scores_from_worker(job)

    def counted(index: int, make: Callable[[], Iterator]) -> Callable[[], Iterator]:
        def generate() -> Iterator[np.ndarray]:
            for scores, seconds in make():
                decoded[index] += seconds
                yield scores
        return generate

    with ExitStack() as stack:
        readers = [stack.enter_context(ReadAhead(counted(i, reader(start, length)),
                                                 maxsize=0, on_idle=report))
                   for i, (start, length) in enumerate(segments)]
        for stream in readers:
            for scores in stream:
                run.select(scores)
                run.collect()
                report()
    if not sum(decoded):
        raise InputError(f"{path}: the audio is empty (zero duration), nothing to analyse")


class _Run:
    """The mutable state of one run: the curve, the selector and its highlights, the encoder
    and its clips. Every call into the selector and the encoder plugins is made here, inside
    :func:`plugins.blame`."""

    def __init__(self, media: MediaInfo, opts: Options, out: Path | None,
                 progress: Progress, selector: Any) -> None:
        self.media = media
        self.opts = opts
        self.out = out
        self.progress = progress
        self.selector = selector
        self.parts: list[np.ndarray] = []
        self.highlights: list[Highlight] = []
        self.held: list[Highlight] = []  # with max_clips, the best are chosen at the end
        self.clips: list[ClipResult] = []
        self.futures: list = []
        self.timings: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.encoder = None
        if out is not None and opts.clips:
            self.encoder = plugins.create("encoders", opts.encoder, **{
                "media": media, "out_dir": out, "workers": opts.clip_workers, "cut": opts.cut,
                "timeout": opts.clip_timeout, **opts.encoder_params})

    @property
    def found(self) -> int:
        return len(self.highlights) + len(self.held)

    @property
    def pending(self) -> int:
        return len(self.futures)

    def select(self, scores: np.ndarray | None) -> None:
        """Feed the next ``scores`` to the selector (``None``: the stream ended, finish it),
        keep them for the curve and take the highlights it gives."""
        with plugins.blame("selectors", self.opts.selector):
            if scores is None:
                highlights = list(self.selector.finish())
            else:
                highlights = list(self.selector.feed(scores))
        if scores is not None and len(scores):
            self.parts.append(np.asarray(scores, dtype=np.float32))
        for h in highlights:
            if self.opts.max_clips:
                self.held.append(h)
            else:
                self._accept(h)

    def _accept(self, h: Highlight) -> None:
        h = replace(h, index=len(self.highlights) + 1)
        self.highlights.append(h)
        if self.encoder is not None:
            with plugins.blame("encoders", self.opts.encoder):
                self.futures.append(self.encoder.submit(h))

    def collect(self) -> None:
        """Record the clips finished so far (in the caller's thread, for progress)."""
        for future in [f for f in self.futures if f.done()]:
            self._record(future)

    def _record(self, future: Future) -> None:
        self.futures.remove(future)
        with plugins.blame("encoders", self.opts.encoder):
            result = future.result()
        if "first_clip" not in self.timings and result.ok:
            self.timings["first_clip"] = time.perf_counter() - self.t0
        self.clips.append(result)
        self.progress.clip_done(result, len(self.clips), len(self.clips) + len(self.futures))

    def finish_clips(self) -> None:
        """Cut the held best (with ``max_clips``) and wait for every clip."""
        if self.held:
            best = sorted(self.held, key=lambda h: h.score, reverse=True)[: self.opts.max_clips]
            self.held = []
            for h in sorted(best, key=lambda h: h.peak_time):
                self._accept(h)
        if self.encoder is not None:
            started = time.perf_counter()
            for future in as_completed(list(self.futures)):
                self._record(future)
            with plugins.blame("encoders", self.opts.encoder):
                self.encoder.close()
            self.timings["clips_wait"] = time.perf_counter() - started

    def abort(self) -> None:
        """Stop the encoder and remove every clip this run wrote (while the error that
        stopped the run propagates: an encoder failing to stop does not replace it)."""
        if self.encoder is not None:
            with suppress(Exception):
                self.encoder.close(cancel=True)
        finished = [f.result() for f in self.futures
                    if f.done() and not f.cancelled() and f.exception() is None]
        for clip in self.clips + finished:
            if clip.ok and clip.path:
                try:
                    os.unlink(clip.path)
                except OSError:
                    pass
        self.clips.clear()

    def curve(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)
