"""m0's own worker processes: ``python -m <an m0 module>`` children of the running process.

A batch job (:mod:`m0core.batch.worker`) and a decoding segment
(:mod:`m0core.pipeline.segments`) each run in such a process. They are started from m0's own
module with the running interpreter, so they never import the caller's ``__main__`` (as
multiprocessing's spawn and forkserver do): m0 works the same from a script without a main
guard, from ``python -``, an interactive interpreter or a Jupyter kernel.

A worker talks to its parent over its stdin and stdout (:func:`channel`), dies with the process
that started it (:func:`die_with_parent`), and a batch job leads a process group of its own, so
whatever it started is stopped with it (:func:`kill_group`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import BinaryIO

#: The environment variable that tells a worker which process started it.
PARENT_ENV = "M0_PARENT_PID"
#: Set for a worker unless the caller set them: m0 runs work in parallel by processes, one
#: core each, so numpy's BLAS needs no thread pool (starting one costs each worker about
#: 0.05 s of CPU).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1"}
_PR_SET_PDEATHSIG = 1

_parent: int | None = None


def command(module: str) -> list[str]:
    """The command line of a worker running ``module`` (``python -m module``)."""
    return [sys.executable, "-m", module]


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (or ours) plus what a worker needs to know who its parent is, and numpy's BLAS
    on one thread unless ``env`` says otherwise (:data:`SINGLE_THREADED`)."""
    return {**SINGLE_THREADED, **(env if env is not None else os.environ),
            PARENT_ENV: str(os.getpid())}


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """In a worker: be sent ``signum`` as soon as the process that started it dies.

    On Linux the kernel does it (``PR_SET_PDEATHSIG``); a parent that died before this call
    sends it at once. Elsewhere nothing happens here (the batch worker also treats the end of
    its stdin as the end of its parent).
    """
    global _parent
    _parent = int(os.environ.pop(PARENT_ENV, "0") or 0) or None
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signum))
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if not parent_alive():
        os.kill(os.getpid(), signum)


def parent_alive() -> bool:
    """False once the process that started this worker has died (this process was adopted)."""
    return _parent is None or os.getppid() == _parent


def channel() -> BinaryIO:
    """In a worker: its stdout as a binary stream for messages to the parent. File descriptor
    1 is pointed at stderr, so what plugins or libraries print cannot garble the messages."""
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return stream


def kill_group(pid: int) -> None:
    """SIGKILL the process group that ``pid`` leads (a batch job and all it started)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
