"""A batch job's process: ``python -m m0core.batch.worker``, started by
:class:`~m0core.batch.executors.ProcessExecutor` (see :mod:`m0core.workers`).

It reads one line of JSON on stdin, ``{"fn": "module:name", "spec": {...}}``, runs
``fn(spec, report)`` and writes JSON lines on stdout: ``{"progress": fraction}`` as the job
advances, then ``{"result": ...}``. Stdin stays open while the batch wants the job: its end
(the batch closed it, or died) or SIGTERM stops the job as Ctrl-C would (``fn`` sees a
``KeyboardInterrupt``). When the batch is gone, the job's whole process group (its ffmpeg and
decoding workers) is killed within :data:`ORPHAN_GRACE` seconds, cleaned up or not.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any, BinaryIO

from m0core import stops, workers

#: Seconds a job whose batch died gets to clean up before its process group is killed.
ORPHAN_GRACE = 1.0

#: Set by the first SIGTERM (a plain flag: a signal handler must not take a lock, which a
#: second signal arriving inside the first handler would wait on forever).
_stopping = False
_finished = threading.Event()


def main() -> None:
    """The worker's body (see the module docstring)."""
    workers.die_with_parent(signal.SIGTERM)
    stops.ignore((signal.SIGINT,))  # the batch decides; it sends SIGTERM
    signal.signal(signal.SIGTERM, _stop)
    out = workers.channel()
    try:
        line = _first_line(sys.stdin.fileno())
        if not line.strip():  # stdin closed before a request came: the batch stopped first
            sys.exit(130)
        request = json.loads(line)
        threading.Thread(target=_lifeline, name="m0-lifeline", daemon=True).start()
        module, _, name = request["fn"].partition(":")
        fn = getattr(importlib.import_module(module), name)
        result = fn(request["spec"], _reporter(out))
        _finished.set()
        _send(out, {"result": result})
        out.close()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if not workers.parent_alive():  # nobody else will stop what is left of the job
            workers.kill_group(os.getpid())
    workers.end_despite_threads(0)  # the result is sent: a plugin's thread holds nothing


def _reporter(out: BinaryIO):
    last = 0.0

    def report(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 0.25 or fraction >= 1.0:
            last = now
            _send(out, {"progress": fraction})

    return report


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    try:
        out.write(json.dumps(message).encode() + b"\n")
        out.flush()
    except (OSError, ValueError):  # the batch is gone or stopped listening
        pass


def _first_line(fd: int) -> bytes:
    """The request: stdin up to its first newline, read unbuffered (the rest of stdin is the
    lifeline, read by a thread)."""
    data = b""
    while not data.endswith(b"\n"):
        more = os.read(fd, 1)
        if not more:
            break
        data += more
    return data


def _lifeline() -> None:
    """Wait for the end of stdin, then stop the job (SIGTERM to ourselves)."""
    try:
        while os.read(sys.stdin.fileno(), 4096):
            pass
    except OSError:
        pass
    if not _finished.is_set():
        if hasattr(signal, "pthread_kill"):
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
        else:  # pragma: no cover - Windows
            import _thread
            _thread.interrupt_main(signal.SIGTERM)


def _stop(signum: int, frame: Any) -> None:
    """SIGTERM: stop the job once (a second signal must not break its clean-up)."""
    global _stopping
    if _stopping or _finished.is_set():
        return
    if stops.put_off(signum, frame, _stop):  # inside an import (the job's module): soon
        return
    _stopping = True
    if not workers.parent_alive():
        timer = threading.Timer(ORPHAN_GRACE, workers.kill_group, (os.getpid(),))
        timer.daemon = True
        timer.start()
    raise KeyboardInterrupt


if __name__ == "__main__":
    main()
