"""A run resolved once: from the options (whichever front end made them) to the stages built,
the media probed, the timeline, the cache key and the worker jobs. Everything downstream —
decoding, selection, clips, the writers — reads the :class:`Plan`; nothing derives it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from m0core import combine, contracts, plugins
from m0core.contracts import Analyzer, Selector, Source
from m0core.errors import InputError
from m0core.media.ffmpeg import check_input_file
from m0core.model import MediaInfo, Stage, Timeline
from m0core.options import Options
from m0core.pipeline import cache
from m0core.pipeline.segments import SegmentJob, plan_segments
from m0core.version import __version__


@dataclass(frozen=True)
class Plan:
    """One run of one file, resolved.

    ``source`` is ``None`` when the score curve comes from the cache (nothing is decoded);
    ``cached`` is that entry. ``cache_key`` is ``None`` with ``options.cache`` off.
    """

    path: str
    options: Options
    media: MediaInfo
    hop: float
    timeline: Timeline
    specs: dict[str, Stage]
    source: Source | None
    analyzer: Analyzer
    selector: Selector
    cache_key: dict[str, Any] | None
    cached: cache.Entry | None

    @property
    def exact_seek(self) -> bool:
        """Whether the source seeks exactly, so segments may be decoded in parallel."""
        return bool(contracts.optional("source", self.source, "exact_seek"))

    def segments(self) -> list[tuple[float, float | None]]:
        """The ``(start, length)`` segments this run decodes, in time order: one when a stage
        is known in this process only (a worker process builds its stages by name)."""
        parallel = self._parallel()
        return [(0.0, None)] if len(parallel) > 1 and self.local_stages else parallel

    def _parallel(self) -> list[tuple[float, float | None]]:
        jobs = self.options.decode_jobs if self.exact_seek else 1
        return plan_segments(self.media.duration, jobs, self.hop)

    @property
    def local_stages(self) -> list[str]:
        """The source and analyzer(s) registered in this process only (see
        :func:`m0core.plugins.in_process`), as ``analyzer "name"``."""
        stages = [("sources", self.options.source)]
        stages += [("analyzers", part) for part in combine.parts(self.options.analyzer)]
        return [f'{kind[:-1]} "{name}"' for kind, name in stages
                if plugins.in_process(kind, name)]

    @property
    def notes(self) -> tuple[str, ...]:
        """What a person may want to know about how this run decodes."""
        if self.cached is None and len(self._parallel()) > 1 and self.local_stages:
            return (f"{', '.join(self.local_stages)} registered in this process only: decoded "
                    "here in one pass instead of in parallel segments",)
        return ()

    def segment_job(self, start: float, length: float | None) -> SegmentJob:
        """What a worker process needs to decode and analyse one segment."""
        source, analyzer = self.specs["source"], self.specs["analyzer"]
        stages = [("sources", source.name)]
        stages += [("analyzers", part) for part in combine.parts(analyzer.name)]
        return SegmentJob(self.path, source.name, dict(source.params), analyzer.name,
                          dict(analyzer.params), self.options.chunk_seconds, start, length,
                          plugins.modules_of(stages))


def resolve(path: str | os.PathLike, options: Options) -> Plan:
    """Check the input, build the stages, probe the media (or load the cached curve) and fix
    the timeline: one :class:`Plan`. Raises an :class:`~m0core.M0Error` with one line."""
    path = os.fspath(path)
    check_input_file(path)
    opts = options
    analyzer = plugins.create("analyzers", opts.analyzer, **opts.analyzer_params)
    key = cache_key(path, opts, analyzer) if opts.cache else None
    cached = cache.load(key, path, float(analyzer.hop)) if key else None
    source = None
    if cached is not None:
        media, hop = cached.media, cached.hop
    else:
        source = plugins.create("sources", opts.source, **opts.source_settings)
        with plugins.blame("sources", opts.source):
            media = source.probe(path)
        hop = float(analyzer.hop)
    if not media.has_audio:
        raise InputError(f"{path}: has no audio stream, nothing to analyse")
    if media.duration is not None and media.duration <= 0:
        raise InputError(f"{path}: the audio is empty (zero duration), nothing to analyse")
    timeline = opts.timeline(hop, media.duration)
    selector_params = dict(opts.selector_params)
    if opts.max_clips and plugins.takes("selectors", opts.selector, "max_clips"):
        selector_params.setdefault("max_clips", opts.max_clips)
    if opts.sensitivity is not None:
        selector_params.setdefault("sensitivity", opts.sensitivity)
    selector = plugins.create("selectors", opts.selector, timeline=timeline,
                              threshold=opts.threshold, **selector_params)
    specs = {"source": Stage(opts.source, opts.source_settings),
             "analyzer": Stage(opts.analyzer, dict(opts.analyzer_params)),
             "selector": Stage(opts.selector, selector_params)}
    return Plan(path, opts, media, hop, timeline, specs, source, analyzer, selector, key,
                cached)


def cache_key(path: str, opts: Options, analyzer: Analyzer) -> dict[str, Any]:
    """Everything that decides the score curve of ``path`` (see :func:`cache.identity`)."""
    versions = {
        "m0": __version__,
        "source": plugins.version_of(plugins.lookup("sources", opts.source).plugin),
        "analyzer": "+".join(str(plugins.version_of(plugins.lookup("analyzers", part).plugin))
                             for part in combine.parts(opts.analyzer)),
        "analyzer_class": str(contracts.optional("analyzer", analyzer, "version")),
    }
    return cache.identity(path, opts.source, opts.source_settings, opts.analyzer,
                          dict(opts.analyzer_params), versions)
