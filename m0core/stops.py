"""Stopping a process on a signal without breaking Python's own works.

A :class:`KeyboardInterrupt` raised inside an import, or inside the start of a process, can
leave a module half made or a lock held (see :func:`unsafe`); there the stop is put off and
tried again a moment later (:func:`put_off`). Used by the ``m0`` command's handler and by a
batch job's process. Where a block must not be cut short (a run's outputs being published, a
process being started and recorded), the stops are held until it ends (:func:`held_signals`).
A command whose reader went away ends quietly, as one killed by SIGPIPE (:func:`drop_output`);
an ignored stop is dropped without a word (:func:`ignore`).
Standard library only: the entry point imports it before anything else.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: How long a stop that came where it could not be raised waits before it is tried again.
RETRY = 0.02
#: Signals that stop a command as Ctrl-C does (SIGHUP: its terminal closed), where they exist.
STOP_SIGNALS = (signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ()))
#: What :func:`held_signals` holds: the stops, and SIGALRM, by which a stop put off comes again
#: (:func:`put_off`).
HELD = (signal.SIGINT, *STOP_SIGNALS, *((signal.SIGALRM,) if hasattr(signal, "SIGALRM") else ()))


def unsafe(frame: Any) -> bool:
    """Whether ``frame`` runs inside an import or a function a process's start calls.

    A :class:`KeyboardInterrupt` raised inside an import (m0 imports most of its modules as a
    command starts) can leave the module half made (numpy's 'ImportError: initialization
    failed' when it is imported again) or, from the code a dataclass or a named tuple
    compiles, Python's note of an interrupt none caught: ``python -m m0core`` then ended
    killed by SIGINT, not with the 130 it exited with; raised in importlib's own callback, it
    is printed as an exception ignored, with its traceback. One raised in logging's handler
    around a fork (``subprocess``) is dropped by Python, its lock left held: the next process
    started waited for it for ever."""
    # subprocess may be half imported (the stop came as it was): no Popen yet, nothing starting
    popen = getattr(sys.modules.get("subprocess"), "Popen", None)
    starting = popen._execute_child.__code__ if popen is not None else None
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        caller = frame.f_back
        if caller is not None and caller.f_code is starting:
            return True
        frame = caller
    return False


def put_off(signum: int, frame: Any, handler: Callable[[int, Any], None]) -> bool:
    """Where a stop cannot be raised in ``frame`` (:func:`unsafe`), have ``handler(signum,
    frame)`` called again every :data:`RETRY` seconds (by SIGALRM) and return ``True``; else
    end such a retry and return ``False``: the caller stops now."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        return False
    if unsafe(frame):
        signal.signal(signal.SIGALRM, lambda _, later: handler(signum, later))
        signal.setitimer(signal.ITIMER_REAL, RETRY, RETRY)
        return True
    signal.setitimer(signal.ITIMER_REAL, 0)
    return False


@contextmanager
def held_signals(signums: tuple[int, ...] = HELD) -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP for the block and deliver them after it (main thread only;
    elsewhere the block runs as it is: signals reach only the main thread anyway). A stop put
    off (:func:`put_off`) is held too: its retry comes by SIGALRM, which could raise it inside
    the block — in a thread pool's ``submit``, between starting a thread and listing it, a clip
    thread the pool then cannot wait for (a likely cause of a stopped run that ended warning
    that ``m0-encoder_0`` still ran)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    before = {}
    for signum in signums:
        try:
            before[signum] = signal.signal(signum, lambda s, f: caught.append(s))
        except (ValueError, OSError):  # pragma: no cover - not settable here
            pass
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def ignore(signums: tuple[int, ...]) -> None:
    """Ignore ``signums`` (main thread only), a stop dropped without a word even where one
    raced the change: a signal that reached another thread as the main one set it ignored
    (after Python ran what was pending, before the handler changed) stays pending with no
    handler, and Python printed it as an exception ignored, a traceback ending ``OSError:
    Signal 2 ignored due to race condition`` (Ctrl-C again and again as m0 ended, after its
    work was done and its end said: a run of the suite met it once)."""
    global _unraisable_before
    if sys.unraisablehook is not _drop_raced_stop:
        _unraisable_before = sys.unraisablehook
        sys.unraisablehook = _drop_raced_stop
    for signum in signums:
        signal.signal(signum, signal.SIG_IGN)


#: The hook :func:`_drop_raced_stop` hands every other exception ignored.
_unraisable_before = sys.unraisablehook


def _drop_raced_stop(unraisable: Any) -> None:
    """``sys.unraisablehook`` once m0 ignored a stop (:func:`ignore`): drops Python's note of a
    signal that came with no handler left, hands anything else to the hook before it."""
    said = str(unraisable.exc_value)
    if not (unraisable.exc_type is OSError and said.startswith("Signal ")
            and said.endswith(" ignored due to race condition")):
        _unraisable_before(unraisable)


def to_null(fd: int) -> None:
    """Point the file descriptor ``fd`` (closed or open) at the null device."""
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:  # a closed fd is the lowest free number: the null device took it
        os.dup2(null, fd)
        os.close(null)


def drop_output() -> int:
    """Point stdout, whose reader went away (``… | head -1``), at the null device: what Python
    still holds for it, flushed at exit, would fail again. Returns the exit code of a Unix
    tool so ended: 128 + SIGPIPE."""
    to_null(sys.stdout.fileno())
    return 128 + signal.SIGPIPE
