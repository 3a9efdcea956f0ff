"""One file through the four stages: source → analyzer → selector → encoder, then the
writers, following a :class:`~m0core.pipeline.plan.Plan` resolved once.

The timeline is cut into segments decoded and analysed in parallel worker processes (one
reader thread each here), or decoded in this thread with ``jobs`` 1; their scores flow to the
selector in time order as they are computed, and each highlight goes to the encoder as soon
as the selector finalises it, so clip 1 is cut while hour 3 is still decoding. Memory is
constant except for the score curve.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from m0core import checks, contracts, levels, plugins, workers
from m0core.errors import InputError, M0Error, OptionError
from m0core.judge import spectra
from m0core.media.audio import truncation_slack
from m0core.media.ffmpeg import silent_track
from m0core.model import ClipResult, Compilation, Highlight, Line, MediaInfo
from m0core.options import Options
from m0core.pipeline import cache, selections
from m0core.pipeline.plan import Plan, resolve
from m0core.pipeline.segments import Decoders, Piece, scores_from_worker, segment_scores
from m0core.pipeline.streaming import ReadAhead
from m0core.result import AnalysisResult
from m0core.staging import Staging, kept_on_stop
from m0core.stops import held_signals

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["AnalysisResult", "Plan", "Progress", "analyze", "execute", "resolve"]

#: Seconds of scores (and the spectra of their audio, just before) handed to the selector at a
#: time, or what came within :data:`SELECT_WAIT` seconds of the clock, whichever is first. A
#: selector's work per call hardly depends on how many values it is given: standout took
#: 0.40 s of CPU per hour of audio fed a chunk's 50 values at a time, 0.13 s fed 300. A
#: highlight still reaches the encoder at most a quarter of a second after its scores, however
#: slow the analyzer.
SELECT_SECONDS = 30.0
SELECT_WAIT = 0.25


class Progress:
    """Callbacks a caller can pass to follow a run; every method is optional to override."""

    def started(self, media: MediaInfo) -> None:
        """Probing is done; decoding starts."""

    def analysed(self, position: float, highlights: int) -> None:
        """Audio up to ``position`` seconds is analysed; ``highlights`` found so far."""

    def clip_done(self, result: ClipResult, done: int, submitted: int) -> None:
        """A clip finished (``result.ok`` tells how). Its ``path`` is where it was made: in
        the run's private folder inside the output folder, until the run completes and moves
        it in (the :class:`AnalysisResult`'s clips have the final paths)."""

    def analysis_done(self, highlights: int, clips_pending: int) -> None:
        """The whole file is analysed; ``clips_pending`` clips are still being cut."""

    def compiling(self, done: int, total: int) -> None:
        """The clips are done and are being joined into the compilation (``compilation``):
        called with ``done`` 0 before and ``total`` after, one step of ``total`` (1). Not
        called when the run makes no compilation."""

    def writing(self, done: int, total: int) -> None:
        """The clips are done and the outputs are being written: ``done`` of ``total`` steps
        (each thumbnail of the report, its page, each ``formats`` file), from 0 to ``total``.
        Not called when the run writes no report and no other format."""


#: What a progress object is called with: every :class:`Progress` method an object that is
#: not a :class:`Progress` must have (``compiling`` and ``writing``, added later, it may
#: leave out).
PROGRESS_CALLBACKS = ("started", "analysed", "clip_done", "analysis_done")


def checked_progress(progress: Progress | None) -> Progress:
    """``progress``, or a :class:`Progress` that does nothing for ``None``; anything without
    every callback (a plain function, say) is an :class:`~m0core.OptionError` before the run
    starts, not an ``AttributeError`` from inside it."""
    if progress is None:
        return Progress()
    if isinstance(progress, type):
        raise OptionError(f"progress must be an instance: {progress.__name__}(), not the "
                          f"class {progress.__name__}")
    missing = [name for name in PROGRESS_CALLBACKS
               if not callable(getattr(progress, name, None))]
    if missing and not isinstance(progress, Progress):
        raise OptionError(f"progress must be an m0core.Progress (subclass it and override the "
                          f"callbacks you want: {', '.join(PROGRESS_CALLBACKS)}), not "
                          f"{type(progress).__name__}")
    return progress


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
    Everything is made in a private folder inside ``out_dir`` and published only when the
    run completes (:mod:`m0core.staging`): a run that fails or is interrupted leaves nothing
    of its own and the previous run's outputs in ``out_dir`` as they were. A writer that fails
    after the analysis (an extra ``formats`` file, the report) does not raise: its line is in
    ``failed_outputs``, and the clips, the JSON files and the other writers' files are
    published — or, over a previous run's results, those are kept instead, as for a clip that
    failed (``published`` is then false).

    ``progress``, a :class:`Progress` (subclass it and override what you need), is told as
    the run goes: probed, analysed up to a time, each clip done, the analysis done.
    """
    started = time.perf_counter()
    progress = checked_progress(progress)
    try:
        with kept_on_stop(out_dir):  # nothing of this run is in out_dir yet
            plan = resolve(path, Options.build(options, **overrides))
        return execute(plan, out_dir, progress=progress, started=started)
    finally:
        workers.discard(workers.SEGMENTS)  # one prestarted for a run that did not take it


def execute(plan: Plan, out_dir: str | os.PathLike | None = None, *,
            progress: Progress | None = None, started: float | None = None) -> AnalysisResult:
    """Run a resolved :class:`Plan`: decode (or read the cached curve), select, cut clips and
    write the outputs into ``out_dir``."""
    from m0core.outputs import create_writers, out_dir_for

    started = time.perf_counter() if started is None else started
    progress = checked_progress(progress)
    if out_dir is not None:
        checks.path("out_dir", out_dir, folder=True)
    opts = plan.options
    if out_dir is not None and opts.clips and opts.short_form.reframes \
            and not plan.media.has_video:
        raise InputError(f"{plan.path}: has no video to reframe (--aspect/--height need a "
                         "video input; drop them for audio-only files)")
    if out_dir is None:
        return _execute(plan, None, {}, progress, started)
    writers = create_writers(plan.options)  # before any folder
    # a run that made the folder and failed before publishing leaves none
    with out_dir_for(out_dir) as out:
        return _execute(plan, out, writers, progress, started)


def _execute(plan: Plan, out: Path | None, writers: dict, progress: Progress,
             started: float) -> AnalysisResult:
    staging: Staging | None = None
    # a stop before this run published says the previous results it kept, however early
    with kept_on_stop(out, lambda: staging is not None and staging.published), \
            ExitStack() as stack:
        # the decoding starts first: with worker processes, while they start this process
        # builds the rest; a plan made on the source's outline waits for the first one's probe
        streams = _Streams(plan, stack) if plan.cached is None else None
        if streams is not None and plan.outlined:
            described = plan.described(streams.media())
            if described.segments() != streams.segments:
                # the outline's duration splits the file elsewhere than the probe's: decode
                # on the probe's segments, as a plan made on the probe would
                streams.close()
                streams = _Streams(described, stack)
            plan = described
        progress.started(plan.media)
        try:
            # a stop between making the private folder and holding it left the folder (the
            # terminal closed as the bar was first drawn): the stop waits for both
            with held_signals():
                # see m0core.staging: the one rule (never the input: it may lie in the folder)
                staging = Staging(out, keep=[plan.path]) if out is not None else None
            run = _Run(plan, staging, progress)
        except BaseException:
            if staging is not None:
                with held_signals():
                    staging.discard()
            raise
        try:
            if streams is None:
                _select_cached(plan, plan.cached, run)
                progress.analysed(plan.media.duration or 0.0, run.found)
            else:
                streams.feed(run)
                plan = plan.measured(sum(streams.decoded))
                run.ended(plan)
                run.select(None)
            result = _finish(plan, run, staging, writers, started)
        except BaseException:
            run.abort()
            raise
    result.timings["total"] = time.perf_counter() - started
    return result


def _finish(plan: Plan, run: _Run, staging: Staging | None, writers: dict,
            started: float) -> AnalysisResult:
    """After the selection: the cache, the clips, the outputs."""
    from m0core.outputs import write_outputs

    run.timings["analysis"] = time.perf_counter() - started
    if plan.cache_key is not None and plan.cached is None:
        cache.store(plan.cache_key, plan.media, plan.hop, run.curve(), plan.cut_short_of,
                    run.spool)
    run.take_best()  # before the progress is told how many clips are still to cut
    run.progress.analysis_done(run.found, run.pending)
    run.finish_clips()
    run.compile()
    curve = run.curve()
    warnings = plan.warnings
    if levels.silent(curve):  # so nothing stood out; another track may hold the sound
        warnings += (f"{plan.path}: {silent_track(plan.media, plan.options.audio_track)}",)
    result = AnalysisResult(
        media=plan.media,
        highlights=tuple(run.highlights),
        clips=tuple(sorted(run.clips, key=lambda c: c.highlight.index)),
        scores=curve,
        hop=plan.hop,
        options=plan.options,
        source=plan.specs["source"],
        analyzer=plan.specs["analyzer"],
        selector=plan.specs["selector"],
        out_dir=staging.dir if staging is not None else None,
        timings={**run.timings, "cached": float(plan.cached is not None)},
        timeline=plan.timeline,
        line=run.line(),
        compilation=run.compilation,
        notes=plan.notes,
        warnings=warnings,
        unit=str(contracts.optional("analyzer", plan.analyzer, "unit")),
    )
    if staging is not None and result.failed and staging.has_previous():
        return _kept(result, staging)
    if staging is not None:
        written, failed = write_outputs(result, writers,
                                        progress=getattr(run.progress, "writing", None))
        # a file that could not be written is named where it was to be published, not in
        # the private folder (gone when the run ends)
        failed = [line.replace(str(staging.dir), str(staging.out)) for line in failed]
        if failed and staging.has_previous():  # a report on a full disk, a writer's bug
            return _kept(replace(result, failed_outputs=tuple(failed)), staging)
        failed += staging.publish(c.path for c in result.clips if c.ok and c.path)
        outputs = [str(staging.final(path)) for path in written]
        compilation = result.compilation
        if compilation is not None and compilation.ok and compilation.path:
            compilation = replace(compilation, path=str(staging.final(compilation.path)))
            outputs.insert(0, compilation.path)
        result = replace(result, out_dir=staging.out, failed_outputs=tuple(failed),
                         clips=tuple(published_clip(c, staging) for c in result.clips),
                         compilation=compilation, outputs=tuple(outputs))
    return result


def _kept(result: AnalysisResult, staging: Staging) -> AnalysisResult:
    """A rerun that failed (a clip, the compilation or an output could not be made): its
    files are thrown away and the previous results stay as they were."""
    staging.discard()
    return replace(result, out_dir=staging.out, published=False,
                   clips=tuple(replace(c, path=None) for c in result.clips),
                   compilation=result.compilation and replace(result.compilation, path=None))


def published_clip(clip: ClipResult, staging: Staging) -> ClipResult:
    """``clip`` with the path it has once published (a clip made outside the staging folder,
    by an encoder of its own, keeps its path)."""
    if not (clip.ok and clip.path) or not Path(clip.path).is_relative_to(staging.dir):
        return clip
    return replace(clip, path=str(staging.final(clip.path)))


#: The clips may go this many times an encoder's timeout for a clip without one of them
#: ending before the encoder is taken to hang: m0's own ends each ffmpeg it starts within the
#: timeout, and a clip runs at most two (a loudness pass, then the cut).
STALL_FACTOR = 3


def stall_limit(clip_timeout: float) -> float:
    """Seconds the clips left may go without one ending (:data:`STALL_FACTOR`; 2 s at least)."""
    return max(2.0, STALL_FACTOR * clip_timeout)


def submitted(encoder: Any, name: str, highlight: Highlight) -> Future:
    """``encoder.submit(highlight)``, the encoder plugin ``name``'s: its exception, or
    something else than a future, is one line naming its plugin."""
    with plugins.blame("encoders", name):
        future = encoder.submit(highlight)
    problem = contracts.future_problem(future)
    if problem is not None:
        raise plugins.broken("encoders", name, problem)
    return future


def renumber_clips(encoder: Any, name: str, clips: list[ClipResult],
                   count: int) -> list[ClipResult]:
    """``clips``, every one done, as the encoder plugin ``name`` renames them for a run of
    ``count`` highlights (its optional ``renumber``: the built-in pads the numbers to the
    width of ``count``); as they are if it has none. Clips it gives back that are not one for
    each given are one line naming its plugin."""
    renumber = contracts.optional("encoder", encoder, "renumber")
    if renumber is None or not clips:
        return list(clips)
    with plugins.blame("encoders", name):
        returned = renumber(list(clips), count)
        problem = contracts.returned_problem(returned, "renumber()", "a list of the clips")
        renamed = [] if problem else list(returned)
    problem = problem or contracts.renumbered_problem(list(clips), renamed)
    if problem is not None:
        raise plugins.broken("encoders", name, problem)
    return renamed


def _select_cached(plan: Plan, entry: cache.Entry, run: _Run) -> None:
    """Select on the cached curve ``entry`` whole, or replay the selection kept for it with
    the same options (:mod:`m0core.pipeline.selections`); keep a selection made here."""
    ident = _selection_key(plan, entry)
    kept = selections.load(ident, entry) if ident is not None else None
    if kept is not None:
        run.replay(entry.scores, kept)
        return
    # as a decoding run feeds it: the spectra of a stretch before its scores, a stretch at a
    # time (the spectra are read from the cache's file as they are needed)
    step = max(1, int(SELECT_SECONDS / plan.hop))
    for values, codes, first in spectra.pieces(len(entry.scores), plan.hop, step,
                                                entry.spectra, entry.first):
        run.listen(codes, first)
        run.select(entry.scores[values])
    run.select(None)
    if ident is not None:
        selections.store(ident, selections.Selection(tuple(run.given), run.line()))


def _selection_key(plan: Plan, entry: cache.Entry) -> dict[str, Any] | None:
    """What decides the selection on the cached curve ``entry``, or ``None`` when it is not
    kept: a selector registered in this process only has no code the cache can know."""
    stage = plan.specs["selector"]
    if plan.cache_key is None or plugins.in_process("selectors", stage.name):
        return None
    reg = plugins.lookup("selectors", stage.name)
    modules = (type(plan.selector).__module__, selections.factory_module(reg.factory))
    return selections.identity(plan.cache_key, entry, stage, modules, plan.options.threshold,
                               plan.timeline, plugins.version_of(reg.plugin))


class _Streams:
    """The score streams of a run's segments, fed to the selector in time order: each
    worker process's read ahead by a thread of its own; an in-process run's (one segment)
    decoded in this thread, between the selector's calls (a reader thread would only pass
    the GIL back and forth with it). Audio is held one chunk at a time, in whichever process
    decodes it.
    """

    def __init__(self, plan: Plan, stack: ExitStack) -> None:
        self.plan = plan
        self.segments = plan.segments()
        self.decoded = [0.0] * len(self.segments)
        self.run: _Run | None = None
        self._stack = stack.enter_context(ExitStack())
        self.streams: list[Iterable] = []
        # a later segment's spectra and scores wait on disk for their turn (_Waiting)
        self._waiting = [self._stack.enter_context(_Waiting()) if i and not plan.in_process
                         else None for i in range(len(self.segments))]
        # the worker processes, each taking the next segment when free
        self._decoders = None if plan.in_process else self._stack.enter_context(
            Decoders(min(len(self.segments), plan.options.decode_jobs)))
        for i, (start, length) in enumerate(self.segments):
            make = self._counted(i, start, length)
            if plan.in_process:
                stream = make()
                self._stack.callback(stream.close)  # stops the decoding however the run ends
            else:
                # a run that stops before a segment ends kills every worker (a plugin's stage
                # may hang) and lets go of a segment waiting for one, so its reader ends
                stream = self._stack.enter_context(ReadAhead(
                    make, maxsize=0, on_idle=self._report, on_stop=self._decoders.close))
            self.streams.append(stream)
        self._first = iter(self.streams[0])

    def close(self) -> None:
        """Stop every segment's decoding (its worker process ends)."""
        self._stack.close()

    def _counted(self, index: int, start: float, length: float | None
                 ) -> Callable[[], Iterator]:
        plan = self.plan
        if plan.in_process:
            def make() -> Iterator:
                return segment_scores(plan.source, plan.specs["source"].name, plan.analyzer,
                                      plan.specs["analyzer"].name, plan.path,
                                      chunk_seconds=plan.options.chunk_seconds, start=start,
                                      length=length, hear=plan.hears)
        else:
            job = plan.segment_job(start, length)

            def make() -> Iterator:
                return scores_from_worker(job, self._decoders, index)

        waiting = self._waiting[index]

        def generate() -> Iterator:
            for item in make():
                if isinstance(item, MediaInfo):
                    yield item
                    continue
                self.decoded[index] += item.seconds
                yield item if waiting is None else waiting.put(item)
        return generate

    def _report(self) -> None:
        if self.run is not None:
            self.run.progress.analysed(sum(self.decoded), self.run.found)

    def media(self) -> MediaInfo:
        """The file as the first segment's worker probed it (a plan made on an outline)."""
        item = next(self._first, None)
        if not isinstance(item, MediaInfo):
            raise M0Error(f"{self.plan.path}: the decoding worker did not describe the file")
        return item

    def feed(self, run: _Run) -> None:
        """Feed every segment's scores to ``run``'s selector, in time order, a batch at a
        time (the spectra of a batch's audio before its scores)."""
        self.run = run
        per_batch = max(1, int(SELECT_SECONDS / self.plan.hop))
        batch = _Batch(run)
        fed = time.perf_counter()
        stopped = None  # where a segment's audio stopped short of the next segment
        for index, stream in enumerate([self._first, *self.streams[1:]]):
            for piece in stream:
                if stopped is not None and self.decoded[index]:
                    # the next segment's audio goes on: the hole cannot be closed up
                    raise InputError(f"{self.plan.path}: file is truncated or damaged: audio "
                                     f"stops at {stopped:.1f} s and goes on at "
                                     f"{self.segments[index][0]:.1f} s")
                waiting = self._waiting[index]
                if waiting is not None:
                    piece = waiting.take(piece)
                batch.add(piece)
                if batch.values >= per_batch or time.perf_counter() - fed >= SELECT_WAIT:
                    batch.give()
                    fed = time.perf_counter()
                    run.collect()
                self._report()
            start, length = self.segments[index]
            if stopped is None and length is not None and \
                    self.decoded[index] < length - truncation_slack(length):
                stopped = start + self.decoded[index]
        batch.give()
        if not sum(self.decoded):
            raise InputError(f"{self.plan.path}: the audio is empty (zero duration), nothing "
                             "to analyse")


_NO_SCORES = np.zeros(0, dtype=np.float32)


class _Batch:
    """What the decoding gave since the selector was last fed, handed to a run together
    (:meth:`give`): the spectra of the pieces' audio first (:meth:`_Run.listen`; frames that
    follow one another in one call, a gap where two segments meet ends a call), then their
    scores (:meth:`_Run.select`). A selector's work is per call, about the same however much
    a call brings."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._scores: list[np.ndarray] = []
        self.values = 0  # the score values held
        self._codes: list[np.ndarray] = []
        self._first = 0  # the frame of the codes held
        self._end = 0  # the frame after them

    def add(self, piece: Piece) -> None:
        """Hold ``piece``'s scores and the codes of its frames."""
        self._scores.append(piece.scores)
        self.values += len(piece.scores)
        if not len(piece.codes):
            return
        if self._codes and piece.first != self._end:
            self._listen()
        if not self._codes:
            self._first = piece.first
        self._codes.append(piece.codes)
        self._end = piece.first + len(piece.codes)

    def give(self) -> None:
        """Hand what is held to the run: the spectra, then the scores."""
        self._listen()
        if self._scores:
            scores = np.concatenate(self._scores)
            self._scores, self.values = [], 0
            self._run.select(scores)

    def _listen(self) -> None:
        if self._codes:
            codes = self._codes[0] if len(self._codes) == 1 else np.concatenate(self._codes)
            self._codes = []
            self._run.listen(codes, self._first)


class _Waiting:
    """The spectra and scores of a segment decoded ahead of its turn, in an unnamed temporary
    file until the selector reaches them: the second worker of a 6-h file ends hours before
    the first half is selected on, and its 3 h of spectra (10 MB) waited in m0's memory, as
    its scores did (m0's own process holds 0.7–1.2 MB less with them here). :meth:`put` (the
    reader's thread) writes a piece's and passes the piece on without them; :meth:`take` (the
    selecting thread) gives each piece back with them, in order."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self._end = 0
        self._held: deque[tuple[int, int, int]] = deque()  # (offset, rows, scores) a piece

    def __enter__(self) -> _Waiting:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def put(self, piece: Piece) -> Piece:
        codes = np.ascontiguousarray(piece.codes, dtype=np.uint8)
        scores = np.ascontiguousarray(piece.scores, dtype="<f4")
        data = codes.tobytes() + scores.tobytes()
        if data:
            os.pwrite(self._file.fileno(), data, self._end)
        self._held.append((self._end, len(codes), len(scores)))
        self._end += len(data)
        return replace(piece, codes=spectra.NONE, scores=_NO_SCORES)

    def take(self, piece: Piece) -> Piece:
        offset, rows, count = self._held.popleft()
        size = rows * spectra.BANDS
        data = os.pread(self._file.fileno(), size + 4 * count, offset)
        codes = (np.frombuffer(data, dtype=np.uint8, count=size).reshape(rows, spectra.BANDS)
                 if rows else spectra.NONE)
        scores = np.frombuffer(data, dtype="<f4", count=count, offset=size).astype(np.float32)
        return replace(piece, codes=codes, scores=scores)


class _Run:
    """The mutable state of one run: the curve, the selector and its highlights, the encoder
    and its clips. Every call into the selector and the encoder plugins is made here, inside
    :func:`plugins.blame`."""

    def __init__(self, plan: Plan, staging: Staging | None, progress: Progress) -> None:
        opts = plan.options
        self.opts = opts
        self.staging = staging
        self.progress = progress
        self.selector = plan.selector
        self.parts: list[np.ndarray] = []
        self.given: list[Highlight] = []  # as the selector gave them
        self.highlights: list[Highlight] = []
        self.held: list[Highlight] = []  # with max_clips, the best are chosen at the end
        self.clips: list[ClipResult] = []
        self.futures: list = []
        self.timings: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.compilation: Compilation | None = None
        self._line: tuple[Line | None] | None = None  # the selector's, once asked
        # The end of the audio: as the file declares it until the decode is over (a cached
        # curve's is known). A highlight waits (``late``) until its window is read, and one
        # whose window reaches that end until the decode is over, as the audio may go on or
        # stop short; placed again if the end moved (``declared``).
        self.media, self.timeline = plan.media, plan.timeline
        self.declared = plan.media.duration
        self.settled = plan.cached is not None
        self.late: list[Highlight] = []  # given, waiting for the audio their window covers
        self.values = 0  # score values the selector has been fed
        # the spectra of a decoded file go to the cache beside its curve
        self.spool = cache.Spool() if plan.cache_key is not None and plan.cached is None \
            else None
        self._listen = contracts.optional("selector", self.selector, "listen")
        self.encoder = self._encoder() if staging is not None and opts.clips else None
        if self.encoder is not None and opts.compilation \
                and contracts.optional("encoder", self.encoder, "compile") is None:
            self.encoder.close(cancel=True)
            raise OptionError(f'encoder "{opts.encoder}" cannot make a compilation')

    def _encoder(self) -> Any:
        """The encoder plugin for the media as known now."""
        return plugins.create("encoders", self.opts.encoder, **self._encoder_params())

    def _encoder_params(self) -> dict[str, Any]:
        """What the encoder's factory is given: m0's parameters, then ``-P``'s, which win
        (``-P encoder.timeout=S`` over ``clip_timeout``). ``audio_track``, the track analysed
        when not 1, goes to an encoder that takes it (the ffmpeg encoder's short-form clips
        have its sound)."""
        opts, short = self.opts, self.opts.short_form
        return {"media": self.media, "out_dir": self.staging.dir, "workers": opts.clip_workers,
                "cut": opts.clip_cut, "timeout": opts.clip_timeout,
                **({"short_form": short} if short.active else {}),
                **({"audio_track": opts.audio_track} if opts.audio_track != 1
                   and plugins.accepts("encoders", opts.encoder, "audio_track") else {}),
                **opts.encoder_params}

    @property
    def found(self) -> int:
        return len(self.highlights) + len(self.held) + len(self.late)

    @property
    def pending(self) -> int:
        return len(self.futures)

    def select(self, scores: np.ndarray | None) -> None:
        """Feed the next ``scores`` to the selector (``None``: the stream ended, finish it),
        keep them for the curve and take the highlights it gives."""
        call = "finish()" if scores is None else "feed()"
        with plugins.blame("selectors", self.opts.selector):
            given = self.selector.finish() if scores is None else self.selector.feed(scores)
            problem = contracts.returned_problem(given, call, "a list of highlights")
            highlights = [] if problem else list(given)
        if problem is not None:
            raise plugins.broken("selectors", self.opts.selector, problem)
        previous = self.given[-1] if self.given else None
        for h in highlights:
            problem = contracts.highlight_problem(h) or contracts.order_problem(h, previous)
            if problem is not None:
                raise plugins.broken("selectors", self.opts.selector, problem)
            previous = h
        if scores is not None and len(scores):
            self.parts.append(np.asarray(scores, dtype=np.float32))
            self.values += len(scores)
        for h in highlights:
            self._take(h)
        self._release()

    def listen(self, codes: np.ndarray, first: int) -> None:
        """Hand the spectra of the audio decoded next (frame ``first`` on) to the selector,
        if it listens (its optional ``listen``), and to the cache's spool."""
        if not len(codes):
            return
        if self.spool is not None:
            self.spool.write(codes, first)
        if self._listen is not None:
            with plugins.blame("selectors", self.opts.selector):
                self._listen(codes, first)

    def replay(self, scores: np.ndarray, selection: selections.Selection) -> None:
        """Take what the selector gave on ``scores`` before (a kept selection) instead of
        running it again."""
        self.parts.append(np.asarray(scores, dtype=np.float32))
        self.values += len(scores)
        self._line = (selection.line,)
        for h in selection.highlights:
            self._take(h)

    def _take(self, h: Highlight) -> None:
        self.given.append(h)
        if self.opts.max_clips:
            self.held.append(h)
        else:
            self.late.append(h)
            self._release()

    def _release(self) -> None:
        """Cut, in time order, the highlights whose window the selector has read to its end;
        one whose window reaches the end the file declares waits for the end of the decode,
        which knows where the audio ends (a window past the end of a file that declares none
        is never read to its end: it waits too)."""
        while self.late:
            h = self.late[0]
            at_end = self.declared is not None and h.end >= self.declared - 1e-3
            if not self.settled and (at_end or h.end > self.values * self.timeline.hop):
                return
            self._accept(self._placed(self.late.pop(0)))

    def ended(self, plan: Plan) -> None:
        """The decode is over and ``plan`` (:meth:`Plan.measured`) knows where the audio
        ends: the highlights that waited for it are placed and cut. Clips are then cut by an
        encoder made for the measured media, if the end moved."""
        self.settled = True
        if plan.media.duration != self.media.duration:
            self.media, self.timeline = plan.media, plan.timeline
            if self.encoder is not None:
                for future in list(self.futures):
                    self._record(future)
                with plugins.blame("encoders", self.opts.encoder):
                    self.encoder.close()
                    self.encoder = self._encoder()
        self._release()

    def _placed(self, h: Highlight) -> Highlight:
        """``h`` with its window around its peak again if the end that kept the window inside
        the media moved (the declared duration was wrong or missing)."""
        if self.media.duration == self.declared:
            return h
        clamped = self.declared is not None and h.end >= self.declared - 1e-3
        if not clamped and (self.media.duration is None or h.end <= self.media.duration):
            return h
        start, end = self.timeline.window(h.peak_time)
        return replace(h, start=start, end=end)

    def _accept(self, h: Highlight) -> None:
        end = self.media.duration
        if self.settled and end is not None and h.start >= end:  # the end is known for sure
            raise plugins.broken("selectors", self.opts.selector, (
                f"gave a highlight starting at {h.start:g} s, after the end of the audio "
                f"({end:g} s)"))
        # a window reaching before the media's start (a selector's peak - pre near 0 s) starts
        # at 0 s, as players count
        h = replace(h, index=len(self.highlights) + 1, start=max(0.0, h.start))
        self.highlights.append(h)
        if self.encoder is not None:
            self.futures.append(submitted(self.encoder, self.opts.encoder, h))

    def collect(self) -> None:
        """Record the clips finished so far (in the caller's thread, for progress)."""
        for future in [f for f in self.futures if f.done()]:
            self._record(future)

    def _record(self, future: Future) -> None:
        self.futures.remove(future)
        with plugins.blame("encoders", self.opts.encoder):
            result = future.result()
        problem = contracts.clip_problem(result)
        if problem is not None:
            raise plugins.broken("encoders", self.opts.encoder, problem)
        if not result.ok and result.path and self.staging is not None:
            self.staging.drop(result.path)  # half a clip is no clip
        if "first_clip" not in self.timings and result.ok:
            self.timings["first_clip"] = time.perf_counter() - self.t0
        self.clips.append(result)
        self.progress.clip_done(result, len(self.clips), len(self.clips) + len(self.futures))

    def take_best(self) -> None:
        """With ``max_clips``: keep the held best, in time order, and queue their clips."""
        if self.held:
            best = sorted(self.held, key=lambda h: h.score, reverse=True)[: self.opts.max_clips]
            self.held = []
            for h in sorted(best, key=lambda h: h.peak_time):
                self._accept(self._placed(h))

    def finish_clips(self) -> None:
        """Cut the held best (with ``max_clips``) and wait for every clip."""
        self.take_best()
        if self.encoder is not None:
            from concurrent.futures import FIRST_COMPLETED, wait  # clips only

            started = time.perf_counter()
            given = self._encoder_params()["timeout"]
            given = given if contracts.above_0(given) else self.opts.clip_timeout
            stalled = stall_limit(given)
            while self.futures:
                done, _ = wait(self.futures, timeout=stalled, return_when=FIRST_COMPLETED)
                if not done:  # m0's own encoder ends a clip within the timeout it is given
                    raise plugins.broken("encoders", self.opts.encoder, (
                        f"finished none of its {len(self.futures)} clip(s) left for "
                        f"{stalled:g} s, {STALL_FACTOR} times the timeout it was given "
                        f"({given:g} s, -P encoder.timeout=S): a future "
                        "submit() returned never ended"))
                for future in done:
                    self._record(future)
            with plugins.blame("encoders", self.opts.encoder):
                self.encoder.close()
            self._renumber()
            self.timings["clips_wait"] = time.perf_counter() - started

    def _renumber(self) -> None:
        """Let the encoder name the clips for the run's number of highlights, known only
        now."""
        self.clips = renumber_clips(self.encoder, self.opts.encoder, self.clips,
                                    len(self.highlights))

    def compile(self) -> None:
        """Join the clips into the compilation, when the options ask for one."""
        if self.encoder is None or not self.opts.compilation:
            return
        started = time.perf_counter()
        step = getattr(self.progress, "compiling", None) or (lambda done, total: None)
        step(0, 1)  # 41 s for ten 30 s clips crossfaded: said, not the clips' bar standing
        with plugins.blame("encoders", self.opts.encoder):
            compiled = self.encoder.compile(list(self.clips))
        step(1, 1)
        problem = contracts.compilation_problem(compiled)
        if problem is not None:
            raise plugins.broken("encoders", self.opts.encoder, problem)
        self.compilation = compiled
        self.timings["compilation"] = time.perf_counter() - started

    def abort(self) -> None:
        """Stop the encoder and remove everything this run made (while the error that
        stopped the run propagates: an encoder failing to stop does not replace it). The
        previous run's outputs are untouched: nothing was published. A second Ctrl-C or
        SIGTERM (an impatient user's) waits for it to end: one that cut it short left the
        private folder, its clips in it, and the clips' ffmpeg maybe running."""
        with held_signals():
            if self.spool is not None:
                self.spool.discard()
            if self.encoder is not None:
                with suppress(Exception):
                    self.encoder.close(cancel=True)
            self.clips.clear()
            if self.staging is not None:
                self.staging.discard()

    def line(self) -> Line | None:
        """The level the selector judged by, if it reports one (after ``finish``)."""
        if self._line is None:
            report = contracts.optional("selector", self.selector, "line")
            if report is None:
                self._line = (None,)
            else:
                with plugins.blame("selectors", self.opts.selector):
                    line = report()
                problem = contracts.line_problem(line)
                if problem is not None:
                    raise plugins.broken("selectors", self.opts.selector, problem)
                self._line = (line,)
        return self._line[0]

    def curve(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)
