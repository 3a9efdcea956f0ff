"""A run resolved once: from the options (whichever front end made them) to the stages built,
the media probed, the timeline, the cache key and the worker jobs. Everything downstream —
decoding, selection, clips, the writers — reads the :class:`Plan`; nothing derives it again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from m0core import checks, combine, contracts, plugins
from m0core.contracts import Analyzer, Selector, Source
from m0core.errors import InputError, OptionError
from m0core.media.audio import OVERRUN, WRAPPED
from m0core.media.ends import cut_short
from m0core.media.ffmpeg import check_input_file, check_streams
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
    ``outlined``: ``media`` is the source's outline (what the file declares, read without a
    decoder), which the worker decoding the first segment replaces by its probe
    (:meth:`described`): this process then never loads the decoder.
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
    outlined: bool = False
    #: For a file cut short (:meth:`measured`): the length it declares where its audio ended
    #: more than :data:`~m0core.media.audio.OVERRUN` before it, else where its audio ended;
    #: ``None`` for a file not cut short.
    cut_short_of: float | None = None

    @property
    def exact_seek(self) -> bool:
        """Whether the source seeks exactly, so segments may be decoded in parallel."""
        return bool(contracts.optional("source", self.source, "exact_seek"))

    @property
    def hears(self) -> bool:
        """Whether the decoding makes the spectra of the audio: for a selector that listens,
        or for the cache (a run from it may use one that does)."""
        return self.cache_key is not None \
            or contracts.optional("selector", self.selector, "listen") is not None

    def segments(self) -> list[tuple[float, float | None]]:
        """The ``(start, length)`` segments this run decodes, in time order: one when this
        process decodes (:attr:`in_process`)."""
        return [(0.0, None)] if self.in_process else self._parallel()

    @property
    def in_process(self) -> bool:
        """Whether this process decodes (``jobs`` 0 or one core, or a stage known here only);
        otherwise worker processes do, each taking the next segment when free (a short file,
        or ``jobs`` 1, is one segment), so this process holds no decoder."""
        return _in_process(self.options)

    def described(self, media: MediaInfo) -> Plan:
        """This plan with ``media`` as a decoding process probed it, in place of the outline
        (the timeline and selector made again if the duration differs)."""
        if media.duration == self.media.duration:
            return replace(self, media=media, outlined=False)
        _check(self.path, media)
        timeline, selector, selector_params = _selection(self.options, self.hop, media)
        specs = {**self.specs, "selector": Stage(self.options.selector, selector_params)}
        return replace(self, media=media, outlined=False, timeline=timeline,
                       selector=selector, specs=specs)

    def measured(self, end: float) -> Plan:
        """This plan with the audio's end at ``end`` s, as the decode found it, where the file
        declares no duration or one more than :data:`OVERRUN` too short (FFmpeg estimates
        an MP3 without a Xing header from its bitrate; a recorder's WebM declares none), or
        one more than that too long where it was cut short: a file without video (an MP3 cut
        short whose header counts every frame), or one with video that stops inside its
        container's last unit (:func:`~m0core.media.ends.cut_short`; with whole framing, its
        video may go on after its audio), or one more than
        :data:`~m0core.media.audio.WRAPPED` too long (an MPEG-TS restarted below its start:
        FFmpeg counts the clock's wrap): its audio is all there is. A file cut short
        (:attr:`cut_short_of`) is said so in :attr:`warnings`."""
        declared = self.media.duration
        wrapped = declared is not None and end < declared - WRAPPED
        if end <= 0:
            return self
        if wrapped:
            return self._ended(end)
        stops = cut_short(self.path)
        if declared is None or end > declared + OVERRUN:  # its audio is all there is
            return self._ended(end, end if stops else None)
        if end < declared - OVERRUN and (stops or not self.media.has_video):
            return self._ended(end, declared)  # cut short of the length it declares
        if stops:  # within it: where the audio (of several tracks, the first) ends
            return self._ended(min(end, declared), min(end, declared))
        return self

    def _ended(self, end: float, cut_short_of: float | None = None) -> Plan:
        """This plan with the audio's end at ``end`` s and :attr:`cut_short_of`."""
        media = replace(self.media, duration=round(end, 3))
        return replace(self, media=media, cut_short_of=cut_short_of,
                       timeline=replace(self.timeline, duration=media.duration))

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a person should know of the input: a file cut short (a crash, a full disk, a
        download that stopped), whose audio ends well before the length it declares or whose
        container's last unit the file stops inside, was analysed up to where its audio
        ends."""
        if self.cut_short_of is None:
            return ()
        ends = f"{self.path}: looks cut short: its audio ends at {self.media.duration:.1f} s"
        if self.cut_short_of > self.media.duration + OVERRUN:
            return (f"{ends} of the {self.cut_short_of:.1f} s it declares (analysed up to "
                    "there)",)
        return (f"{ends}, where the file stops in the middle of its data (analysed up to "
                "there)",)

    def _parallel(self) -> list[tuple[float, float | None]]:
        jobs = self.options.decode_jobs if self.exact_seek else 1
        return plan_segments(self.media.duration, jobs, self.hop)

    @property
    def local_stages(self) -> list[str]:
        """The source and analyzer(s) registered in this process only (see
        :func:`m0core.plugins.in_process`), as ``analyzer "name"``."""
        return _local_stages(self.options)

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
                          plugins.modules_of(stages), describe=self.outlined and start == 0,
                          hear=self.hears)


def resolve(path: str | os.PathLike, options: Options) -> Plan:
    """Check the input, build the stages, probe the media (or load the cached curve) and fix
    the timeline: one :class:`Plan`. Raises an :class:`~m0core.M0Error` with one line."""
    path = checks.path("path", path)
    check_input_file(path)
    opts = plugins.named(options)
    analyzer = plugins.create("analyzers", opts.analyzer, **opts.analyzer_params)
    key = cache_key(path, opts, analyzer) if opts.cache else None
    cached = cache.load(key, path, float(analyzer.hop)) if key else None
    source = None
    outlined = False
    if cached is not None:
        media, hop = cached.media, cached.hop
    else:
        source = plugins.create("sources", opts.source, **opts.source_settings)
        outline = (None if _in_process(opts)
                   else contracts.optional("source", source, "outline"))
        with plugins.blame("sources", opts.source):
            media = outline(path) if outline is not None else None
            outlined = media is not None
            if media is None:
                media = source.probe(path)
        problem = contracts.media_problem(media)
        if problem is not None:
            raise plugins.broken("sources", opts.source, problem)
        hop = float(analyzer.hop)
    _check(path, media)
    timeline, selector, selector_params = _selection(opts, hop, media)
    specs = {"source": Stage(opts.source, opts.source_settings),
             "analyzer": Stage(opts.analyzer, dict(opts.analyzer_params)),
             "selector": Stage(opts.selector, selector_params)}
    return Plan(path, opts, media, hop, timeline, specs, source, analyzer, selector, key,
                cached, outlined, cached.cut_short_of if cached is not None else None)


def _check(path: str, media: MediaInfo) -> None:
    """:class:`InputError` for media with nothing to analyse."""
    check_streams(path, media)
    if not media.has_audio:
        raise InputError(f"{path}: has no audio stream, nothing to analyse")
    if media.duration is not None and media.duration <= 0:
        raise InputError(f"{path}: the audio is empty (zero duration), nothing to analyse")


def _selection(opts: Options, hop: float, media: MediaInfo
               ) -> tuple[Timeline, Selector, dict[str, Any]]:
    """The timeline of ``media``, the selector judging on it and the selector's parameters."""
    timeline = opts.timeline(hop, media.duration)
    selector_params = dict(opts.selector_params)
    if opts.max_clips and plugins.takes("selectors", opts.selector, "max_clips"):
        selector_params.setdefault("max_clips", opts.max_clips)
    if opts.sensitivity is not None:
        if "sensitivity" not in selector_params and not plugins.accepts(
                "selectors", opts.selector, "sensitivity"):
            raise OptionError(f'selector "{opts.selector}" has no sensitivity: drop '
                              "--sensitivity, or choose a selector that has one (standout)")
        selector_params.setdefault("sensitivity", opts.sensitivity)
    selector = plugins.create("selectors", opts.selector, timeline=timeline,
                              threshold=opts.threshold, **selector_params)
    return timeline, selector, selector_params


def _local_stages(opts: Options) -> list[str]:
    """The source and analyzer(s) registered in this process only (see
    :func:`m0core.plugins.in_process`), as ``analyzer "name"``."""
    stages = [("sources", opts.source)]
    stages += [("analyzers", part) for part in combine.parts(opts.analyzer)]
    return [f'{kind[:-1]} "{name}"' for kind, name in stages if plugins.in_process(kind, name)]


def _in_process(opts: Options) -> bool:
    """Whether a run with ``opts`` decodes in this process: no decoding worker (``jobs`` 0, or
    one core), or a stage known here only (a worker process builds its stages by name)."""
    return opts.decode_jobs == 0 or bool(_local_stages(opts))


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
