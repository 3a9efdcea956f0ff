"""The process a batch's jobs are forked from: m0 imported once, not once a job.

A job's process (:mod:`m0core.batch.worker`) spends about 0.3 s of CPU importing m0, numpy
and the plugins before its job begins: on a batch of short recordings that is most of each
job's work. With more than one job, :class:`~m0core.batch.executors.ProcessExecutor` starts
one ``python -m m0core.batch.forkserver FD MODULE`` (:class:`ForkServer`), which imports the
job's module and the plugins once, then forks a child for each job. The child is the job's
process as :mod:`m0core.batch.worker` describes it — the same request on its stdin, the same
messages on its stdout, its own process group, stopped by SIGTERM or the end of its stdin — but
its imports are done.

The batch and the server talk over a Unix socket (``FD``, one message a packet): the server
says ``{"ready": true}`` once its imports are done (the batch waits for that, Ctrl-C still
heard, at most :data:`READY_WAIT` seconds: a server whose imports hang is killed and each job
started afresh); the batch sends ``fork`` with the two pipe ends that become the child's stdin
and stdout (passed as file descriptors), the server answers ``{"pid": …}``, and
``{"exit": pid, "code": …}`` once the child has ended (``code`` as
:attr:`subprocess.Popen.returncode` has it: ``-signal`` for a child a signal killed). Before it
reaps a child, the server kills whatever is left of the child's process group (its ffmpeg), as
the batch does for a job's process of its own.

The server dies with the batch (``PR_SET_PDEATHSIG`` on Linux; anywhere, the end of its socket)
and each child with the server, so killing ``m0 batch`` with SIGKILL still leaves nothing
behind: each job is stopped as when its batch dies. The server forks only while it runs one
thread: a module that starts a thread as it is imported (a plugin's) makes the server end, and
the batch starts each job's process afresh instead. Linux only (:func:`available`).
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import IO

from m0core import stops, workers

#: This module, as a worker runs it.
MODULE = "m0core.batch.forkserver"
#: Seconds the batch waits for a server's imports (:meth:`ForkServer.ready`), and for the
#: number of a child it asked for.
READY_WAIT = 30.0
FORK_WAIT = 10.0
_PACKET = 4096


def available() -> bool:
    """Whether jobs can be forked from a server here (Linux, where m0 ties a child to its
    parent and file descriptors pass over a Unix socket)."""
    return sys.platform.startswith("linux") and hasattr(socket, "send_fds")


class Forked:
    """A job's process forked by a :class:`ForkServer`, used as a :class:`subprocess.Popen`
    is: ``pid``, ``stdin`` and ``stdout`` (its pipes), ``returncode``, :meth:`poll`,
    :meth:`wait`, :meth:`terminate` and :meth:`kill` (the server reaps it and says how it
    ended)."""

    stderr = None

    def __init__(self, pid: int, stdin: IO[bytes], stdout: IO[bytes], ended: _Ending) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self._ended = ended

    @property
    def orphaned(self) -> bool:
        """Whether it was killed because the server it was forked from had died."""
        return self._ended.is_set() and self._ended.orphaned

    @property
    def returncode(self) -> int | None:
        """Its exit code once it has ended (``-signal``: killed by that signal), else ``None``."""
        return self._ended.code if self._ended.is_set() else None

    def poll(self) -> int | None:
        """:attr:`returncode`, without waiting."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for it to end (``timeout`` seconds at most:
        :class:`subprocess.TimeoutExpired` after them); its exit code."""
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"job process {self.pid}", timeout or 0.0)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Send it ``signum`` if it has not ended."""
        if self.returncode is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:  # pragma: no cover - raced with its exit
                pass

    def terminate(self) -> None:
        """SIGTERM: stop its job as Ctrl-C would."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


class _Ending(threading.Event):
    """Set once a forked process has ended; ``code`` is its exit code, ``orphaned`` whether
    it was killed because its server had died."""

    code: int | None = None
    orphaned = False

    def end(self, code: int | None, orphaned: bool = False) -> None:
        self.code = code
        self.orphaned = orphaned
        self.set()


class ForkServer:
    """A running fork server for jobs whose function lives in ``module`` (imported there once,
    with the plugins but those ``blocked``, as ``m0 --disable-plugin`` names them): :meth:`fork`
    a job's process, :meth:`close` when the batch is done."""

    def __init__(self, module: str, blocked: tuple[str, ...] = ()) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [*workers.command(MODULE), str(theirs.fileno()), module, *blocked],
                env=workers.environment(), stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._lock = threading.Lock()  # one fork at a time: its answer is the next pid
        self._ready = threading.Event()  # set once its imports are done, or it has ended
        self._answers: queue.Queue[tuple[int, _Ending] | None] = queue.Queue()
        self._running: dict[int, _Ending] = {}  # pid: how it ends, for the forks not reaped
        self._gone = False
        self._listener = threading.Thread(target=self._listen, name="m0-forkserver",
                                          daemon=True)
        self._listener.start()

    def ready(self, timeout: float | None = None) -> bool:
        """Wait (``timeout`` seconds at most, default :data:`READY_WAIT`) for the server's
        imports; whether it can fork. One not ready by then is killed."""
        deadline = time.monotonic() + (READY_WAIT if timeout is None else timeout)
        while not self._ready.wait(0.1):  # short waits: Ctrl-C is heard between them
            if time.monotonic() >= deadline:
                self._end()
                break
        return not self._gone

    def fork(self) -> Forked | None:
        """A new job's process, or ``None`` when the server cannot fork one (it has ended,
        or does not answer: start the job's process afresh)."""
        child_in, stdin = os.pipe()
        stdout, child_out = os.pipe()
        answer = None
        with self._lock:
            try:
                if not self._gone:
                    socket.send_fds(self._sock, [b"fork"], [child_in, child_out])
                    answer = self._answers.get(timeout=FORK_WAIT)
            except (OSError, queue.Empty):
                self._end()
            finally:
                os.close(child_in)
                os.close(child_out)
        if answer is None:
            os.close(stdin)
            os.close(stdout)
            return None
        pid, ended = answer
        return Forked(pid, os.fdopen(stdin, "wb"), os.fdopen(stdout, "rb"), ended)

    def close(self) -> None:
        """End the server (the end of its socket; killed if it is not ready) and reap it."""
        if not self._ready.is_set():
            self._end()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it ends at its socket's end
            self._end()
            self.proc.wait()
        self._listener.join(timeout=5)
        self._sock.close()

    def _end(self) -> None:
        """Kill the server: it is not to fork any more (its children die with it)."""
        self._gone = True
        if self.proc.poll() is None:
            self.proc.kill()

    def _listen(self) -> None:
        """Read the server's messages until its socket ends; then the forks not reaped are
        killed (their groups too) and taken as ended so."""
        try:
            while data := self._sock.recv(_PACKET):
                message = json.loads(data)
                if "ready" in message:
                    self._ready.set()
                elif "pid" in message:
                    ended = self._running[message["pid"]] = _Ending()
                    self._answers.put((message["pid"], ended))
                else:
                    self._running.pop(message["exit"], _Ending()).end(message["code"])
        except (OSError, ValueError, KeyError):
            pass
        finally:
            self._gone = True
            self._ready.set()
            self._answers.put(None)  # a fork that waits for its answer gets none
            for pid, ended in list(self._running.items()):  # the server died: so do its forks
                workers.kill_group(pid)
                ended.end(-signal.SIGKILL, orphaned=True)
            self._running.clear()


# -- the server's side ------------------------------------------------------------------------

def main() -> None:
    """The server's body: ``python -m m0core.batch.forkserver FD MODULE [BLOCKED…]``."""
    workers.die_with_parent(signal.SIGTERM)
    stops.ignore((signal.SIGINT,))  # the batch decides
    workers.stdout_to_stderr()  # what its imports print, as in a job's process
    sock = socket.socket(fileno=int(sys.argv[1]))
    _preload(sys.argv[2], sys.argv[3:])
    if threading.active_count() > 1:  # a fork would copy another thread's locks: not safe
        sys.exit(0)
    _say(sock, {"ready": True})
    wake_out, wake_in = os.pipe()
    os.set_blocking(wake_out, False)
    os.set_blocking(wake_in, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_in)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_out, selectors.EVENT_READ)
    ours = (sock.fileno(), wake_out, wake_in)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sock and not _serve(sock, ours):
                return
            if key.fileobj == wake_out:
                while _drained(wake_out):
                    pass
        _reap(sock)


def _preload(module: str, blocked: list[str]) -> None:
    """Import the job's module and the plugins but those ``blocked``, as each job would. What
    fails here, the job imports again and reports."""
    try:
        importlib.import_module(module)
        from m0core import plugins

        for name in blocked:
            plugins.block(name)
        plugins.load_plugins()
    except Exception:  # noqa: S110 - each job imports them again and says what fails
        pass


def _serve(sock: socket.socket, ours: tuple[int, ...]) -> bool:
    """Fork the child a request asks for; false once the batch has closed the socket."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, _PACKET, 2)
    except OSError:
        return False
    if not data:
        return False
    pid = os.fork()
    if pid == 0:
        _child(fds, ours)
    for fd in fds:
        os.close(fd)
    _say(sock, {"pid": pid})
    return True


def _drained(fd: int) -> bool:
    try:
        return bool(os.read(fd, 512))
    except BlockingIOError:
        return False


def _reap(sock: socket.socket) -> None:
    """Each child that has ended: kill what is left of its process group, reap it and say how
    it ended (its group goes first: a reaped child's number may be another's)."""
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is None or not found.si_pid:
            return
        workers.kill_group(found.si_pid)
        _, status = os.waitpid(found.si_pid, 0)
        _say(sock, {"exit": found.si_pid, "code": os.waitstatus_to_exitcode(status)})


def _say(sock: socket.socket, message: dict) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:  # the batch is gone; the end of the socket ends the server
        pass


def _child(fds: list[int], ours: tuple[int, ...]) -> None:
    """In a forked child: become the job's process (:func:`m0core.batch.worker.main`) on the
    pipes ``fds`` (its stdin and stdout), in a process group of its own; never returns."""
    code: object = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in ours:
            os.close(fd)
        os.setsid()
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        for fd in fds:
            os.close(fd)
        os.environ[workers.PARENT_ENV] = str(os.getppid())  # it dies with the server
        from m0core.batch import worker

        worker.main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
    finally:
        workers.end_now(code)


if __name__ == "__main__":
    main()
