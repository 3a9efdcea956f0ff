"""Run an iterator in a reader thread that fills a bounded queue.

Decoding (the slow part) runs ahead of analysis, but never more than ``maxsize`` items ahead,
so memory stays bounded. The reader's exception is re-raised in the consumer, and the thread
is always joined. The iterator is created, consumed and closed inside the reader thread, so a
generator's ``finally`` (which stops its ffmpeg process) runs there too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class _Raised:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ReadAhead(Generic[T]):
    """``with ReadAhead(lambda: source.chunks(path)) as chunks: for c in chunks: ...``.

    ``maxsize=0`` leaves the queue unbounded (for small items such as score arrays, so a
    reader is never held back by a consumer busy elsewhere). ``on_idle`` is called about four
    times a second while the consumer waits (e.g. to update a progress bar). ``on_stop`` is
    called when the consumer leaves before the reader has ended, to end a read that may
    never return by itself (kill the process whose output it waits for).
    """

    def __init__(self, make: Callable[[], Iterable[T]], maxsize: int = 4,
                 on_idle: Callable[[], None] | None = None,
                 on_stop: Callable[[], None] | None = None) -> None:
        self._make = make
        self._on_idle = on_idle
        self._on_stop = on_stop
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="m0-reader", daemon=True)

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._on_stop is not None and self._thread.is_alive():
            self._on_stop()
        while self._thread.is_alive():
            self._drain()
            self._thread.join(timeout=0.05)
        self._drain()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=0.25 if self._on_idle else None)
            except queue.Empty:
                self._on_idle()
                continue
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        iterator = None
        try:
            iterator = iter(self._make())
            for item in iterator:
                if not self._put(item):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(_Raised(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self._put(_END)
