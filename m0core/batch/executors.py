"""Where batch jobs run: one local process per job, or a Dask distributed cluster.

Both executors take a job function ``fn(spec, report)``, importable by its module and name,
and a list of job specs (plain dicts with a ``job_id``) and tell the caller what happens
through ``on_event(kind, job_id, payload)``:

- ``"started"``: the job began (payload ``None``);
- ``"progress"``: a fraction 0…1 of the job's analysis (local processes only);
- ``"done"``: the job function returned; payload its result;
- ``"lost"``: the job ended without a result; payload ``(status, reason, retry)`` with status
  ``failed`` (its process died, e.g. out of memory; a Dask cluster could not run it; it ran
  over the executor's ``job_timeout`` and was stopped: :func:`timed_out`) or
  ``interrupted`` (the batch was stopped), and ``retry`` true when it failed for the machine
  (a cluster that could not run it: m0 missing on a worker, a task cancelled there), which
  the next batch runs again;
- ``"warning"``: something the user should hear of that is no job's, ``job_id`` ``None`` and
  payload a line (a Dask cluster whose workers are all gone: the batch waits for one).

A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM turned into one by the CLI) stops the running jobs,
reports them ``lost`` as interrupted (on Dask, ``done`` with the ``interrupted`` result of a
job that stopped itself in time) and is re-raised. The process executor also takes a
``stop`` event (a :class:`threading.Event`): once it is set, it stops the same way (within a
second) and raises ``KeyboardInterrupt`` — how a batch run in a thread (``m0 gui``) is cancelled.

A job that runs longer than the executor's ``job_timeout`` (seconds; ``None``: no limit) is
stopped as Ctrl-C stops it, alone, and reported ``failed`` with :func:`timed_out`'s reason
(``done``, or ``lost`` if it did not stop in time); the batch goes on with the others.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from m0core import plugins, workers
from m0core.checks import number, whole
from m0core.errors import M0Error, OptionError
from m0core.outputs import remove_stale_temps, temp_prefix
from m0core.stops import held_signals, ignore
from m0core.workers import stop_process

if TYPE_CHECKING:
    from m0core.batch.forkserver import ForkServer

JobFn = Callable[..., dict]
OnEvent = Callable[[str, str | None, Any], None]
EXECUTORS = ("process", "dask")

#: Seconds a stopped job gets to clean up (kill its ffmpeg, remove its clips) before SIGKILL.
STOP_GRACE = 10.0


def default_workers() -> int:
    """Jobs at once by default: one per core."""
    return os.cpu_count() or 1


#: The error of a job whose process was killed because the process it was forked from
#: (:mod:`m0core.batch.forkserver`) had died.
ORPHANED = "the job's process was stopped: m0's fork server, which it was forked from, died"
#: How the error of a job stopped for its time begins (:func:`timed_out`).
TIMED_OUT = "timed out after"


def timed_out(seconds: float) -> str:
    """The error of a job stopped after ``seconds`` (the executor's ``job_timeout``)."""
    return f"{TIMED_OUT} {seconds:g} s"


def make_executor(name: str, workers: int, scheduler: str | None = None,
                  job_timeout: float | None = None):
    """The executor called ``name`` (``process`` or ``dask``) running ``workers`` jobs at once,
    each for ``job_timeout`` seconds at most (``None``: no limit); ``scheduler``, a Dask
    scheduler's address, is given or ``None`` (an empty one, an unset variable, is an error:
    not a local cluster instead of the one meant)."""
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        said = ("is empty (an unset variable?)" if isinstance(scheduler, str)
                else f"must be an address, not {scheduler!r}")
        raise OptionError(f"--scheduler {said}: give one such as tcp://host:8786, or leave "
                          "it out for a local cluster")
    if name == "process":
        if scheduler:
            raise OptionError("--scheduler needs --executor dask")
        return ProcessExecutor(workers, job_timeout)
    if name == "dask":
        return DaskExecutor(workers, scheduler, job_timeout)
    raise OptionError(f"executor must be one of {', '.join(EXECUTORS)}, not {name!r}")


class ProcessExecutor:
    """Each job in a process of its own, ``workers`` at a time.

    A job's process is ``python -m m0core.batch.worker`` (:mod:`m0core.batch.worker`): m0's
    own module, so the caller's ``__main__`` is never imported and any script works, with or
    without a main guard. With more than one job (on Linux), each job's process is forked
    instead from one process that has imported m0 once (:mod:`m0core.batch.forkserver`), so a
    short job does not spend most of its time importing; it is the same process otherwise. It
    leads its own process group (its ffmpeg processes are in it too), so a job that crashes or
    runs out of memory fails alone, and whatever it left running is killed with its group. It
    also dies with the batch (on Linux the kernel signals it; anywhere its stdin ends), taking
    its group with it, so killing ``m0 batch`` with SIGKILL leaves nothing behind. A job over
    ``job_timeout`` seconds is stopped alone, as Ctrl-C stops it (SIGTERM, its group killed
    :data:`STOP_GRACE` seconds later if still there).
    """

    def __init__(self, workers: int, job_timeout: float | None = None) -> None:
        whole("workers", workers, low=1)
        self.workers = workers
        self.job_timeout = _limit(job_timeout)

    def map(self, fn: JobFn, specs: list[dict], on_event: OnEvent,
            stop: threading.Event | None = None) -> None:
        """Run ``fn(spec, report)`` for every spec; see the module docstring for events and
        ``stop`` (any object with ``is_set()``: on a Dask worker, its batch's stop event).
        ``fn`` must be importable by its module and name (not from ``__main__``)."""
        target = f"{fn.__module__}:{fn.__qualname__}"
        if fn.__module__ == "__main__" or "<" in fn.__qualname__:
            raise M0Error(f"a job function must be importable, not {target}")
        events: queue.Queue = queue.Queue()
        # jobs at once, no more than there are to run: fewer share the cores the rest leave
        slots = _at_once(self.workers, specs)
        # a spec that has its slots (a Dask job run in a process of its own) keeps them
        pending = deque(dict(spec, slots=spec.get("slots") or slots) for spec in specs)
        running: dict[str, _Job] = {}
        server: ForkServer | None = None
        try:
            # imported here: ``python -m`` of it imports this package first
            from m0core.batch import forkserver

            if len(specs) > 1 and forkserver.available():  # m0 imported once, not each job
                with held_signals():
                    server = forkserver.ForkServer(fn.__module__, plugins.blocked())
                server.ready()  # or each job starts afresh
            while pending or running:
                if stop is not None and stop.is_set():  # before a job starts: none that waits
                    raise KeyboardInterrupt
                while pending and len(running) < self.workers:
                    spec = pending.popleft()
                    # a Ctrl-C as its process starts comes once the job is in ``running``,
                    # so the stop below stops it too
                    with held_signals():
                        running[spec["job_id"]] = _Job.start(target, spec, events,
                                                             self.job_timeout, server)
                    on_event("started", spec["job_id"], None)
                try:
                    job_id, message = events.get(timeout=1.0)
                except queue.Empty:
                    pass
                else:
                    job = running[job_id]
                    if message is None:  # the job's process closed its stdout: it ended
                        job.end(on_event)
                        del running[job_id]
                    elif "progress" in message:
                        on_event("progress", job_id, message["progress"])
                    else:
                        job.result = message["result"]
                for job in running.values():
                    job.watch_time()
        except BaseException:
            _stop(running, on_event)
            raise
        finally:
            if server is not None:
                server.close()


class _Job:
    """One job's process and the thread that reads its messages into the executor's queue."""

    def __init__(self, job_id: str, proc: subprocess.Popen, reader: threading.Thread,
                 limit: float | None = None) -> None:
        self.job_id = job_id
        self.proc = proc
        self.reader = reader
        self.result: dict | None = None
        self.closed = False
        self.limit = limit  # seconds the job may run (None: no limit)
        self.began = time.monotonic()
        self.stopped_at: float | None = None  # when it was stopped for its time

    @classmethod
    def start(cls, target: str, spec: dict, events: queue.Queue,
              limit: float | None = None, server: ForkServer | None = None
              ) -> _Job:
        """Start the job of ``spec``: its process forked by ``server`` if it can, else one
        started afresh."""
        proc = server.fork() if server is not None else None
        if proc is None:
            proc = subprocess.Popen(workers.command("m0core.batch.worker"),
                                    env=workers.environment(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, start_new_session=os.name == "posix")
        job_id = spec["job_id"]
        try:
            proc.stdin.write(json.dumps({"fn": target, "spec": spec}).encode() + b"\n")
            proc.stdin.flush()
        except OSError:  # it died at once; its end of stdout says so
            pass

        def read() -> None:
            try:
                for line in proc.stdout:
                    events.put((job_id, json.loads(line)))
            except (OSError, ValueError):
                pass
            events.put((job_id, None))

        reader = threading.Thread(target=read, name=f"m0-job-{job_id}", daemon=True)
        reader.start()
        return cls(job_id, proc, reader, limit)

    def watch_time(self) -> None:
        """Stop the job once it has run its time, as Ctrl-C stops it (:meth:`terminate`);
        kill its group if it has not ended :data:`STOP_GRACE` seconds later (its end of
        stdout then reports it)."""
        if self.limit is None or self.closed:
            return
        now = time.monotonic()
        if self.stopped_at is None and now - self.began >= self.limit:
            self.stopped_at = now
            self.terminate()
        elif self.stopped_at is not None and now - self.stopped_at >= STOP_GRACE:
            self.close()

    def terminate(self) -> None:
        """Ask the job's process to stop (SIGTERM: it stops its job, removes what it wrote
        and reports it ``interrupted``)."""
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
            except ProcessLookupError:  # pragma: no cover - raced with its exit
                pass

    def end(self, on_event: OnEvent) -> None:
        """The job's process has closed its stdout: reap it and report how it ended."""
        try:
            self.proc.wait(timeout=STOP_GRACE if self.result is not None else 0.5)
        except subprocess.TimeoutExpired:
            pass
        exitcode = self.close()
        over = self.stopped_at is not None and (self.result is None or
                                                self.result.get("status") == "interrupted")
        if over:  # stopped for its time: a failure, whatever the process made of the stop
            if self.result is None:
                on_event("lost", self.job_id, ("failed", timed_out(self.limit), True))
                return
            self.result.update(status="failed", error=timed_out(self.limit), retry=True)
        if self.result is not None:
            if self.result.get("status") == "interrupted":  # the batch goes on: not its doing
                self.result["error"] = "the job's process was sent SIGTERM, not by the batch"
            on_event("done", self.job_id, self.result)
        else:
            reason = (ORPHANED if getattr(self.proc, "orphaned", False)
                      else _death(exitcode))
            on_event("lost", self.job_id, ("failed", reason, False))

    def close(self) -> int | None:
        """Kill whatever is left of the job's process group, reap it, close its pipes; return
        the process's exit code."""
        if not self.closed:
            workers.kill_group(self.proc.pid)
            if self.proc.poll() is None:  # no process groups here (Windows)
                self.proc.kill()
            self.proc.wait()
            self.reader.join(timeout=STOP_GRACE)  # it reads to the end of the pipe
            stop_process(self.proc)  # closes the pipes
            self.closed = True
        return self.proc.returncode


def _stop(running: dict[str, _Job], on_event: OnEvent) -> None:
    """Ask every running job to stop (SIGTERM), wait a little, then kill what is left."""
    alive = {job_id: job for job_id, job in running.items() if not job.closed}
    for job in alive.values():
        job.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for job in alive.values():
        try:
            job.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for job_id, job in alive.items():
        job.close()
        on_event("lost", job_id, ("interrupted", "the batch was stopped", False))


def _limit(job_timeout: float | None) -> float | None:
    """``job_timeout`` checked: ``None`` (no limit) or seconds over 0."""
    return None if job_timeout is None else number("job_timeout", job_timeout, above=0)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"the job's process was killed by {workers.killed_by(-exitcode)}"
    return f"the job's process exited with code {exitcode} before reporting a result"


class DaskExecutor:
    """Jobs as tasks on a Dask distributed cluster.

    With ``scheduler`` (``tcp://host:8786``) it connects to a running cluster; without, it
    starts a :class:`distributed.LocalCluster` of ``workers`` single-threaded worker processes
    on 127.0.0.1 (no dashboard) and closes it afterwards. At most as many jobs as the cluster
    has threads are submitted at once, so ``started`` means a job has a worker.

    Dask cannot stop a task that runs: on ``KeyboardInterrupt`` the batch sets a
    :class:`distributed.Event` its jobs look at as they advance (:class:`_RemoteStop`), waits
    up to :data:`STOP_GRACE` seconds for them to stop and remove what they wrote, and cancels
    what is left. With ``job_timeout`` each job runs in a process of its own on its worker
    (:func:`_stoppable`), which is stopped once over its time.
    """

    def __init__(self, workers: int, scheduler: str | None = None,
                 job_timeout: float | None = None) -> None:
        whole("workers", workers, low=1)
        self.job_timeout = _limit(job_timeout)
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise OptionError(
                "--executor dask needs dask.distributed: pip install 'm0-clipper[dask]'"
            ) from None
        self.workers = workers
        self.scheduler = scheduler

    def map(self, fn: JobFn, specs: list[dict], on_event: OnEvent,
            stop: threading.Event | None = None) -> None:
        """Run ``fn(spec)`` on the cluster for every spec; see the module docstring."""
        from distributed import Event, KilledWorker, as_completed

        if stop is not None:
            raise OptionError("a batch on Dask is stopped with Ctrl-C, not a stop event")

        client, cluster, scratch = self._connect(_at_once(self.workers, specs))
        watching = threading.Event()  # set: the batch has ended
        futures: dict[Any, str] = {}
        halt = Event(f"m0-stop-{uuid.uuid4().hex}", client=client)  # no call to the scheduler
        # a client that lost its scheduler logs tracebacks as it retries; m0 says it in a line
        client_log = logging.getLogger("distributed.client")
        level = client_log.level
        client_log.setLevel(logging.CRITICAL)
        try:
            slots = max(1, sum(w["nthreads"] for w in
                               client.scheduler_info()["workers"].values()))
            # a job's share of its machine: at most as many jobs on it as there are to run
            per_host = _at_once(_threads_per_host(client), specs)
            queue = deque(specs)
            pending = as_completed()

            def submit() -> None:
                spec = queue.popleft()
                spec = dict(spec, slots=per_host)
                key = f"m0-{spec['key']}-{uuid.uuid4().hex[:8]}"  # unique on a shared cluster
                future = client.submit(_stoppable, fn, spec, halt.name, self.job_timeout,
                                       key=key, pure=False)
                futures[future] = spec["job_id"]
                pending.add(future)
                on_event("started", spec["job_id"], None)

            while queue and len(futures) < slots:
                submit()
            if self.scheduler:  # a local cluster's workers go with the batch
                watcher = threading.Thread(target=_say_when_no_workers, daemon=True,
                                           args=(client, self.scheduler, on_event, watching),
                                           name="m0-dask-workers")
                watcher.start()
            for future in pending:
                job_id = futures.pop(future)
                try:
                    result = future.result()
                except _Lost as exc:  # its process on the worker died or ran over its time
                    on_event("lost", job_id, exc.args)
                except Exception as exc:  # a worker died, the task was lost, …
                    if _scheduler_lost(client, exc):  # not the job's fault: it is interrupted
                        futures[future] = job_id
                        where = self.scheduler or "the local cluster"
                        raise M0Error(f"lost the Dask scheduler at {where}; run the same "
                                      "command again once it is back") from None
                    reason = " ".join(str(exc).split())  # Dask's own may take lines
                    # the job function returns whatever befalls its job: this is the
                    # cluster's (m0 missing on a worker, a task cancelled there), but a job
                    # that killed its workers (out of memory?) fails as its process would
                    on_event("lost", job_id, ("failed", f"dask: {type(exc).__name__}: {reason}",
                                              not isinstance(exc, KilledWorker)))
                else:
                    on_event("done", job_id, result)
                if queue:
                    submit()
        except BaseException:
            _stop_tasks(client, halt, futures, on_event)
            raise
        finally:
            watching.set()
            client.close()
            client_log.setLevel(level)
            if scratch is not None:  # the local cluster the batch started
                _close(cluster, scratch)

    def _connect(self, workers: int) -> tuple[Any, Any, str | None]:
        """A client of the scheduler, or of a local cluster of ``workers`` workers, with that
        cluster and the folder it keeps its files in (:func:`_close` ends both; ``None`` and
        ``None`` for a running scheduler's)."""
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                _answers(self.scheduler)
                return Client(self.scheduler, timeout=CONNECT_TIMEOUT), None, None
            except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a bad address
                raise M0Error(f"cannot reach the Dask scheduler at {self.scheduler} ({exc})") \
                    from None
        # silence_logs: Dask's own warnings and errors (a cancelled task, a worker killed at
        # Ctrl-C, a task whose workers died) are not the user's business; m0 reports how each
        # job ended
        # its scheduler, nannies and workers keep their files (Dask's dask-scratch-space,
        # whose lock files outlive the cluster) in a folder of the batch's, removed with it;
        # one a batch killed outright (SIGKILL) left goes once its process has ended
        remove_stale_temps(tempfile.gettempdir(), own=False)
        scratch, cluster = tempfile.mkdtemp(prefix=temp_prefix(), suffix="-dask"), None
        try:
            with _deaf_to_ctrl_c(), dask.config.set({"temporary-directory": scratch}):
                # its HTTP server (no dashboard) on a free port, not Dask's 8787: another
                # batch's local cluster or a dashboard may have that, and Dask warned of it
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.CRITICAL)
            return Client(cluster), cluster, scratch
        except BaseException:
            _close(cluster, scratch)
            raise


def _close(cluster: Any, scratch: str) -> None:
    """Close the local ``cluster`` (if any) and remove the folder it kept its files in."""
    if cluster is not None:
        cluster.close()
    shutil.rmtree(scratch, ignore_errors=True)


#: Seconds a batch waits for the Dask scheduler it is given to answer.
CONNECT_TIMEOUT = 30.0
#: Seconds a batch on a Dask cluster with no worker waits before it says so.
NO_WORKERS_WARNING = 30.0


def _say_when_no_workers(client: Any, address: str, on_event: OnEvent,
                         ended: threading.Event) -> None:
    """Say once, as a ``warning`` event, that the cluster at ``address`` has had no worker for
    :data:`NO_WORKERS_WARNING` seconds (every worker gone: Dask waits for one to come, the
    batch with it, which looked hung); again if they all go again. Looks until ``ended``."""
    alone_since: float | None = None
    while not ended.wait(min(2.0, NO_WORKERS_WARNING / 4)):
        try:
            workers = len(client.nthreads())
        except Exception:  # the scheduler lost: the batch says so
            return
        if workers:
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif alone_since != -1 and time.monotonic() - alone_since >= NO_WORKERS_WARNING:
            on_event("warning", None, f"the Dask cluster at {address} has no workers; "
                                      "waiting for one (Ctrl-C stops)")
            alone_since = -1  # said


def _answers(address: str) -> None:
    """Raise :class:`OSError` unless a Dask server at ``address`` answers within
    :data:`CONNECT_TIMEOUT` seconds. Dask's client, given a server that takes the connection
    and never answers (the dashboard's port, 8787, for the scheduler's), waits for ever. In a
    daemon thread of its own: the caller's may run an event loop (a notebook), and Ctrl-C
    stops the wait at once, not once the look ends."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def handshake() -> None:  # as the client will connect (TLS set in Dask's config)
        comm = await connect(address, timeout=CONNECT_TIMEOUT,
                             **Security().get_connection_args("client"))
        await comm.close()

    async def within() -> None:
        try:  # a second more: a scheduler that is not there times out in connect
            await asyncio.wait_for(handshake(), CONNECT_TIMEOUT + 1)
        except TimeoutError:
            raise OSError("it took the connection but gave no answer: the dashboard's "
                          "port?") from None

    failed: list[BaseException] = []

    def look() -> None:
        try:
            asyncio.run(within())
        except BaseException as exc:  # said in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=look, name="m0-dask-connect", daemon=True)
    thread.start()
    while thread.is_alive():  # in steps: a stop the kernel gave another thread (the look's
        thread.join(0.1)  # own) does not wake an endless join, and waited for the look's end
    if failed:
        raise failed[0]


@contextlib.contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """Ignore SIGINT while the local cluster starts its worker processes, which keep that
    (Python leaves an ignored SIGINT ignored): a terminal's Ctrl-C reaches every process of
    the batch's group, and workers it killed could not stop their jobs and say so — the batch
    waited :data:`STOP_GRACE` seconds for them. The batch stops them (its stop event), as it
    does its own job processes. Only in the main thread (the only one that may set it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    ignore((signal.SIGINT,))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


#: Seconds between two looks of a job on a Dask worker at its batch's stop event (each asks
#: the scheduler).
STOP_POLL = 1.0


class _RemoteStop:
    """A job's view on a Dask worker of whether its batch wants it to stop: the ``stop`` that
    :func:`~m0core.batch.runner.run_job` looks at as the job advances. Set once the batch's
    stop event (a :class:`distributed.Event` called ``name``, asked at most every
    :data:`STOP_POLL` seconds) is, or once the job's own task is no longer wanted (the batch
    died: the scheduler released the tasks of its client)."""

    def __init__(self, name: str) -> None:
        from distributed import get_worker
        from distributed.worker import thread_state

        self.name = name
        self.worker = get_worker()
        self.key = thread_state.key
        self.asked = float("-inf")
        self.stopped = False

    def is_set(self) -> bool:
        """Whether the batch was stopped (as far as the last look knows)."""
        task = self.worker.state.tasks.get(self.key)
        if task is None or task.state == "cancelled":
            self.stopped = True
        if not self.stopped and time.monotonic() - self.asked >= STOP_POLL:
            from distributed import Event

            self.asked = time.monotonic()
            try:
                self.stopped = Event(self.name).is_set()
            except Exception:  # the scheduler is gone: so is the batch's wish to stop it
                pass
        return self.stopped


def _stoppable(fn: JobFn, spec: dict, stop_name: str, limit: float | None = None) -> dict:
    """A job on a Dask worker: ``fn(spec, None, stop)``, ``stop`` the batch's stop event.

    With a time ``limit`` the job runs in a process of its own, as the process executor runs
    it, which is stopped (its ffmpeg killed, what it wrote removed) once over its time: a
    Dask worker cannot stop a thread that hangs. A job whose process ended without a result
    raises :class:`_Lost`, one the batch stopped too."""
    stop = _RemoteStop(stop_name)
    if limit is None:
        return fn(spec, None, stop)
    ended: dict[str, Any] = {}

    def on_event(kind: str, job_id: str | None, payload: Any) -> None:
        if kind in ("done", "lost"):
            ended[kind] = payload

    try:
        ProcessExecutor(1, limit).map(fn, [spec], on_event, stop=stop)
    except KeyboardInterrupt:  # not into the Dask worker: it would end its thread
        pass
    if "done" in ended:
        return ended["done"]
    raise _Lost(*ended["lost"])


class _Lost(Exception):
    """A job whose process on a Dask worker ended without a result; ``args``: a ``lost``
    event's ``(status, reason, retry)``."""


def _stop_tasks(client: Any, halt: Any, futures: dict[Any, str], on_event: OnEvent) -> None:
    """Tell the running jobs to stop (``halt``), wait up to :data:`STOP_GRACE` seconds for
    them to say how they ended, cancel the rest; report each (``done`` or ``lost``)."""
    from distributed import wait

    if client.status == "running":  # a client that lost its scheduler would wait on it
        try:
            halt.set()
            wait(list(futures), timeout=STOP_GRACE)
        except Exception:  # timed out, or the scheduler is gone
            pass
    for future, job_id in futures.items():
        result = None
        if future.status == "finished":
            try:
                result = future.result(timeout=1)
            except Exception:
                pass
        if result is not None:
            on_event("done", job_id, result)
        else:
            on_event("lost", job_id, ("interrupted", "the batch was stopped", False))
    if client.status == "running":
        try:
            client.cancel([f for f in futures if f.status != "finished"], force=True)
        except Exception:
            pass


def _scheduler_lost(client: Any, exc: Exception) -> bool:
    """Whether a job's future failed because the client lost its scheduler."""
    return (client.status != "running"
            or getattr(exc, "reason", None) == "scheduler-connection-lost")


def _at_once(most: int, specs: list[dict]) -> int:
    """How many jobs run at once where ``most`` could: no more than there are to run (the
    fewer share what the others would have had), one at least."""
    return max(1, min(most, len(specs)))


def _threads_per_host(client: Any) -> int:
    """The most job slots (worker threads) one machine of the cluster has."""
    per_host: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = info.get("host") or address.rsplit(":", 1)[0]
        per_host[host] = per_host.get(host, 0) + info["nthreads"]
    return max(per_host.values(), default=1)
