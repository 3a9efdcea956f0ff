"""The hooks a plugin can implement. Every one is called once per process, at start-up.

Each hook takes a ``register(name, factory)`` callback. ``name`` is what users type after
``--source``/``--analyzer``/``--selector``/``--encoder``/``--format``; ``factory(**params)``
builds the stage for one run. A name registered by two plugins (in any case: ``Top`` is
``top``) is a start-up error naming both.

Implement them in a module that your package lists under ``[project.entry-points.m0]``::

    from m0core import hookimpl

    @hookimpl
    def m0_register_analyzers(register):
        register("flux", Flux)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("m0")
#: Marks a plugin's hook implementations; also importable as ``m0core.hookimpl``.
hookimpl = pluggy.HookimplMarker("m0")

Register = Callable[[str, Callable[..., Any]], None]


@hookspec
def m0_register_sources(register: Register) -> None:
    """Register audio sources.

    A source factory takes keyword parameters and returns an object with
    ``probe(path) -> MediaInfo`` (raise :class:`m0core.InputError` for files it cannot read) and
    ``chunks(path, *, chunk_seconds=10.0, start=0.0, duration=None) -> Iterator[AudioChunk]``
    yielding mono float32 chunks in time order, holding only a bounded amount of audio.
    Called once, when the plugins are loaded.
    """


@hookspec
def m0_register_analyzers(register: Register) -> None:
    """Register chunk analyzers.

    An analyzer factory takes keyword parameters and returns an object with a ``hop``
    attribute (seconds per score value), ``feed(chunk: AudioChunk) -> np.ndarray`` returning the
    score values that chunk completed, and optionally ``finish() -> np.ndarray`` returning
    those still pending at the end of the stream. Scores are dB-like: higher means more.
    Called once, when the plugins are loaded.
    """


@hookspec
def m0_register_selectors(register: Register) -> None:
    """Register highlight selectors.

    A selector factory is called as ``factory(timeline=Timeline, threshold=float | None,
    **params)`` and returns an object with ``feed(scores: np.ndarray) -> list[Highlight]`` (the
    next score values in order; returns highlights that are final) and
    ``finish() -> list[Highlight]``, and optionally ``line() -> Line | None`` (see
    :mod:`m0core.contracts`). Highlights come out in time order; use
    ``timeline.time(i)`` and ``timeline.window(peak_time)`` for times and clip windows. A
    factory naming a ``max_clips`` parameter is given the run's ``--max-clips``.
    Called once, when the plugins are loaded.
    """


@hookspec
def m0_register_encoders(register: Register) -> None:
    """Register clip encoders.

    An encoder factory is called as ``factory(media=MediaInfo, out_dir=Path, **params)``, where
    m0 always passes ``workers``, ``cut`` and ``timeout`` among ``params`` (a factory that takes
    neither them nor ``**params`` is a plugin error), and to a factory that takes it,
    ``audio_track`` when the run analyses another track than 1 (a number from 1, or
    ``"all"``), and returns an object with
    ``submit(highlight) -> concurrent.futures.Future[ClipResult]`` and
    ``close(cancel=False)`` (wait for submitted clips, or with ``cancel=True`` stop them and
    remove anything unfinished). It writes each clip completely or not at all into
    ``out_dir``, the run's private staging folder (see :mod:`m0core.staging`), from which m0
    moves the clips into the output folder when the run completes.
    Called once, when the plugins are loaded.
    """


@hookspec
def m0_register_writers(register: Register) -> None:
    """Register output writers (the names ``--format`` accepts, and ``report``).

    A writer factory is called without arguments, once per run before the file is decoded,
    and returns an object with
    ``write(result: AnalysisResult, out_dir: Path) -> list[Path]``, called once per run after
    the clips are cut; it writes its files into ``out_dir`` atomically (temporary name, then
    ``os.replace``) and returns their paths. ``out_dir`` (and ``result.out_dir``) is the run's
    private staging folder: m0 publishes its files into the output folder when the run
    completes, so name clips by paths relative to it. Raise :class:`m0core.OutputError` with
    one line when it cannot. Called once, when the plugins are loaded.
    """
