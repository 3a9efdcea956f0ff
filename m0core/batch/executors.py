"""Where batch jobs run: one local process per job, or a Dask distributed cluster.

Both executors take a picklable job function ``fn(spec, report)`` and a list of job specs
(plain dicts with a ``job_id``) and tell the caller what happens through ``on_event(kind,
job_id, payload)``:

- ``"started"``: the job began (payload ``None``);
- ``"progress"``: a fraction 0…1 of the job's analysis (local processes only);
- ``"done"``: the job function returned; payload its result;
- ``"lost"``: the job ended without a result; payload ``(status, reason)`` with status
  ``failed`` (its process died, e.g. out of memory) or ``interrupted`` (the batch was stopped).

A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM turned into one by the CLI) stops the running jobs,
reports them ``lost`` as interrupted and is re-raised. The process executor also takes a
``stop`` event (a :class:`threading.Event`): once it is set, it stops the same way (within a
second) and raises ``KeyboardInterrupt`` — how a batch run in a thread (``m0 gui``) is cancelled.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from m0core.checks import whole
from m0core.errors import M0Error, OptionError

JobFn = Callable[..., dict]
OnEvent = Callable[[str, str, Any], None]
EXECUTORS = ("process", "dask")

#: Seconds a stopped job gets to clean up (kill its ffmpeg, remove its clips) before SIGKILL.
STOP_GRACE = 10.0


def default_workers() -> int:
    """Jobs at once by default: one per core."""
    return os.cpu_count() or 1


def make_executor(name: str, workers: int, scheduler: str | None = None):
    """The executor called ``name`` (``process`` or ``dask``) running ``workers`` jobs at once."""
    if name == "process":
        if scheduler:
            raise OptionError("--scheduler needs --executor dask")
        return ProcessExecutor(workers)
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    raise OptionError(f"executor must be one of {', '.join(EXECUTORS)}, not {name!r}")


class ProcessExecutor:
    """Each job in a process of its own, ``workers`` at a time.

    A job's process leads its own process group (its ffmpeg processes are in it too), so a job
    that crashes or runs out of memory fails alone, and whatever it left running is killed with
    its group. On Linux the process also dies with the batch (``PR_SET_PDEATHSIG``), so
    killing ``m0 batch`` with SIGKILL leaves nothing behind. Processes come from a fork server
    that has m0 imported already, so a job starts in milliseconds.
    """

    slots_per_machine: int

    def __init__(self, workers: int) -> None:
        whole("workers", workers, low=1)
        self.workers = workers
        self.slots_per_machine = workers

    def map(self, fn: JobFn, specs: list[dict], on_event: OnEvent,
            stop: threading.Event | None = None) -> None:
        """Run ``fn(spec, report)`` for every spec; see the module docstring for events and
        ``stop``."""
        ctx = _context()
        queue = deque(specs)
        running: dict[str, _Job] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    spec = queue.popleft()
                    running[spec["job_id"]] = _Job.start(ctx, fn, spec)
                    on_event("started", spec["job_id"], None)
                handles = [h for job in running.values() for h in (job.conn, job.proc.sentinel)]
                wait(handles, timeout=1.0)
                for job_id, job in list(running.items()):
                    if job.poll(on_event):
                        del running[job_id]
                if stop is not None and stop.is_set():
                    raise KeyboardInterrupt
        except BaseException:
            _stop(running, on_event)
            raise


class _Job:
    """One job's process and the read end of its pipe."""

    def __init__(self, job_id: str, proc: Any, conn: Connection) -> None:
        self.job_id = job_id
        self.proc = proc
        self.conn = conn
        self.result: dict | None = None
        self.exitcode: int | None = None
        self.closed = False

    @classmethod
    def start(cls, ctx: Any, fn: JobFn, spec: dict) -> _Job:
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(fn, spec, writer), daemon=False,
                           name=f"m0-job-{spec['job_id']}")
        proc.start()
        writer.close()
        return cls(spec["job_id"], proc, reader)

    def drain(self, on_event: OnEvent) -> None:
        """Read every message waiting in the pipe."""
        try:
            while self.conn.poll():
                kind, payload = self.conn.recv()
                if kind == "progress":
                    on_event("progress", self.job_id, payload)
                else:
                    self.result = payload
        except (EOFError, OSError):
            pass

    def poll(self, on_event: OnEvent) -> bool:
        """Handle what the job said; True once it has ended (and was reported)."""
        self.drain(on_event)
        if self.result is None and self.proc.exitcode is None:
            return False
        self.proc.join(timeout=STOP_GRACE if self.result is not None else 0.5)
        self.drain(on_event)
        exitcode = self.close()
        if self.result is not None:
            on_event("done", self.job_id, self.result)
        else:
            on_event("lost", self.job_id, ("failed", _death(exitcode)))
        return True

    def close(self) -> int | None:
        """Kill whatever is left of the job's process group, reap it, close the pipe; return
        the process's exit code."""
        if self.closed:
            return self.exitcode
        _kill_group(self.proc.pid)
        self.proc.join(timeout=STOP_GRACE)
        self.exitcode = self.proc.exitcode
        self.conn.close()
        self.proc.close()
        self.closed = True
        return self.exitcode


def _stop(running: dict[str, _Job], on_event: OnEvent) -> None:
    """Ask every running job to stop (SIGTERM), wait a little, then kill what is left."""
    alive = {job_id: job for job_id, job in running.items() if not job.closed}
    for job in alive.values():
        if job.proc.exitcode is None:
            try:
                os.kill(job.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_GRACE
    for job in alive.values():
        job.proc.join(timeout=max(0.0, deadline - time.monotonic()))
    for job_id, job in alive.items():
        job.drain(lambda *_: None)
        job.close()
        on_event("lost", job_id, ("interrupted", "the batch was stopped"))


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if exitcode == -signal.SIGKILL else ""
        return f"the job's process was killed by {name}{hint}"
    return f"the job's process exited with code {exitcode} before reporting a result"


def _kill_group(pid: int) -> None:
    if hasattr(os, "killpg"):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _context() -> Any:
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["m0core.batch._preload"])
        return ctx
    return mp.get_context("spawn")  # pragma: no cover - Windows


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _child(fn: JobFn, spec: dict, conn: Connection) -> None:
    """The body of a job's process: run ``fn``, send progress and the result over ``conn``."""
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the batch decides; it sends SIGTERM
    signal.signal(signal.SIGTERM, _interrupt)
    last = 0.0

    def report(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= 0.25 or fraction >= 1.0:
            last = now
            try:
                conn.send(("progress", fraction))
            except OSError:
                pass

    result = fn(spec, report)
    try:
        conn.send(("done", result))
    except OSError:
        pass
    conn.close()


def _die_with_parent() -> None:
    """On Linux, get SIGTERM when the parent dies, so no job outlives a killed batch."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        pass


class DaskExecutor:
    """Jobs as tasks on a Dask distributed cluster.

    With ``scheduler`` (``tcp://host:8786``) it connects to a running cluster; without, it
    starts a :class:`distributed.LocalCluster` of ``workers`` single-threaded worker processes
    on 127.0.0.1 (no dashboard) and closes it afterwards. At most as many jobs as the cluster
    has threads are submitted at once, so ``started`` means a job has a worker.
    """

    def __init__(self, workers: int, scheduler: str | None = None) -> None:
        whole("workers", workers, low=1)
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise OptionError(
                "--executor dask needs dask.distributed: pip install 'm0-clipper[dask]'"
            ) from None
        self.workers = workers
        self.scheduler = scheduler
        self.slots_per_machine = workers

    def map(self, fn: JobFn, specs: list[dict], on_event: OnEvent,
            stop: threading.Event | None = None) -> None:
        """Run ``fn(spec)`` on the cluster for every spec; see the module docstring."""
        from distributed import as_completed

        if stop is not None:
            raise OptionError("a batch on Dask is stopped with Ctrl-C, not a stop event")

        client, cluster = self._connect()
        futures: dict[Any, str] = {}
        try:
            slots = max(1, sum(w["nthreads"] for w in
                               client.scheduler_info()["workers"].values()))
            self.slots_per_machine = _threads_per_host(client)
            queue = deque(specs)
            pending = as_completed()

            def submit() -> None:
                spec = queue.popleft()
                spec = dict(spec, slots=self.slots_per_machine)
                key = f"m0-{spec['key']}-{uuid.uuid4().hex[:8]}"  # unique on a shared cluster
                future = client.submit(fn, spec, None, key=key, pure=False)
                futures[future] = spec["job_id"]
                pending.add(future)
                on_event("started", spec["job_id"], None)

            while queue and len(futures) < slots:
                submit()
            for future in pending:
                job_id = futures.pop(future)
                try:
                    on_event("done", job_id, future.result())
                except Exception as exc:  # a worker died, the task was lost, …
                    on_event("lost", job_id, ("failed", f"dask: {type(exc).__name__}: {exc}"))
                if queue:
                    submit()
        except BaseException:
            client.cancel(list(futures), force=True)
            for job_id in futures.values():
                on_event("lost", job_id, ("interrupted", "the batch was stopped"))
            raise
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def _connect(self):
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                return Client(self.scheduler, timeout=30), None
            except (OSError, TimeoutError) as exc:
                raise M0Error(f"cannot reach the Dask scheduler at {self.scheduler} ({exc})") \
                    from None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        try:
            return Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise


def _threads_per_host(client: Any) -> int:
    """The most job slots (worker threads) one machine of the cluster has."""
    per_host: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = info.get("host") or address.rsplit(":", 1)[0]
        per_host[host] = per_host.get(host, 0) + info["nthreads"]
    return max(per_host.values(), default=1)
