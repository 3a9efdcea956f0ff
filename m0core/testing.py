"""Test helpers for m0 plugin authors: real media, the real pipeline, chunking checks.

Enable the fixtures in your plugin's ``tests/conftest.py``::

    pytest_plugins = ["m0core.testing"]

and write tests like::

    from m0core.testing import assert_chunking_invariant

    def test_finds_the_planted_events(m0_recording, m0_analyze):
        result = m0_analyze(m0_recording.path, "laughter")      # a registered name ...
        assert m0_recording.match(result).recall >= 0.8

    def test_exact_across_chunks():
        assert_chunking_invariant(Laughter, samples, 48000)      # ... or a factory

    def test_a_writer(m0_recording, m0_analyze, tmp_path):
        write(Markers(), m0_analyze(m0_recording.path), tmp_path)  # steps() vs step() calls

The fixtures are opt-in (no ``pytest11`` entry point): installing m0 does not add fixtures or
import costs to every other project's test run.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pluggy
import pytest

from m0core import contracts, plugins
from m0core.dev import synth
from m0core.media.ffmpeg import ffmpeg_exe
from m0core.model import AudioChunk, Highlight, Timeline
from m0core.pipeline import analyze
from m0core.result import AnalysisResult

hookimpl = pluggy.HookimplMarker("m0")


def run_ffmpeg(*args: str) -> None:
    """Run ffmpeg with ``args`` (quiet, overwriting; the last one is the output), raising with
    its message on failure.

    Sound encoded to AAC (``"aac"`` among ``args``) uses FFmpeg's fast coder
    (:data:`m0core.dev.synth.AAC_FAST`): with the default coder, AAC encoding took a tenth of
    the CPU of m0's own test suite, and the fast one takes half as much."""
    if "aac" in args[:-1]:
        args = (*args[:-1], *synth.AAC_FAST, args[-1])
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr}")


def feed(analyzer: Any, samples: np.ndarray, sample_rate: int,
         sizes: Sequence[int] | None = None) -> np.ndarray:
    """Feed ``samples`` to ``analyzer`` in chunks of ``sizes`` samples (what they leave over is
    one last chunk), call ``finish()`` if it has one, and return every score value in order.

    Asserts what m0 checks in a run: every return value is a 1-D array of finite numbers,
    and there is one value per hop begun in all (:func:`m0core.contracts.count_problem`).
    """
    samples = np.asarray(samples, dtype=np.float32)
    out, pos = [], 0
    for size in [*(sizes or []), len(samples)]:
        piece = samples[pos:pos + size]
        if not len(piece):
            break
        out.append(_checked(analyzer.feed(AudioChunk(piece, sample_rate, pos / sample_rate))))
        pos += len(piece)
    finish = getattr(analyzer, "finish", None)
    if finish is not None:
        out.append(_checked(finish()))
    values = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
    problem = contracts.count_problem(len(values), len(samples), sample_rate, analyzer.hop)
    assert problem is None, f"the analyzer {problem}"
    return values


def _checked(returned: Any) -> np.ndarray:
    """An analyzer's return value as float32, asserted to fit the contract."""
    values = np.asarray(returned, dtype=np.float32)
    problem = contracts.scores_problem(returned, values)
    assert problem is None, f"the analyzer {problem}"
    return values


def assert_chunking_invariant(analyzer: str | Callable[..., Any], samples: np.ndarray,
                              sample_rate: int, *, seed: int = 0, atol: float = 1e-4,
                              **params: Any) -> np.ndarray:
    """Assert that an analyzer gives the same values whatever the chunk sizes.

    ``analyzer`` is a registered name or a factory; ``params`` go to it. The samples are fed
    once whole and once cut at random (chunks of 1 sample to 1 second, a few of one sample).
    Returns the whole-stream values.
    """
    def make() -> Any:
        if isinstance(analyzer, str):
            return plugins.create("analyzers", analyzer, **params)
        return analyzer(**params)

    whole = feed(make(), samples, sample_rate)
    rng = np.random.default_rng(seed)
    sizes = [1, 1, 2] + rng.integers(1, sample_rate, size=len(samples) // 100 + 10).tolist()
    cut = feed(make(), samples, sample_rate, sizes)
    assert len(cut) == len(whole), f"{len(cut)} values in chunks, {len(whole)} whole"
    np.testing.assert_allclose(cut, whole, atol=atol)
    return whole


def select(selector: Any, scores: np.ndarray, sizes: Sequence[int] | None = None
           ) -> list[Highlight]:
    """Feed ``scores`` to ``selector`` in pieces of ``sizes`` values (what they leave over is
    one last piece), call ``finish()``, and return every highlight it gave, in order.

    Asserts what m0 checks in a run: every highlight is an :class:`m0core.Highlight` with
    finite times and a window that is not empty (:func:`m0core.contracts.highlight_problem`),
    and they come in time order (:func:`m0core.contracts.order_problem`).
    """
    scores = np.asarray(scores, dtype=np.float32)
    found, pos = [], 0
    for size in [*(sizes or []), len(scores)]:
        piece = scores[pos:pos + size]
        if not len(piece):
            break
        found += list(selector.feed(piece))
        pos += len(piece)
    found += list(selector.finish())
    for i, highlight in enumerate(found):
        problem = contracts.highlight_problem(highlight) \
            or contracts.order_problem(highlight, found[i - 1] if i else None)
        assert problem is None, f"the selector {problem}"
    return found


def assert_selection_chunking_invariant(selector: str | Callable[..., Any], scores: np.ndarray,
                                        *, timeline: Timeline | None = None,
                                        threshold: float | None = None, seed: int = 0,
                                        **params: Any) -> list[Highlight]:
    """Assert that a selector gives the same highlights whatever the pieces the curve comes in.

    ``selector`` is a registered name or a factory, called as m0 does
    (``timeline=``, ``threshold=``, ``params``); ``timeline`` defaults to a 0.1 s hop over the
    curve. The scores are fed once whole (as from the cache) and once cut at random (pieces
    of 1 value to about 30 s, as while decoding). Returns the whole-curve highlights.
    """
    timeline = timeline or Timeline(0.1, len(scores) * 0.1)

    def make() -> Any:
        if isinstance(selector, str):
            return plugins.create("selectors", selector, timeline=timeline,
                                  threshold=threshold, **params)
        return selector(timeline=timeline, threshold=threshold, **params)

    whole = select(make(), scores)
    rng = np.random.default_rng(seed)
    longest = max(2, round(30 / timeline.hop))
    sizes = [1, 1, 2] + rng.integers(1, longest, size=len(scores) // 10 + 10).tolist()
    cut = select(make(), scores, sizes)
    assert [h.to_dict() for h in cut] == [h.to_dict() for h in whole], (
        f"highlights differ: {len(whole)} whole, {len(cut)} in pieces "
        f"({[h.peak_time for h in whole][:5]} vs {[h.peak_time for h in cut][:5]})")
    return whole


def write(writer: Any, result: AnalysisResult,
          out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Let ``writer`` write ``result`` into ``out_dir`` (made if missing; default:
    ``result.out_dir``) as m0 does, and return the paths it wrote.

    A writer with ``steps`` is asked ``steps(result)`` first, then called as
    ``write(result, out_dir, step=...)``; one without, as ``write(result, out_dir)``.
    Asserts what the contract says: ``steps`` gives a whole number and ``write`` takes ``step``
    (:func:`m0core.contracts.steps_problem`), calls ``step()`` exactly that many times, and
    returns files it wrote inside ``out_dir`` (:func:`m0core.contracts.written_problem`).
    """
    folder = Path(out_dir if out_dir is not None else result.out_dir or "")
    assert out_dir is not None or result.out_dir is not None, \
        "give out_dir: the result has none (it was analysed without an output folder)"
    folder.mkdir(parents=True, exist_ok=True)
    steps = contracts.optional("writer", writer, "steps")
    if steps is None:
        paths = list(writer.write(result, folder))
    else:
        count = steps(result)
        problem = contracts.steps_problem(writer, count)
        assert problem is None, f"the writer {problem}"
        calls = 0

        def step() -> None:
            nonlocal calls
            calls += 1

        paths = list(writer.write(result, folder, step=step))
        assert calls == count, (f"the writer called step() {calls} time{'s' * (calls != 1)}, "
                                f"not the {count} its steps() said")
    problem = contracts.written_problem(paths, folder)
    assert problem is None, f"the writer {problem}"
    return [Path(p) for p in paths]


@contextmanager
def registered(kind: str, name: str, factory: Callable[..., Any]) -> Iterator[str]:
    """Register ``factory`` as ``name`` for ``kind`` (``"analyzers"``, ``"selectors"``, …)
    through a throwaway plugin, for the duration of the ``with`` block."""
    if kind not in plugins.KINDS:
        raise ValueError(f"kind must be one of {', '.join(plugins.KINDS)}, not {kind!r}")
    plugins.load_plugins()

    def register_it(register):
        register(name, factory)

    plugin_name = f"test-{name}-{uuid.uuid4().hex[:8]}"
    plugin = ModuleType(plugin_name)  # a plugin is usually a module
    setattr(plugin, f"m0_register_{kind}", hookimpl(register_it))
    plugins.pm.register(plugin, name=plugin_name)
    plugins.invalidate()
    try:
        yield name
    finally:
        plugins.pm.unregister(plugin, name=plugin_name)
        plugins.invalidate()


def analyze_with(path: str | os.PathLike, analyzer: str | Callable[..., Any] = "rms-streaming",
                 **options: Any) -> AnalysisResult:
    """Run the real pipeline on ``path`` with an analyzer given by name or factory.

    ``options`` are :class:`m0core.Options` fields (``selector="top"``, ``threshold=-20``,
    ``analyzer_params={...}``); no clips are cut unless ``clips=True`` and ``out_dir`` are
    given.
    """
    out_dir = options.pop("out_dir", None)
    options.setdefault("clips", False)
    if isinstance(analyzer, str):
        return analyze(path, out_dir, analyzer=analyzer, **options)
    with registered("analyzers", f"test-{getattr(analyzer, '__name__', 'analyzer')}",
                    analyzer) as name:
        return analyze(path, out_dir, analyzer=name, **options)


@dataclass(frozen=True)
class Recording:
    """A synthetic recording and the events planted in it (see :mod:`m0core.dev.synth`)."""

    path: Path
    events: tuple[synth.Event, ...]

    def match(self, result: AnalysisResult, slack: float = 2.0) -> synth.Match:
        """How the highlights of ``result`` compare with the planted events (``.recall``,
        ``.precision``, ``.missed``)."""
        return synth.match_events(self.events, result.highlights, slack=slack)


@pytest.fixture(scope="session")
def m0_media(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``m0_media(name, *ffmpeg_args)``: the file ``name`` made by ffmpeg once per session
    (once for all of pytest-xdist's workers: the first to need it makes it).

    The arguments are everything ffmpeg needs before the output name, e.g.
    ``m0_media("tone.wav", "-f", "lavfi", "-i", "sine=f=440:duration=3")``.
    """
    return _maker(_session_folder(tmp_path_factory, "m0-media"))


def _session_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder ``name`` of this test session, the same one for all of pytest-xdist's workers
    (what one worker makes there, the others find)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the workers' base folders share a parent
        folder = tmp_path_factory.getbasetemp().parent / name
        folder.mkdir(exist_ok=True)
        return folder
    return tmp_path_factory.mktemp(name)


def _maker(folder: Path) -> Callable[..., Path]:
    """:func:`m0_media`'s ``make``, in ``folder``."""

    def make(name: str, *args: str) -> Path:
        out = folder / name
        if not out.exists():
            # Made beside it, then linked to its name, which fails if another worker's is
            # already there: a worker sees all of it or none, and a file a test reads is never
            # replaced under it (a replaced file is another file to m0: its cache, its checks).
            part = folder / f".{uuid.uuid4().hex}-{name}"
            try:
                run_ffmpeg(*args, str(part))
                with suppress(FileExistsError):
                    os.link(part, out)
            finally:
                part.unlink(missing_ok=True)
        return out

    return make


@pytest.fixture(scope="session")
def m0_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """A 90 s mono 48 kHz flac: a noise bed with cheers, shouts and spikes at known times."""
    path = tmp_path_factory.mktemp("m0-recording") / "recording.flac"
    events = synth.write_audio(path, 90.0, seed=11)
    return Recording(path, tuple(events))


@pytest.fixture
def m0_analyze() -> Callable[..., AnalysisResult]:
    """:func:`analyze_with`: run an analyzer (a name or a factory) through the pipeline."""
    return analyze_with
