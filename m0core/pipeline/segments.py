"""Splitting one file's timeline into segments that are decoded and analysed in parallel by
worker processes (decoding holds the GIL; processes do not share it). A worker is
``python -m m0core.pipeline.segments`` (:mod:`m0core.workers`: it never imports the caller's
``__main__`` and dies with its parent): jobs in as JSON lines, score frames out. A file has
a few segments per worker (:data:`PER_WORKER`), each worker taking the next in time order
when it is free (:class:`Decoders`): the selector, which reads the segments in that order,
keeps pace with the decoding, and little of its work is left once the last one is decoded.

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
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

import numpy as np
from threadpoolctl import threadpool_limits

from m0core import contracts, errors, plugins, workers
from m0core.errors import M0Error
from m0core.judge import spectra
from m0core.model import MediaInfo

#: A file shorter than two of these is one segment: a worker process costs about 0.2 s to
#: start, and each segment a seek and a second decoded before it.
MIN_SEGMENT_SECONDS = 300.0
#: Segments a file has per decoding worker at most, so the selector, which reads the segments
#: in time order, is left with a small one to read after the decoding ends, not half the file.
PER_WORKER = 2


def plan_segments(duration: float | None, jobs: int, hop: float,
                  min_seconds: float = MIN_SEGMENT_SECONDS) -> list[tuple[float, float | None]]:
    """``(start, length)`` pairs covering ``[0, duration)``; the last length is ``None`` (to the
    end of the file). A single ``(0.0, None)`` when parallel decoding would not pay; else the
    same number of segments, up to :data:`PER_WORKER`, for each of the ``jobs`` workers (so
    none is left decoding alone at the end), none shorter than ``min_seconds``; fewer than
    ``jobs`` where the file is too short for one each."""
    if not duration or jobs <= 1 or duration < 2 * min_seconds:
        return [(0.0, None)]
    most = int(duration // min_seconds)
    each = min(PER_WORKER, most // jobs)  # as many for each worker: none waits on another
    count = jobs * each if each else most
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


class Decoders:
    """The worker processes that decode one run's segments: ``count`` of them, each taking
    the next segment in time order once it is free (:meth:`take`, :meth:`give_back`); the
    first a :func:`m0core.pipeline.prestart` one if there is one. They are started here, by
    the thread that runs the analysis: a worker dies with the thread that started it
    (:func:`m0core.workers.die_with_parent`), and a segment's reader thread ends before the
    worker's next segment. :meth:`close` (from any thread) stops them all, and a :meth:`take`
    still waiting gets ``None``."""

    def __init__(self, count: int) -> None:
        self._turn = 0  # the next segment to be given a worker
        self._started: list[workers.Worker] = []
        self._closed = False
        self._changed = threading.Condition()
        try:
            for i in range(max(1, count)):
                self._started.append(workers.start(workers.SEGMENTS, prestarted=i == 0))
        except BaseException:
            self.close()
            raise
        self._idle = list(self._started)

    def take(self, index: int) -> workers.Worker | None:
        """A worker for segment ``index``, once every earlier segment has one and a worker is
        free; ``None`` once closed."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._closed or self._turn == index and bool(self._idle))
            if self._closed:
                return None
            self._turn += 1
            self._changed.notify_all()
            return self._idle.pop(0)

    def give_back(self, worker: workers.Worker) -> None:
        """``worker`` ended its segment and is free for the next."""
        with self._changed:
            self._idle.append(worker)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop every worker (one still decoding is killed) and every :meth:`take` waiting."""
        with self._changed:
            self._closed = True
            started, self._started, self._idle = self._started, [], []
            self._changed.notify_all()
        for worker in started:
            worker.stop()

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def scores_from_worker(job: SegmentJob, decoders: Decoders | None = None, index: int = 0
                       ) -> Iterator[Piece | MediaInfo]:
    """Run ``job`` (segment ``index``) in a worker process of ``decoders`` (``python -m
    m0core.pipeline.segments``; without ``decoders``, one of its own) and yield its
    :class:`Piece` s as they arrive; first the file's :class:`MediaInfo` if the job asks to
    ``describe`` it. Another thread may stop it by closing ``decoders`` (a stage may hang).

    The job goes in as a line of JSON on stdin; results come back as frames on stdout (see
    :func:`_send`), the last a ``D`` once the segment is done, and the worker is free for the
    next. Closing the generator, or an error, kills the worker: no orphan is left.
    """
    if decoders is None:
        with Decoders(1) as own:
            yield from scores_from_worker(job, own)
        return
    worker = decoders.take(index)
    if worker is None:  # the run stopped first
        return
    done = False
    try:
        proc = worker.proc
        proc.stdin.write(json.dumps(asdict(job)).encode() + b"\n")
        proc.stdin.flush()
        while not done:
            kind, payload = _receive(proc.stdout)
            if kind == b"S":
                yield _piece(payload)
            elif kind == b"E":
                error = json.loads(payload)
                raise getattr(errors, error["type"], M0Error)(error["message"])
            elif kind == b"M":
                yield MediaInfo(**json.loads(payload))
            elif kind == b"D":
                done = True
            else:
                tail = worker.stderr().strip().splitlines()
                raise M0Error(f"a decoding worker died (exit code {proc.wait()}"
                              f"{': ' + tail[-1] if tail else ''})")
    finally:
        if done:
            decoders.give_back(worker)
        else:
            worker.stop()


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
    """The worker process: read jobs on stdin, a line of JSON each, and send the frames of
    each one's pieces on stdout, then ``D``, until stdin ends (a prestarted worker nobody
    needed: at once) or a job fails."""
    workers.die_with_parent()
    out = workers.channel()
    loaded = False
    try:
        for line in sys.stdin.buffer:
            job = SegmentJob(**json.loads(line))
            if not loaded:  # every job of a run has the same stages
                plugins.load_only(job.plugins)  # as the parent loaded them (not a blocked one)
                loaded = True
            _segment(job, out)
    except M0Error as exc:
        _send(out, b"E", json.dumps({"type": type(exc).__name__, "message": str(exc)}).encode())
    except BrokenPipeError:  # the parent stopped listening
        pass
    except Exception as exc:  # a bug: report it rather than die silently
        message = f"{type(exc).__name__}: {exc}"
        _send(out, b"E", json.dumps({"type": "M0Error", "message": message}).encode())


def _segment(job: SegmentJob, out: BinaryIO) -> None:
    """Decode and analyse one segment in this worker, its frames sent to ``out``."""
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


if __name__ == "__main__":
    _work()
