"""The seed's Python names (M0 Clipper v0.3.0), kept working on top of the plugin pipeline.

- :class:`StreamingAudioProcessor` / :class:`AudioProcessor`: decode a file in chunks / whole.
- :class:`StreamingAudioAnalysis` / :class:`AudioAnalysis`: find highlights with the seed's
  rule (``crest``, ``decibel_threshold=-5.0``), ``.export()`` and ``.generate_all_highlights()``.
- :class:`OptimizedClipGenerator`: cut clips with parallel ffmpeg processes.

New code should call :func:`m0core.analyze` instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from m0core import checks, plugins
from m0core.errors import OptionError, OutputError
from m0core.model import ClipResult, Highlight
from m0core.options import Options
from m0core.outputs import index_document, out_dir_for, write_outputs
from m0core.pipeline import analyze
from m0core.pipeline.run import published_clip, renumber_clips, submitted
from m0core.result import AnalysisResult
from m0core.staging import Staging, same_file


def seed_selector(decibel_threshold: float | None) -> str:
    """The selector of the seed's ``decibel_threshold``: its ``crest`` rule when a threshold is
    given, m0's default selector (which needs none) for ``None``."""
    return Options.selector if decibel_threshold is None else "crest"


class StreamingAudioProcessor:
    """Decode ``audio_path`` in chunks of ``chunk_duration`` seconds, in constant memory.

    ``audio_track`` picks the audio track: its number from 1 (as players and OBS number them;
    1 is OBS's mix) or ``"all"``, every track mixed.
    """

    analyzer = "rms-streaming"

    def __init__(self, audio_path: str | os.PathLike, chunk_duration: float = 30.0,
                 source: str = "pyav", audio_track: int | str = 1) -> None:
        self.audio_path = checks.path("audio_path", audio_path)
        self.chunk_duration = checks.number("chunk_duration", chunk_duration, low=0.1,
                                            high=600.0)
        self.source = source
        self.audio_track = checks.audio_track(audio_track)
        self._source = plugins.create("sources", source,
                                      **Options(audio_track=self.audio_track).source_settings)
        self.info = self._source.probe(self.audio_path)
        self._measured: float | None = None

    @property
    def duration(self) -> float:
        """Length in seconds: what the file declares, else (a recorder's WebM, written as a
        stream) where its audio ends, decoded once to find it."""
        if self.info.duration is not None:
            return self.info.duration
        if self._measured is None:
            self._measured = 0.0
            for samples, offset in self.stream_chunks():
                self._measured = offset + len(samples) / self.sample_rate
        return self._measured

    @property
    def sample_rate(self) -> int:
        """Sample rate of the decoded audio in Hz."""
        return self.info.sample_rate

    def stream_chunks(self) -> Iterator[tuple[np.ndarray, float]]:
        """Yield ``(samples, offset_seconds)``: mono float32 chunks in time order."""
        for chunk in self._source.chunks(self.audio_path, chunk_seconds=self.chunk_duration):
            yield chunk.samples, chunk.start

    def decibel_iter(self) -> Iterator[tuple[float, float]]:
        """Yield ``(seconds, dBFS)``: the RMS level of every 0.1 s, in time order."""
        analyzer = plugins.create("analyzers", self.analyzer)
        position = 0

        def emit(values: np.ndarray) -> Iterator[tuple[float, float]]:
            nonlocal position
            for value in values:
                yield (position + 0.5) * analyzer.hop, float(value)
                position += 1

        for chunk in self._source.chunks(self.audio_path, chunk_seconds=self.chunk_duration):
            yield from emit(analyzer.feed(chunk))
        yield from emit(analyzer.finish())

    def get_memory_usage(self) -> float:
        """Resident memory of this process in MB."""
        import psutil

        return psutil.Process().memory_info().rss / (1024 * 1024)


class AudioProcessor(StreamingAudioProcessor):
    """The seed's whole-file processor: holds the entire decoded track in memory."""

    analyzer = "rms-legacy"

    def __init__(self, audio_path: str | os.PathLike, source: str = "pyav",
                 audio_track: int | str = 1) -> None:
        super().__init__(audio_path, chunk_duration=30.0, source=source,
                         audio_track=audio_track)
        self._audio: np.ndarray | None = None

    @property
    def audio(self) -> np.ndarray:
        """The whole track, mono float32 (decoded on first use)."""
        if self._audio is None:
            parts = [samples for samples, _ in super().stream_chunks()]
            self._audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return self._audio

    def stream_chunks(self) -> Iterator[tuple[np.ndarray, float]]:
        """One chunk: the whole track at offset 0."""
        yield self.audio, 0.0


class StreamingAudioAnalysis:
    """Highlights of ``processor``'s audio, clipped from ``video_path`` into ``output_path``.

    ``decibel_threshold`` is the seed's threshold for its ``crest`` rule (default -5.0 dBFS);
    pass ``None`` for m0's default selector, which needs no threshold. ``options`` are any
    :class:`~m0core.options.Options` fields (``selector``, ``max_clips``, ``aspect``,
    ``loudness``, ``cut``, …) and win over what the processor and the threshold imply; an
    unknown one is an :class:`~m0core.errors.OptionError` here. Whether clips are made is
    not an option: :meth:`generate_all_highlights` makes them.
    """

    def __init__(self, video_path: str | os.PathLike, processor: StreamingAudioProcessor,
                 output_path: str | os.PathLike, decibel_threshold: float | None = -5.0,
                 clip_length: float = 30.0, **options: Any) -> None:
        self.video_path = checks.path("video_path", video_path)
        if not isinstance(processor, StreamingAudioProcessor):
            raise OptionError(f"processor must be a StreamingAudioProcessor (or AudioProcessor) "
                              f"of the audio, not {type(processor).__name__} {processor!r}")
        self.processor = processor
        self.output_path = Path(checks.path("output_path", output_path, folder=True))
        self.decibel_threshold = decibel_threshold
        if "clips" in options:
            raise OptionError("clips is not an option here: generate_all_highlights() makes "
                              "the clips, export() writes the highlights without them")
        self.options = {
            "analyzer": processor.analyzer, "source": processor.source,
            "audio_track": processor.audio_track,
            "chunk_seconds": min(processor.chunk_duration, 60.0),
            "selector": seed_selector(decibel_threshold), "threshold": decibel_threshold,
            "clip_length": clip_length, "report": False, **options,
        }
        Options.build(**self.options)  # an unknown or bad option fails now
        self._result: AnalysisResult | None = None

    @property
    def result(self) -> AnalysisResult:
        """The analysis, run on first use."""
        if self._result is None:
            self._result = analyze(self.processor.audio_path, None,
                                   **{**self.options, "clips": False})
        return self._result

    @property
    def highlights(self) -> list[Highlight]:
        """The highlights found, in time order."""
        return list(self.result.highlights)

    def export(self) -> dict[str, dict[str, Any]]:
        """Write highlights.json and index.json to ``output_path``; return the index.

        It is a run into the folder as ``m0 analyze --no-clips`` is: the clips a previous run
        made there and this one has not (none before :meth:`generate_all_highlights`) are
        removed with the record that listed them."""
        self._publish(lambda folder: list(self.result.clips))
        return index_document(self.result)

    def generate_all_highlights(self, max_workers: int | None = None,
                                cut: str | None = None) -> list[str]:
        """Cut a clip for every highlight from ``video_path``; return the clip paths made.

        When the audio is the video's own (the usual case), this is ``m0 analyze``'s run into
        ``output_path`` with the options given (short-form ones included; the analysis comes
        from the cache): a rerun replaces the previous run's clips and records whole. Audio
        taken from another file (the seed's extracted track) is analysed there and the clips
        are cut from the video, published in the same way.
        """
        settings = {**self.options,
                    **({"workers": max_workers} if max_workers is not None else {}),
                    **({"cut": cut} if cut is not None else {})}
        if same_file(self.processor.audio_path, self.video_path):
            self._result = analyze(self.video_path, self.output_path, **settings)
            if self._result.failed_outputs:  # failed clips are left out, as the seed did
                raise OutputError("; ".join(self._result.failed_outputs))
            return [c.path for c in self._result.clips if c.ok and c.path]
        if Options.build(**settings).short_form.active:
            raise OptionError("short-form clips (aspect, height, loudness, fade, compilation) "
                              "need the audio analysed from the video itself")
        generator = OptimizedClipGenerator(max_workers=max_workers or os.cpu_count() or 1)
        clips = self._publish(lambda folder: generator.generate_clips(
            self.video_path, self.highlights, folder, cut=settings.get("cut", "copy")))
        return [c.path for c in clips if c.ok and c.path]

    def _publish(self, make_clips: Callable[[Path], list[ClipResult]]) -> list[ClipResult]:
        """Write the records of the analysis and of the clips ``make_clips(folder)`` gives
        into a private folder published into ``output_path`` as ``m0 analyze``'s run is
        (:mod:`m0core.staging`): a rerun replaces the previous run's clips and records whole,
        one that fails or is interrupted leaves them as they were. Returns the clips, at their
        published paths."""
        result = self.result  # analysed before the folder is made: a failure leaves none
        with out_dir_for(self.output_path) as out:
            staging = Staging(out, keep=[self.video_path, self.processor.audio_path])
            try:
                clips = make_clips(staging.dir)
                _, failed = write_outputs(replace(result, clips=tuple(clips),
                                                  out_dir=staging.dir))
                if failed:
                    raise OutputError("; ".join(failed))
                # export()'s clips and compilation, published before, are kept by name
                made = [c.path for c in (*clips, result.compilation) if c and c.ok and c.path]
                staging.publish(made)
            finally:
                staging.discard()
        clips = [published_clip(c, staging) for c in clips]
        self._result = replace(result, clips=tuple(clips), out_dir=out)
        return clips


class AudioAnalysis(StreamingAudioAnalysis):
    """The seed's legacy analysis: the whole track in memory (``rms-legacy``)."""

    def __init__(self, video_path: str | os.PathLike, audio_path: str | os.PathLike,
                 output_path: str | os.PathLike, decibel_threshold: float | None = -5.0,
                 audio_track: int | str = 1, **options: Any) -> None:
        super().__init__(video_path, AudioProcessor(audio_path, audio_track=audio_track),
                         output_path, decibel_threshold, **options)


class OptimizedClipGenerator:
    """Cut clips with up to ``max_workers`` parallel ffmpeg processes.

    ``timeout`` is the seconds one clip's ffmpeg may take before it is killed (that clip
    fails); ``encoder`` the registered clip encoder plugin (``m0 plugins`` lists them). Bad
    values are an :class:`~m0core.errors.OptionError` when clips are cut.
    """

    def __init__(self, max_workers: int = 4, timeout: float = 300.0,
                 encoder: str = "ffmpeg") -> None:
        self.max_workers = max_workers
        self.timeout = timeout
        self.encoder = encoder

    def generate_clips(
        self,
        video_path: str | os.PathLike,
        highlights: Iterable[Highlight | tuple[float, float]],
        output_dir: str | os.PathLike,
        cut: str = "copy",
        progress_callback: Callable[[int, int, ClipResult], None] | None = None,
    ) -> list[ClipResult]:
        """Cut one clip per highlight (a :class:`Highlight` or a ``(start, end)`` pair).

        ``progress_callback(done, total, result)`` is called as each clip finishes. Returns
        the results in the order given, their clips named for the number of clips (100 or
        more: ``001_…``, renamed when all are done; the callback's paths are those before).
        """
        from concurrent.futures import as_completed

        from m0core.media.ffmpeg import probe

        if isinstance(highlights, str) or not isinstance(highlights, Iterable):
            raise OptionError(f"highlights must be a list of Highlight or (start, end) pairs, "
                              f"not {highlights!r}")
        if progress_callback is not None and not callable(progress_callback):
            raise OptionError(f"progress_callback must be a function, not {progress_callback!r}")
        output_dir = checks.path("output_dir", output_dir, folder=True)
        media = probe(checks.path("video_path", video_path))
        items = [_as_highlight(h, i) for i, h in enumerate(highlights, start=1)]
        with out_dir_for(output_dir) as out:
            encoder = plugins.create("encoders", self.encoder, media=media, out_dir=out,
                                     workers=self.max_workers, cut=cut, timeout=self.timeout)
            try:  # submit() and close() only: the contract asks for no context manager
                futures = [submitted(encoder, self.encoder, h) for h in items]
                for done, future in enumerate(as_completed(futures), start=1):
                    if progress_callback is not None:
                        progress_callback(done, len(futures), future.result())
            except BaseException:
                with suppress(Exception):
                    encoder.close(cancel=True)
                raise
            with plugins.blame("encoders", self.encoder):
                encoder.close()
            return renumber_clips(encoder, self.encoder, [f.result() for f in futures],
                                  max((h.index for h in items), default=0))

    def generate_clip(self, video_path: str | os.PathLike, start: float, end: float,
                      output_dir: str | os.PathLike, cut: str = "copy") -> ClipResult:
        """Cut one clip from ``start`` to ``end`` seconds."""
        return self.generate_clips(video_path, [(start, end)], output_dir, cut=cut)[0]


def _as_highlight(item: Highlight | tuple[float, float], index: int) -> Highlight:
    if isinstance(item, Highlight):
        return item if item.index else replace(item, index=index)
    try:
        start, end = (float(v) for v in item)
    except (TypeError, ValueError):
        raise OptionError(f"each highlight must be a Highlight or a (start, end) pair of "
                          f"seconds, not {item!r}") from None
    return Highlight(start=start, end=end, peak_time=start, peak_db=0.0, score=0.0,
                     kind="manual", index=index)
