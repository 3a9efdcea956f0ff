"""m0's own worker processes: ``python -m <an m0 module>`` children of the running process.

A batch job (:mod:`m0core.batch.worker`) and a decoding segment
(:mod:`m0core.pipeline.segments`) each run in such a process. They are started from m0's own
module with the running interpreter, so they never import the caller's ``__main__`` (as
multiprocessing's spawn and forkserver do): m0 works the same from a script without a main
guard, from ``python -``, an interactive interpreter or a Jupyter kernel.

A worker talks to its parent over its stdin and stdout (:func:`channel`), dies with the process
that started it (:func:`die_with_parent`), and a batch job leads a process group of its own, so
whatever it started is stopped with it (:func:`kill_group`).

A worker's start-up (the interpreter, numpy, the decoder's libraries: about 0.3 s) can overlap
with the parent's own: :func:`prestart` starts one before its job is known, :func:`start` hands
it out (or starts a new one) once it is, and :func:`discard` stops one nobody took. This module
imports nothing heavy, so a command can prestart a worker before its own imports.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

#: The module a decoding worker runs (:mod:`m0core.pipeline.segments`), named here so a front
#: end can :func:`prestart` one without importing it.
SEGMENTS = "m0core.pipeline.segments"
#: The environment variable that tells a worker which process started it.
PARENT_ENV = "M0_PARENT_PID"
#: Set for a worker unless the caller set them: m0 runs work in parallel by processes, one
#: core each, so numpy's BLAS needs no thread pool (starting one costs each worker about
#: 0.05 s of CPU).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1"}
_PR_SET_PDEATHSIG = 1

_parent: int | None = None
#: Workers started ahead of their job, by module (:func:`prestart`).
_spares: dict[str, list[Worker]] = {}
_spares_lock = threading.Lock()
_discard_at_exit = False  # whether :func:`discard` is registered to run at exit


def decoders(jobs: int | None, cores: int | None = None) -> int:
    """Decoding worker processes for the ``jobs`` option: ``jobs``, or one per core of
    ``cores`` (default: this machine's) — none with one core, where the calling process
    decodes (a worker would only add its start-up). 0: the calling process decodes."""
    if jobs is not None:
        return jobs
    cores = cores or os.cpu_count() or 1
    return cores if cores > 1 else 0


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


def killed_with_parent(cmd: list[str]) -> list[str]:
    """``cmd`` as a command the kernel SIGKILLs when the thread that starts it ends, the
    process included, however it dies (``PR_SET_PDEATHSIG``, which survives ``exec``): run
    through util-linux's ``setpriv --pdeathsig KILL``, which sets it and executes ``cmd`` in
    its place (the same process). ``cmd`` as it is where there is no such ``setpriv`` (off
    Linux, or one older than 2.33), or where its program is not found (so starting it fails
    as it would). The parent is the *thread* that started the child: start and wait in the
    same thread, as m0 does.

    Not a ``preexec_fn`` setting it from Python: a child that runs Python between fork and
    exec first clears the other threads' states, and what only their frames held is freed
    there — a PyAV scaler (a report's thumbnails) waits in its destructor for threads the
    child does not have, and the child hangs before its ``exec``, its parent with it (seen:
    a run's clips never ending). ``setpriv`` leaves one race open: a parent that dies in the
    millisecond before ``setpriv`` sets it leaves the program running.
    """
    import shutil

    setpriv = _setpriv()
    if setpriv is None or shutil.which(cmd[0]) is None:
        return cmd
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd]


@functools.cache
def _setpriv() -> str | None:
    """The path of a ``setpriv`` that takes ``--pdeathsig`` (tried once), else ``None``."""
    import shutil
    import subprocess

    found = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if found is None:
        return None
    try:
        tried = subprocess.run([found, "--pdeathsig", "KILL", "--", "true"],
                               capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found if tried.returncode == 0 else None


def parent_alive() -> bool:
    """False once the process that started this worker has died (this process was adopted)."""
    return _parent is None or os.getppid() == _parent


def channel() -> BinaryIO:
    """In a worker: its stdout as a binary stream for messages to the parent. File descriptor
    1 is pointed at stderr (:func:`stdout_to_stderr`), so what plugins or libraries print
    cannot garble the messages."""
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    stdout_to_stderr()
    return stream


def stdout_to_stderr() -> None:
    """Point file descriptor 1 at stderr (what was printed so far flushed first): what this
    process prints from now on goes where its errors go."""
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def end_despite_threads(code: object, tell: Callable[[list[str]], None] | None = None
                        ) -> None:
    """End this process now (:func:`end_now`) if threads that are not daemons still run (a
    plugin's: m0 leaves none): Python would wait for them at exit, for ever if they never end,
    once m0's work is done. ``tell`` is given their names first."""
    left = [t.name for t in threading.enumerate()
            if t is not threading.current_thread() and not t.daemon and t.is_alive()]
    if not left:
        return
    if tell is not None:
        tell(left)
    end_now(code)


def end_now(code: object = 0) -> None:
    """End this process now: its exit handlers run and its output is flushed, but nothing
    waits for threads and the interpreter's teardown is skipped. ``code`` as
    :class:`SystemExit` takes it (``None``: 0; a number: itself; anything else: 1)."""
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code if isinstance(code, int) else 0 if code is None else 1)


#: What most likely sent a signal that killed a process, said after its name.
_SENT_BY = {getattr(signal, name): hint for name, hint in (
    ("SIGKILL", "out of memory?"), ("SIGXFSZ", "a file over the size limit, ulimit -f"))
    if hasattr(signal, name)}


def killed_by(signum: int) -> str:
    """The signal ``signum`` as a line says a process was killed by it: its name
    (``SIGXFSZ``, not 25) and, for a few, what most likely sent it
    (``SIGKILL (out of memory?)``)."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"{name} ({_SENT_BY[signum]})" if signum in _SENT_BY else name


def kill_group(pid: int) -> None:
    """SIGKILL the process group that ``pid`` leads (a batch job and all it started)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def stop_process(proc: subprocess.Popen) -> None:
    """Kill ``proc`` if it still runs, reap it and close its pipes, so no orphan is left.

    m0 stops a child (ffmpeg, a worker) only when its output is to be thrown away, so there is
    nothing to let it finish: SIGKILL, because an ffmpeg blocked writing to a full pipe ignores
    SIGTERM.
    """
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:  # pragma: no cover - raced with its exit
            pass
    proc.wait()
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # pragma: no cover
                pass


class Child:
    """A child process running ``cmd`` (``popen``: more :class:`subprocess.Popen` arguments)
    with its stderr in a temporary file, so a chatty process never stalls on a pipe nobody
    reads. ``with`` it, or :meth:`stop` it: it is then killed if still running and reaped
    (:func:`stop_process`), so no orphan is left; two threads may both stop it (a run's stop
    and the thread reading it), the second waiting for the first. With ``tied``, it is killed
    also when this process dies without stopping it (SIGKILL; :func:`killed_with_parent`,
    Linux), for a program that does not watch its parent itself (ffmpeg)."""

    def __init__(self, cmd: list[str], *, tied: bool = False, **popen: object) -> None:
        import subprocess  # imported when a child starts: ``m0 --version`` needs neither
        import tempfile

        if tied:
            cmd = killed_with_parent(cmd)
        self._stopping = threading.Lock()
        self._errfile = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(cmd, stderr=self._errfile, **popen)
        except BaseException:
            self._errfile.close()
            raise

    def stderr(self) -> str:
        """What the process has written to its stderr so far; nothing once :meth:`stop` has
        closed it (a reader thread that finds its worker gone may ask after the run stopped
        it)."""
        with self._stopping:
            if self._errfile.closed:
                return ""
            self._errfile.seek(0)
            return self._errfile.read().decode("utf-8", "replace")

    def kill(self) -> None:
        """Kill the process now, from any thread, without reaping it: a thread blocked reading
        its output gets the end of it (:meth:`stop` reaps it)."""
        try:
            self.proc.kill()
        except ProcessLookupError:  # pragma: no cover - raced with its exit
            pass

    def stop(self) -> None:
        """Kill the process if it still runs, reap it, close its pipes and its stderr file;
        once, from any thread (a pipe closed by one thread while another closes it raised
        ``ValueError`` there, and replaced the error that stopped the run)."""
        with self._stopping:
            if not self._errfile.closed:  # closed: stopped already
                stop_process(self.proc)
                self._errfile.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Worker(Child):
    """A worker process running ``python -m module`` (:func:`command`, :func:`environment`),
    its stdin and stdout pipes to this process."""

    def __init__(self, module: str) -> None:
        import subprocess

        super().__init__(command(module), env=environment(), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)


def prestart(module: str) -> None:
    """Start a worker of ``module`` now, before its job is known, so its start-up overlaps
    with this process's own; the next :func:`start` of ``module`` takes it. One nobody takes
    is stopped by :func:`discard`, at the latest when this process exits."""
    global _discard_at_exit
    worker = Worker(module)
    with _spares_lock:
        if not _discard_at_exit:  # once: a process may prestart for many runs
            atexit.register(discard)
            _discard_at_exit = True
        _spares.setdefault(module, []).append(worker)


def start(module: str, *, prestarted: bool = True) -> Worker:
    """A worker of ``module``: a prestarted one that still runs (it has been importing while
    this process planned), else (or with ``prestarted`` false) one started now."""
    with _spares_lock:
        spares = _spares.get(module, []) if prestarted else []
        while spares:
            worker = spares.pop(0)
            if worker.proc.poll() is None:
                return worker
            worker.stop()
    return Worker(module)


def discard(module: str | None = None) -> None:
    """Stop the prestarted workers nobody took (of ``module``, or all)."""
    with _spares_lock:
        names = list(_spares) if module is None else [module]
        found = [worker for name in names for worker in _spares.pop(name, [])]
    for worker in found:
        worker.stop()
