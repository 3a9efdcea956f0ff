"""Splitting one file's timeline into segments that are decoded and analysed in parallel,
each in a worker process of its own (decoding holds the GIL; processes do not share it).
A worker is ``python -m m0core.pipeline.segments`` (:mod:`m0core.workers`: it never imports the
caller's ``__main__`` and dies with its parent): a job in as JSON, score frames out.

Segment starts are whole multiples of the analyzer's hop, so every score window of a segment
lines up with the same window of a sequential run; only windows at a boundary can differ (a
decoder starting mid-stream lacks the previous frame's overlap). Beside its scores, a segment
gives the spectra of its audio (:mod:`m0core.judge.spectra`), for a selector that listens.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import numpy as np
from threadpoolctl import threadpool_limits

from m0core import contracts, errors, plugins, workers
from m0core.errors import M0Error
from m0core.judge import spectra
from m0core.model import MediaInfo

#: A segment shorter than this is not worth a worker process (about 0.2 s to start).
MIN_SEGMENT_SECONDS = 300.0


def plan_segments(duration: float | None, jobs: int, hop: float,
                  min_seconds: float = MIN_SEGMENT_SECONDS) -> list[tuple[float, float | None]]:
    """``(start, length)`` pairs covering ``[0, duration)``; the last length is ``None`` (to the
    end of the file). A single ``(0.0, None)`` when parallel decoding would not pay."""
    if not duration or jobs <= 1 or duration < 2 * min_seconds:
        return [(0.0, None)]
    count = min(jobs, int(duration // min_seconds))
    hops = math.ceil(duration / count / hop)  # hops per segment
    length = hops * hop
    return [(round(i * hops * hop, 6), length) for i in range(count - 1)] + [
        (round((count - 1) * hops * hop, 6), None)
    ]


@dataclass(frozen=True)
class Piece:
    """What one chunk of a segment gives: its score values, the seconds of audio it held,
    and the spectra of the frames it completed (:class:`m0core.judge.spectra.Spectra`'s
    codes, frame ``first`` on; none at a rate under :data:`~m0core.judge.spectra.MIN_RATE`)."""

    scores: np.ndarray
    seconds: float
    codes: np.ndarray
    first: int


def segment_scores(source: Any, source_name: str, analyzer: Any, analyzer_name: str,
                   path: str, *, chunk_seconds: float, start: float, length: float | None,
                   hear: bool = True) -> Iterator[Piece]:
    """Decode and analyse one segment: yield a :class:`Piece` per chunk (with the spectra of
    its audio if ``hear``).

    A source or analyzer that fails becomes a :class:`PluginError` naming its plugin
    (:func:`m0core.plugins.blame`), as does a source giving chunks that break its contract
    (:func:`m0core.contracts.chunk_problem`) or an analyzer breaking its contract: values that
    are not a 1-D array of finite numbers, or not one per hop of the segment in all
    (:func:`m0core.contracts.count_problem`), which would put every later value at another time.
    """
    with plugins.blame("sources", source_name):
        chunks = iter(source.chunks(path, chunk_seconds=chunk_seconds, start=start,
                                    duration=length))
    samples = values = rate = 0
    previous = None
    heard = spectra.Heard() if hear else None
    # the spectra's small products on one thread: BLAS's other threads would spin between
    # them while the decoder works, and double the CPU time of a decode
    blas = threadpool_limits(limits=1, user_api="blas")
    try:
        while True:
            with plugins.blame("sources", source_name):
                chunk = next(chunks, None)
            if chunk is None:
                break
            problem = contracts.chunk_problem(chunk, previous) \
                or contracts.asked_problem(chunk, previous is None, start, length)
            if problem is not None:
                raise plugins.broken("sources", source_name, problem)
            problem = contracts.samples_problem(chunk)
            if problem is not None:
                raise _not_numbers(source_name, path, problem)
            previous = chunk
            scores = plugins.analyzer_scores(analyzer_name, analyzer.feed, chunk)
            samples, values, rate = samples + len(chunk.samples), values + len(scores), \
                chunk.sample_rate
            codes, first = heard.feed(chunk) if heard is not None else (spectra.NONE, 0)
            yield Piece(scores, chunk.duration, codes, first)
    finally:
        blas.restore_original_limits()
        close = getattr(chunks, "close", None)
        if close is not None:
            with plugins.blame("sources", source_name):
                close()
    finish = getattr(analyzer, "finish", None)
    if finish is not None:
        scores = plugins.analyzer_scores(analyzer_name, finish)
        values += len(scores)
        yield Piece(scores, 0.0, spectra.NONE, heard.frame if heard is not None else 0)
    plugins.check_count(analyzer_name, values, samples, rate, analyzer.hop)


def _not_numbers(source_name: str, path: str, problem: str) -> M0Error:
    """The error for samples that are not numbers (``problem``, from
    :func:`m0core.contracts.samples_problem`): m0's own sources decode them from the file, a
    damaged one; another source's plugin is named."""
    if plugins.builtin("sources", source_name):
        return errors.InputError(f"{path}: its audio holds {problem}: the recording is damaged")
    return plugins.broken("sources", source_name,
                          f"gave {problem} (samples are finite, -1..1)")


@dataclass(frozen=True)
class SegmentJob:
    """What a worker process needs to analyse one segment (plain, picklable data)."""

    path: str
    source: str
    source_params: dict[str, Any]
    analyzer: str
    analyzer_params: dict[str, Any]
    chunk_seconds: float
    start: float
    length: float | None
    #: The plugins that provide the source and the analyzer (their entry-point names, modules
    #: and distributions: :func:`m0core.plugins.modules_of`): the worker loads these only.
    plugins: dict[str, dict[str, Any]]
    #: Probe the file first and send its :class:`MediaInfo` (the parent has only the
    #: source's outline of it: :attr:`m0core.pipeline.plan.Plan.outlined`).
    describe: bool = False
    #: Make the spectra of the audio (:attr:`m0core.pipeline.plan.Plan.hears`).
    hear: bool = True


def scores_from_worker(job: SegmentJob, *, prestarted: bool = True,
                       started: Callable[[workers.Worker], None] | None = None
                       ) -> Iterator[Piece | MediaInfo]:
    """Run ``job`` in a worker process (``python -m m0core.pipeline.segments``; with
    ``prestarted``, one :func:`m0core.pipeline.prestart` started if there is one) and yield
    its :class:`Piece` s as they arrive; first the file's :class:`MediaInfo` if the job
    asks to ``describe`` it. ``started`` is given the worker, for another thread to kill
    (:meth:`m0core.workers.Child.kill`) when its stage may hang.

    The job goes in as JSON on stdin; results come back as frames on stdout (see
    :func:`_send`). Closing the generator, or an error, kills the worker: no orphan is left.
    """
    with workers.start(workers.SEGMENTS, prestarted=prestarted) as worker:
        if started is not None:
            started(worker)
        proc = worker.proc
        proc.stdin.write(json.dumps(asdict(job)).encode())
        proc.stdin.close()
        while True:
            kind, payload = _receive(proc.stdout)
            if kind == b"S":
                yield _piece(payload)
            elif kind == b"E":
                error = json.loads(payload)
                raise getattr(errors, error["type"], M0Error)(error["message"])
            elif kind == b"M":
                yield MediaInfo(**json.loads(payload))
            elif kind == b"D":
                return
            else:
                tail = worker.stderr().strip().splitlines()
                raise M0Error(f"a decoding worker died (exit code {proc.wait()}"
                              f"{': ' + tail[-1] if tail else ''})")


#: A piece's head: seconds, first frame, number of score values.
_PIECE = struct.Struct("<dqI")


def _packed(piece: Piece) -> bytes:
    """A piece as a frame's payload: its head, the scores (float32), the spectra's codes."""
    return _PIECE.pack(piece.seconds, piece.first, len(piece.scores)) \
        + np.asarray(piece.scores, dtype="<f4").tobytes() + piece.codes.tobytes()


def _piece(payload: bytes) -> Piece:
    """The piece :func:`_packed` made ``payload`` of."""
    seconds, first, count = _PIECE.unpack_from(payload)
    end = _PIECE.size + 4 * count
    scores = np.frombuffer(payload[_PIECE.size:end], dtype="<f4").astype(np.float32)
    codes = np.frombuffer(payload[end:], dtype=np.uint8).reshape(-1, spectra.BANDS)
    return Piece(scores, seconds, codes, first)


def _send(stream: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    """One frame: a kind byte, the payload's length (4 bytes little-endian), the payload."""
    stream.write(kind + struct.pack("<I", len(payload)) + payload)
    stream.flush()


def _receive(stream: BinaryIO) -> tuple[bytes, bytes]:
    """The next frame, or ``(b"", b"")`` when the stream ended without one."""
    head = stream.read(5)
    if len(head) < 5:
        return b"", b""
    (size,) = struct.unpack("<I", head[1:])
    payload = stream.read(size)
    return (head[:1], payload) if len(payload) == size else (b"", b"")


def _work() -> None:
    """The worker process: read a job on stdin, send frames of pieces on stdout."""
    workers.die_with_parent()
    out = workers.channel()
    text = sys.stdin.buffer.read()
    if not text:  # a prestarted worker nobody needed: its parent closed stdin
        return
    try:
        job = SegmentJob(**json.loads(text))
        plugins.load_only(job.plugins)  # as the parent loaded them (not a blocked one)
        source = plugins.create("sources", job.source, **job.source_params)
        analyzer = plugins.create("analyzers", job.analyzer, **job.analyzer_params)
        if job.describe:
            media = plugins.probe(source, job.source, job.path)
            _send(out, b"M", json.dumps(asdict(media)).encode())
        for piece in segment_scores(
                source, job.source, analyzer, job.analyzer, job.path,
                chunk_seconds=job.chunk_seconds, start=job.start, length=job.length,
                hear=job.hear):
            _send(out, b"S", _packed(piece))
        _send(out, b"D")
    except M0Error as exc:
        _send(out, b"E", json.dumps({"type": type(exc).__name__, "message": str(exc)}).encode())
    except BrokenPipeError:  # the parent stopped listening
        pass
    except Exception as exc:  # a bug: report it rather than die silently
        message = f"{type(exc).__name__}: {exc}"
        _send(out, b"E", json.dumps({"type": "M0Error", "message": message}).encode())


if __name__ == "__main__":
    _work()
