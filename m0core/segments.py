"""Splitting one file's timeline into segments that are decoded and analysed in parallel,
each in a worker process of its own (decoding holds the GIL; processes do not share it).

Segment starts are whole multiples of the analyzer's hop, so every score window of a segment
lines up with the same window of a sequential run; only windows at a boundary can differ (a
decoder starting mid-stream lacks the previous frame's overlap).
"""

from __future__ import annotations

import math
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from m0core import errors
from m0core.errors import M0Error, PluginError

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


def segment_scores(source: Any, analyzer: Any, analyzer_name: str, path: str, *,
                   chunk_seconds: float, start: float, length: float | None
                   ) -> Iterator[tuple[np.ndarray, float]]:
    """Decode and analyse one segment: yield ``(scores, seconds decoded)`` per chunk.

    An analyzer that fails becomes a :class:`PluginError` naming it.
    """
    for chunk in source.chunks(path, chunk_seconds=chunk_seconds, start=start, duration=length):
        yield _call(analyzer_name, analyzer.feed, chunk), chunk.duration
    finish = getattr(analyzer, "finish", None)
    if finish is not None:
        yield _call(analyzer_name, finish), 0.0


def _call(name: str, method: Callable[..., Any], *args: Any) -> np.ndarray:
    try:
        return np.asarray(method(*args), dtype=np.float32)
    except M0Error:
        raise
    except Exception as exc:
        raise PluginError(f'analyzer "{name}" failed: {type(exc).__name__}: {exc}') from exc


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


def scores_from_worker(job: SegmentJob) -> Iterator[tuple[np.ndarray, float]]:
    """Run ``job`` in a worker process and yield its ``(scores, seconds)`` as they arrive.

    Closing the generator (or an error) kills the worker: no orphan is left behind.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_work, args=(job, sender), name="m0-segment", daemon=True)
    worker.start()
    sender.close()
    try:
        while True:
            try:
                kind, *payload = receiver.recv()
            except EOFError:
                raise PluginError(f"a decoding worker died (exit code {worker.exitcode})") \
                    from None
            if kind == "scores":
                yield np.frombuffer(payload[0], dtype=np.float32), payload[1]
            elif kind == "error":
                error_type = getattr(errors, payload[0], M0Error)
                raise error_type(payload[1])
            else:
                return
    finally:
        receiver.close()
        if worker.is_alive():
            worker.kill()
        worker.join()


def _work(job: SegmentJob, sender: Any) -> None:
    """The worker process: analyse the segment and send the scores back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from m0core import plugins

    try:
        source = plugins.create("sources", job.source, **job.source_params)
        analyzer = plugins.create("analyzers", job.analyzer, **job.analyzer_params)
        for scores, seconds in segment_scores(
                source, analyzer, job.analyzer, job.path, chunk_seconds=job.chunk_seconds,
                start=job.start, length=job.length):
            sender.send(("scores", scores.tobytes(), seconds))
        sender.send(("end",))
    except M0Error as exc:
        sender.send(("error", type(exc).__name__, str(exc)))
    except Exception as exc:  # a bug: report it rather than die silently
        sender.send(("error", "M0Error", f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()
