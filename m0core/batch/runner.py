"""Many recordings at once: :class:`BatchJob`, :class:`BatchProcessor` and the job function.

Example (the seed's API)::

    from m0core import BatchJob, BatchProcessor

    jobs = [BatchJob("video1.mp4", "output1/"), BatchJob("video2.mp4", "output2/", -8.0)]
    results = BatchProcessor(max_workers=3).process_batch(
        jobs, lambda done, total, job_id, result: print(done, total, result["status"]))

Each job runs :func:`m0core.analyze` in a process of its own (or on a Dask cluster, see
:mod:`m0core.batch.executors`); a ledger (:mod:`m0core.batch.ledger`) records every job so a
batch can be resumed. ``m0 batch`` is the command-line face of the same code.
"""

from __future__ import annotations

import copy
import functools
import glob
import hashlib
import os
import socket
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from m0core import checks, plugins, workers
from m0core.batch.executors import TIMED_OUT, make_executor
from m0core.batch.ledger import LEDGER_FILE, Identity, Ledger, Row, options_hash
from m0core.compat import seed_selector
from m0core.errors import InputError, M0Error, OptionError, OutputError
from m0core.media.ffmpeg import check_name
from m0core.model import ClipResult
from m0core.options import Options
from m0core.outputs import HIGHLIGHTS_FILE, NotAFolder, remove_stale_temps
from m0core.pipeline import Progress, analyze
from m0core.staging import clear_stale, previous_outputs

#: What ``m0 batch DIRECTORY`` picks up inside a folder (patterns take any file they match):
#: the containers of streams, cameras (a camcorder's AVCHD ``.mts``, a broadcast ``.mxf``,
#: a DVD's ``.vob``), phones and audio tools (a DAW's ``.aif``).
MEDIA_EXTENSIONS = frozenset(
    ".mp4 .mkv .mov .m4v .flv .ts .webm .avi .wmv .mpg .mpeg .m4a .mp3 .aac .wav .flac .ogg "
    ".opus .mts .m2ts .mxf .vob .dv .3gp .mka .asf .wma .ogv .oga .ac3 .aif .aiff".split()
)
FOLDER_SUFFIX = "_highlights"

ProgressCallback = Callable[[int, int, str, dict], None]


class BatchJob:
    """One recording of a batch and where its clips go.

    Parameters
    ----------
    video_path, output_path:
        The recording and the folder for its clips, ``highlights.json`` and ``index.json``.
    decibel_threshold:
        The seed's threshold: given, the seed's ``crest`` rule at that level; ``None``, m0's
        default selector, which needs no threshold.
    clip_length:
        Seconds per clip.
    use_streaming:
        ``False`` selects the whole-file ``rms-legacy`` analyzer.
    analyzer, selector:
        Plugin names, instead of what the arguments above imply.
    job_id:
        The job's name in results (default: ``video_path`` as given).
    options:
        A complete :class:`~m0core.Options`, used instead of the arguments above.
    **overrides:
        Any other :class:`~m0core.Options` field, e.g. ``max_clips=10``, ``cut="accurate"``.
    """

    def __init__(self, video_path: str | os.PathLike, output_path: str | os.PathLike,
                 decibel_threshold: float | None = None, clip_length: float = 30.0,
                 use_streaming: bool = True, analyzer: str | None = None,
                 selector: str | None = None, job_id: str | None = None, *,
                 options: Options | None = None, **overrides: Any) -> None:
        self.video_path = checks.path("video_path", video_path)
        self.output_path = checks.path("output_path", output_path, folder=True)
        self.job_id = job_id if job_id is not None else self.video_path
        if options is None:
            streaming = checks.flag("use_streaming", use_streaming)
            options = Options.build(
                analyzer=analyzer or ("rms-streaming" if streaming else "rms-legacy"),
                selector=selector or seed_selector(decibel_threshold),
                threshold=decibel_threshold, clip_length=clip_length, **overrides,
            )
        else:  # an Options, checked: a dict of them is one OptionError here
            options = Options.build(options, **overrides)
        self.options = options

    def __repr__(self) -> str:
        return f"BatchJob({self.video_path!r}, {self.output_path!r}, job_id={self.job_id!r})"


def _checked_jobs(jobs: Iterable[BatchJob]) -> list[BatchJob]:
    """``jobs`` as a list, each a :class:`BatchJob`: one job, a path or a list of paths is one
    :class:`~m0core.OptionError` before anything runs."""
    if isinstance(jobs, BatchJob | str | os.PathLike):
        raise OptionError(f"jobs must be a list of BatchJob, not {type(jobs).__name__}: "
                          f"process_batch([BatchJob(video, output_folder), ...])")
    jobs = list(jobs)
    for job in jobs:
        if not isinstance(job, BatchJob):
            raise OptionError(f"jobs must be BatchJob(video, output_folder) objects, not "
                              f"{type(job).__name__} {job!r}")
    return jobs


def run_job(spec: dict[str, Any], report: Callable[[float], None] | None = None,
            stop: threading.Event | None = None) -> dict:
    """Run one job described by plain data; never raises for a job that fails.

    ``spec`` holds ``job_id``, ``video_path``, ``output_path``, ``options`` (an
    :meth:`Options.to_dict`), ``blocked`` (plugins ``m0 --disable-plugin`` blocked) and
    ``slots`` (jobs running at once on this machine: each job gets
    ``cores // slots`` BLAS threads and, unless its options say otherwise, as many ffmpeg
    processes for its clips (``workers``) and decoding segments (``jobs``; with one core, it
    decodes in its own process)).
    ``report(fraction)`` is told how far the analysis is; once ``stop`` is set, the job stops
    at its next progress (within about a second) and is ``interrupted``. Returns the job's
    result: ``status`` (``completed``, ``failed`` or ``interrupted``), ``highlights``,
    ``clips``, ``failed_clips``,
    ``outputs`` (paths written), ``error``, ``warnings`` (what the run warned of: a recording
    that looks cut short), ``notes`` (those warnings and how the run went, e.g. decoded in one
    pass), ``seconds``, ``started``, ``finished`` and
    ``worker`` (``host:pid`` of the process that ran it); a failed job has ``retry`` when it
    failed for the machine (its output folder: a full disk; a clip or an output that could not
    be made; no memory; an input it sees otherwise than the batch that asked for it, whose
    ``key`` the spec has), which the next batch runs again without ``retry_failed``.
    """
    started = time.time()
    out = Path(spec["output_path"])
    result = _result(spec, "failed", started=started)
    try:
        opts = Options(**spec["options"])
        share = max(1, (os.cpu_count() or 1) // max(1, spec.get("slots", 1)))
        # Clip processes and decoding segments per job: the job's share of the cores (with one
        # core, the job's own process decodes).
        fill = {"workers": share, "jobs": workers.decoders(None, share)}
        opts = Options.build(opts, **{k: v for k, v in fill.items() if getattr(opts, k) is None})
        for name in spec.get("blocked", ()):
            plugins.block(name)
        _check_stages_here(opts)
        clean_partials(out)
        # numpy's BLAS threads would spin on every core in every job: give each its share.
        with threadpool_limits(limits=share):
            analysis = analyze(spec["video_path"], out, opts,
                               progress=_Reporter(report, stop))
    except M0Error as exc:
        # the output folder (a full disk, no room to create it) is the machine's, and so is
        # an input seen here otherwise than by the batch (a Dask worker without its share);
        # an input, an option, a plugin or a file where the job's folder goes would fail the
        # same way again
        result.update(error=str(exc), retry=isinstance(exc, OutputError | _NotHere)
                      and not isinstance(exc, NotAFolder) or _not_as_asked(spec))
    except KeyboardInterrupt:
        result.update(status="interrupted", error="the batch was stopped")
    except MemoryError:
        result.update(error="out of memory", retry=True)
    except Exception as exc:  # a plugin's bug fails its job, not the batch
        result["error"] = f"unexpected {type(exc).__name__}: {exc}"
    else:
        made = [c.path for c in analysis.clips if c.ok and c.path]
        failed = analysis.failed_clips
        result.update(status="completed", highlights=len(analysis.highlights),
                      clips=None if result["clips"] is None else len(made),
                      failed_clips=len(failed), outputs=made + list(analysis.outputs),
                      warnings=list(analysis.warnings),
                      notes=[*analysis.warnings, *analysis.notes])
        problems = analysis.problems(first_error=True)
        if problems:  # a clip or an output that could not be made: a disk, a killed ffmpeg
            result.update(status="failed", error="; ".join(problems), retry=True)
    if result["status"] != "completed":
        clean_partials(out, remove_empty=True)
    result.update(finished=time.time(), seconds=round(time.time() - started, 3))
    return result


class _NotHere(M0Error):
    """A stage the batch's machine has and a job's has not (a Dask worker without a plugin)."""


def _check_stages_here(options: Options) -> None:
    """Raise :class:`_NotHere` when a stage of ``options`` is unknown to this process: the
    batch looked them all up before any job ran (:func:`m0core.plugins.named`), so a Dask
    worker that lacks a plugin (or has another version of it) said 'unknown analyzer' of a
    name the submitting machine lists."""
    try:
        plugins.named(options)
    except OptionError as exc:
        raise _NotHere(f"on {socket.gethostname()}: {exc}; install the same plugins there as "
                       "on the machine that submitted the batch") from None


def _not_as_asked(spec: dict[str, Any]) -> bool:
    """Whether a job's input, as this process sees it, is not the file its batch asked for
    (``spec["key"]``, the ledger's): not there or another one (a Dask worker that lacks the
    recordings' share or has another copy; the file changed since)."""
    key = spec.get("key")
    return key is not None and key != Identity.of(spec["video_path"],
                                                  options_hash(spec["options"]),
                                                  spec.get("keyed_folder")).key


def _result(spec: dict[str, Any], status: str, **values: Any) -> dict[str, Any]:
    """A job's result (see :func:`run_job`) with ``values``; its ``clips`` is ``None`` when
    its options ask for none (``--no-clips``), else the clips made (none yet)."""
    asked = spec["options"].get("clips", True)
    result = {"job_id": spec["job_id"], "status": status, "video_path": spec["video_path"],
              "output_path": spec["output_path"], "highlights": 0, "clips": 0 if asked else None,
              "failed_clips": 0, "outputs": [], "error": None, "retry": False, "warnings": [],
              "notes": [],
              "seconds": 0.0,
              "started": None, "finished": None, "attempts": 0, "previous": False,
              "worker": f"{socket.gethostname()}:{os.getpid()}"}
    result.update(values)
    return result


#: The share of a job's progress that its analysis stands for; the clips still being cut
#: when it ends stand for the rest but :data:`WRITING_SHARE`.
ANALYSIS_SHARE = 0.7
#: The share of a job's progress that writing its outputs (the report's thumbnails, the
#: ``--format`` files) stands for, at its end.
WRITING_SHARE = 0.05
_WRITING = 1.0 - WRITING_SHARE  # where the writing starts


class _Reporter(Progress):
    """A job's progress as one fraction that only grows: the analysis up to
    :data:`ANALYSIS_SHARE`, then the clips still being cut (so a job cutting clips after a
    cached analysis is not at 100 % all the while), then its outputs being written (the last
    :data:`WRITING_SHARE`; a job that writes none ends short of it). Every call stops the
    job once ``stop`` is set, the writing of a long report's thumbnails too."""

    def __init__(self, report: Callable[[float], None] | None,
                 stop: threading.Event | None = None) -> None:
        self.report = report
        self.stop = stop  # set: the next call stops the job (KeyboardInterrupt)
        self.duration = 0.0
        self.analysing = True
        self.reached = 0.0

    def started(self, media) -> None:
        self.duration = media.duration or 0.0
        self._tell(0.0)

    def analysed(self, position: float, highlights: int) -> None:
        self._tell(ANALYSIS_SHARE * min(1.0, position / self.duration) if self.duration
                   else 0.0)

    def analysis_done(self, highlights: int, clips_pending: int) -> None:
        self.analysing = False
        self._tell(ANALYSIS_SHARE if clips_pending else _WRITING)

    def clip_done(self, result: ClipResult, done: int, submitted: int) -> None:
        if not self.analysing and submitted:
            self._tell(ANALYSIS_SHARE + (_WRITING - ANALYSIS_SHARE) * done / submitted)

    def writing(self, done: int, total: int) -> None:
        self._tell(_WRITING + WRITING_SHARE * done / total if total else 1.0)

    def _tell(self, fraction: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt
        if self.report is not None and fraction > self.reached:
            self.reached = fraction
            self.report(fraction)


def clean_partials(folder: str | os.PathLike, remove_empty: bool = False) -> None:
    """Remove what m0 processes which have ended (a killed earlier run, a job that died) or
    this one left in ``folder``: their temporary files (:func:`m0core.outputs.remove_stale_temps`)
    and their runs' private folders (:func:`m0core.staging.clear_stale`), nobody else's; then
    the folder itself with ``remove_empty`` when nothing else is in it."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            return
    except OSError:  # a path the system cannot take (a name too long): nothing of ours there
        return
    remove_stale_temps(folder)
    clear_stale(folder)
    if remove_empty:
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or not ours to remove


class BatchProcessor:
    """Run :class:`BatchJob` s in parallel, ``max_workers`` at a time.

    Parameters
    ----------
    max_workers:
        Jobs at once (each job also cuts its clips in parallel, ``cores // max_workers``
        ffmpeg processes unless its options say ``workers``).
    executor:
        ``"process"`` (one local process per job) or ``"dask"`` (a Dask distributed cluster).
    scheduler:
        With ``executor="dask"``: the address of a running scheduler (``tcp://host:8786``);
        without, a local cluster of ``max_workers`` worker processes is started.
    ledger:
        Path of the SQLite ledger. A job whose input and options are recorded ``completed``
        there is skipped; ``None`` keeps the ledger in memory (nothing is skipped).
    retry_failed:
        Run jobs the ledger records as failed again (otherwise they are reported failed
        without running, but for those that failed for the machine: a full disk, a killed
        ffmpeg, a clip that could not be cut — which run again).
    job_timeout:
        Seconds a job may run (``None``: no limit; on Dask each job then runs in a process of
        its own on its worker, which can be stopped). A job over its time
        is stopped as Ctrl-C stops it (its ffmpeg killed, what it wrote removed) and fails,
        ``timed out after N s``, and the batch goes on. The next batch runs it again once (a
        network share that stalled, a machine that was swapping); a job that timed out on its
        previous run too failed for its file, and runs again with ``retry_failed`` only.
    """

    def __init__(self, max_workers: int = 3, executor: str = "process", *,
                 scheduler: str | None = None, ledger: str | os.PathLike | None = None,
                 retry_failed: bool = False, job_timeout: float | None = None) -> None:
        self.max_workers = max_workers
        self.executor = make_executor(executor, max_workers, scheduler, job_timeout)
        self.ledger = None if ledger is None else checks.path("ledger", ledger)
        self.retry_failed = checks.flag("retry_failed", retry_failed)
        self.jobs: list[BatchJob] = []

    def add_job(self, job: BatchJob | None = None, /, **kwargs: Any) -> BatchJob:
        """Queue ``job`` (or ``BatchJob(**kwargs)``) for :meth:`process_batch`."""
        job = job if job is not None else BatchJob(**kwargs)
        self.jobs.append(job)
        return job

    def process_batch(self, jobs: Iterable[BatchJob] | None = None,
                      progress_callback: ProgressCallback | None = None, *,
                      job_progress: Callable[[str, float], None] | None = None,
                      on_warning: Callable[[str], None] | None = None,
                      stop: threading.Event | None = None) -> dict[str, dict]:
        """Run ``jobs`` (default: those added with :meth:`add_job`); return
        ``{job_id: result}`` in job order (see :func:`run_job` for a result's fields, plus
        ``attempts``; skipped jobs have status ``skipped``).

        ``progress_callback(completed, total, job_id, result)`` is called as each job ends;
        ``job_progress(job_id, fraction)`` as running jobs advance (0.0 when one starts);
        ``on_warning(line)`` with what the batch waits for that is no job's (a Dask cluster
        that has had no worker for :data:`~m0core.batch.executors.NO_WORKERS_WARNING` s).
        A ``KeyboardInterrupt`` stops the running jobs, records them interrupted and is
        re-raised; so does setting ``stop`` (process executor only; how ``m0 gui`` cancels a
        batch it runs in a thread).
        """
        jobs = _checked_jobs(self.jobs if jobs is None else jobs)
        for name, callback in (("progress_callback", progress_callback),
                               ("job_progress", job_progress), ("on_warning", on_warning)):
            if callback is not None and not callable(callback):
                raise OptionError(f"{name} must be a function, not {callback!r}")
        counts = Counter(job.job_id for job in jobs)
        doubles = sorted(job_id for job_id, n in counts.items() if n > 1)
        if doubles:
            raise OptionError(f"job ids must be unique; repeated: {', '.join(doubles)} (a "
                              "job's id is its video_path unless BatchJob(..., job_id=...) "
                              "names it)")
        jobs = _own_folders(jobs)
        # an unknown name, or a -P parameter its stage does not take, fails before any job
        # runs; a name in another case is recorded (and the ledger keys its job) as registered
        named = {id(job.options): job.options for job in jobs}
        named = {key: plugins.named(options) for key, options in named.items()}
        results: dict[str, dict] = {}
        keys: dict[str, str] = {}
        keyed: dict[str, Identity] = {}  # the file each job keys, as it was when asked
        timed_out_before: set[str] = set()  # jobs whose last run ran over its time
        hashes = {id(job): options_hash(named[id(job.options)].to_dict()) for job in jobs}
        # one recording into several folders with the same options: a job (a row) per folder
        asked = Counter((os.path.abspath(job.video_path), hashes[id(job)]) for job in jobs)

        def ended(job_id: str, result: dict) -> None:
            results[job_id] = result
            if progress_callback is not None:
                progress_callback(len(results), len(jobs), job_id, result)

        with Ledger(self.ledger, lock=self.ledger is not None) as ledger:
            specs = []
            for job in jobs:
                opts = named[id(job.options)].to_dict()
                # absolute: a Dask worker runs in a folder of its own
                spec = {"job_id": job.job_id, "video_path": os.path.abspath(job.video_path),
                        "output_path": os.path.abspath(job.output_path), "options": opts,
                        "blocked": plugins.blocked()}  # the executor gives its slots
                try:  # a name the ledger cannot hold fails its job alone, not the batch
                    check_name(job.video_path)
                    check_name(job.output_path)
                except InputError as exc:
                    ended(job.job_id, _result(spec, "failed", error=str(exc), worker=None))
                    continue
                if asked[spec["video_path"], hashes[id(job)]] > 1:
                    spec["keyed_folder"] = spec["output_path"]
                identity = Identity.of(job.video_path, hashes[id(job)], spec.get("keyed_folder"))
                row = ledger.add(identity, spec["output_path"])
                keys[job.job_id] = spec["key"] = identity.key
                keyed[job.job_id] = identity
                if row.status == "failed" and (row.error or "").startswith(TIMED_OUT):
                    timed_out_before.add(job.job_id)
                if row.status == "completed" and not _outputs_gone(row):
                    ended(job.job_id, _from_row(spec, row, "skipped"))
                elif row.status == "failed" and not (self.retry_failed or row.retry):
                    ended(job.job_id, _from_row(spec, row, "failed", previous=True))
                else:
                    specs.append(spec)
            by_id = {spec["job_id"]: spec for spec in specs}

            def on_event(kind: str, job_id: str | None, payload: Any) -> None:
                if kind == "warning":
                    if on_warning is not None:
                        on_warning(payload)
                    return
                key = keys[job_id]
                if kind == "started":
                    ledger.start(key)
                    if job_progress is not None:
                        job_progress(job_id, 0.0)
                elif kind == "progress":
                    if job_progress is not None:
                        job_progress(job_id, payload)
                else:
                    if kind == "lost":
                        status, reason, retry = payload
                        clean_partials(by_id[job_id]["output_path"], remove_empty=True)
                        # when it started, and how long it ran before it was lost
                        began, now = ledger.get(key).started, time.time()
                        payload = _result(by_id[job_id], status, error=reason, retry=retry,
                                          started=began, finished=now, worker=None,
                                          seconds=round(now - began, 3) if began else 0.0)
                    if payload["status"] == "failed" and (payload["error"] or "").startswith(
                            TIMED_OUT):  # once more; twice over its time: its file's
                        payload["retry"] = job_id not in timed_out_before
                    if payload["status"] == "failed" and _moved_on(keyed[job_id]):
                        payload["retry"] = True  # it ran on no file or another one: not its
                    _check_outputs_here(payload)
                    ledger.finish(key, payload)
                    payload["attempts"] = ledger.get(key).attempts
                    ended(job_id, payload)

            here = [spec for spec in specs if local_stages(spec["options"])]
            for spec in here:
                _run_here(spec, on_event, stop)
            self.executor.map(run_job, [s for s in specs if s not in here], on_event,
                              stop=stop)
        return {job.job_id: results[job.job_id] for job in jobs}


def _outputs_gone(row: Row) -> bool:
    """Whether a completed job's folder is gone or empty (the user deleted or emptied it to
    have the job done again): then the job runs again."""
    try:
        with os.scandir(row.out_dir) as entries:
            return next(entries, None) is None
    except OSError:
        return True


def _check_outputs_here(result: dict[str, Any]) -> None:
    """Fail a completed job whose outputs this process cannot see, for the machine: a Dask
    worker wrote them into the same path on a disk of its own (OUT_DIR not shared with it),
    and OUT_DIR here has nothing of the job."""
    missing = [path for path in result["outputs"] if not os.path.exists(path)]
    if result["status"] == "completed" and missing:
        host = (result["worker"] or "its worker").rsplit(":", 1)[0]
        result.update(status="failed", retry=True,
                      error=f"{missing[0]}: written on {host} but not here; OUT_DIR must be "
                            "at the same path on every machine (a shared folder)")


def _moved_on(identity: Identity) -> bool:
    """Whether the file at ``identity``'s path is another one now (gone since, come, or
    rewritten): a job that failed on it failed on no file its ledger row keys."""
    return Identity.of(identity.path, identity.options_hash, identity.folder).key != identity.key


def _own_folders(jobs: list[BatchJob]) -> list[BatchJob]:
    """``jobs``, each with an output folder of its own: jobs given one folder (the seed's
    ``[BatchJob(video, output_path) for video in videos]``) each get a sub-folder of it named
    for their video, as ``m0 batch`` names them (each run replaces what its folder holds: in
    one folder, every job would remove the clips of the one before). The same recording twice
    into one folder is an :class:`OptionError`."""
    by_folder: dict[str, list[BatchJob]] = {}
    for job in jobs:
        by_folder.setdefault(os.path.realpath(job.output_path), []).append(job)
    moved: dict[int, BatchJob] = {}
    for folder, sharing in by_folder.items():
        if len(sharing) < 2:
            continue
        videos = [Path(os.path.abspath(job.video_path)) for job in sharing]
        if len(set(videos)) < len(videos):
            raise OptionError(f"{folder}: the same recording twice into one output folder; "
                              "give each job a folder of its own")
        places = job_folders(videos, folder)
        for job, video in zip(sharing, videos, strict=True):
            moved[id(job)] = copy.copy(job)
            moved[id(job)].output_path = os.fspath(places[video])
    placed = [moved.get(id(job), job) for job in jobs]
    taken = Counter(os.path.realpath(job.output_path) for job in placed)
    clash = sorted(folder for folder, n in taken.items() if n > 1)
    if clash:  # a sub-folder given was also another job's own folder
        raise OptionError(f"{clash[0]}: the output folder of two jobs; give each job a "
                          "folder of its own")
    return placed


def local_stages(options: dict[str, Any]) -> list[str]:
    """The stages of a job's ``options`` (an :meth:`Options.to_dict`) that only this process
    knows (plugins registered by hand, see :func:`m0core.plugins.in_process`)."""
    opts = Options(**options)
    return [f'{kind[:-1]} "{name}"' for kind, name in opts.stages()
            if plugins.in_process(kind, name)]


def _run_here(spec: dict[str, Any], on_event: Callable[[str, str, Any], None],
              stop: threading.Event | None) -> None:
    """Run a job whose stages only this process knows here, alone (a job process, or a Dask
    worker, builds its stages by name and would not find them); tell ``on_event`` as an
    executor does. An interrupted job stops the batch (``KeyboardInterrupt``)."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt
    job_id = spec["job_id"]
    on_event("started", job_id, None)
    result = run_job(dict(spec, slots=1), lambda fraction: on_event("progress", job_id, fraction),
                     stop)
    result["notes"] = [f"{', '.join(local_stages(spec['options']))} registered in this "
                       "process only: the job ran in the calling process"] + result["notes"]
    on_event("done", job_id, result)
    if result["status"] == "interrupted":
        raise KeyboardInterrupt


def _from_row(spec: dict, row: Row, status: str, **values: Any) -> dict[str, Any]:
    """The result of a job not run this time, from its row; no process ran it (``worker``)."""
    result = _result(spec, status, highlights=row.highlights or 0, outputs=row.outputs,
                     error=row.error, seconds=row.seconds or 0.0, started=row.started,
                     finished=row.finished, attempts=row.attempts, warnings=row.warnings,
                     worker=None, **values)
    if result["clips"] is not None:  # clips asked for: those the row counts
        result["clips"] = row.clips or 0
    return result


# -- the command line's view: inputs and folders --------------------------------------------

def find_inputs(patterns: Iterable[str], exclude: str | os.PathLike | None = None, *,
                on_nothing: Callable[[str], None] | None = None) -> list[Path]:
    """The files named by ``patterns``: globs (``**`` crosses folders; a folder one matches
    is taken as a folder), folders (their media files, recursively, but hidden ones, as a
    glob: a Mac's ``._stream.mp4``, a ``.Trash-1000/``, a running m0's ``.m0-run-*/``) or
    plain paths (kept even if missing, so
    the job reports it). A path that is there is taken as it is, glob characters in its name
    or not (``Stream [1080p].mp4``).

    A folder or glob leaves out the job folders of ``exclude`` (the batch's output folder,
    which may be the recordings' own: its ``<name>_highlights/`` folders) and the files an
    earlier m0 run made (its clips, thumbnails, report and records: listed by the
    ``highlights.json`` beside or above them; a batch's ledger) — a file named on its own is
    kept.
    Raises :class:`InputError` when nothing is found or a pattern is empty (an unset
    variable's ``"$VODS"``, not the current folder); ``on_nothing(pattern)`` is told of each
    glob or folder that found nothing when others did (a typo in a list should not go
    unnoticed).
    """
    patterns = list(patterns)
    if "" in patterns:  # "$VODS" of an unset variable: Path("") is the current folder
        raise InputError("an empty PATTERN ('') names no file")
    skip = Path(exclude).resolve() if exclude is not None else None
    found: dict[Path, None] = {}
    unmatched: list[str] = []
    made = functools.cache(previous_outputs)  # by folder: what the record there lists
    for pattern in patterns:
        path = Path(pattern).expanduser()
        # a file that is there is that file, '[' in its name or not ('Stream [1080p].mp4')
        globbed = glob.has_magic(pattern) and not path.exists()
        if path.is_dir():
            matches = _media_in(path)
        elif globbed:  # each file it matches, and each folder as a folder (as the shell would)
            matches = []
            for match in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)):
                match = Path(match)
                if match.is_dir():
                    matches += _media_in(match)
                elif match.is_file():
                    matches.append(match)
        else:
            matches = [path]
        if path.is_dir() or globbed:
            matches = [m for m in matches
                       if not _made_by_m0(m, made) and not _in_job_folder(m, skip)]
        if not matches:
            unmatched.append(pattern)
        for match in matches:
            found.setdefault(match.resolve(), None)
    if not found:
        raise InputError(f"no input files: {' '.join(patterns) or 'no pattern'} matched nothing")
    for pattern in unmatched if on_nothing is not None else ():
        on_nothing(pattern)
    return list(found)


def _media_in(folder: Path) -> list[Path]:
    """The media files in ``folder`` and its sub-folders (by extension, sorted); hidden files
    and folders left out, as a glob leaves them out."""
    return sorted(p for p in folder.rglob("*")  # the name first: a stat only for a media file
                  if p.suffix.lower() in MEDIA_EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and p.is_file())


def _in_job_folder(path: Path, out_dir: Path | None) -> bool:
    """Whether ``path`` lies in a job folder of a batch into ``out_dir`` (resolved):
    ``OUT_DIR/<name>_highlights/``, what its jobs write (listed or not: a killed job's clip)."""
    if out_dir is None:
        return False
    resolved = path.resolve()
    if not resolved.is_relative_to(out_dir):
        return False
    parts = resolved.relative_to(out_dir).parts
    return len(parts) > 1 and parts[0].endswith(FOLDER_SUFFIX)


def _made_by_m0(path: Path, made: Callable[[Path], set[str]]) -> bool:
    """Whether ``path`` is a file an earlier m0 run wrote: a batch's ledger
    (``m0-batch.sqlite`` and its ``-wal``, ``-shm``, ``.lock``), a run's ``highlights.json``,
    or a file that the ``highlights.json`` of its folder or of a folder above lists (its
    clips, ``index.json``, ``report.html``, ``thumbs/01.jpg``). ``made(folder)`` is
    :func:`m0core.staging.previous_outputs`, cached by the caller."""
    if path.name.startswith(LEDGER_FILE):
        return True
    for folder in path.parents:
        names = made(folder)
        if names and (path.name == HIGHLIGHTS_FILE and folder == path.parent
                      or path.relative_to(folder).as_posix() in names):
            return True
    return False


def read_list(path: str | os.PathLike) -> list[str]:
    """The patterns of a list file (``-``: standard input, ``find … | m0 batch --from-file -``):
    one per line; blank lines and ``#`` comments skipped.

    UTF-8, with or without the byte-order mark Windows Notepad writes; a byte that is not
    UTF-8 (a Latin-1 list) stands for itself, as in a file name (:func:`os.fsdecode`)."""
    try:
        raw = sys.stdin.buffer.read() if os.fspath(path) == "-" else Path(path).read_bytes()
        text = raw.decode("utf-8-sig", "surrogateescape")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the list ({exc.strerror})") from None
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def job_folders(inputs: list[Path], out_dir: str | os.PathLike,
                taken: dict[str, str] | None = None) -> dict[Path, Path]:
    """``{input: folder}``: ``OUT_DIR/<stem>_highlights``, or ``<stem>-<hash>_highlights``
    when stems collide (in any case: :func:`_folded`) or the name would be too long for a
    file name (its stem cut to fit).
    ``taken`` (``{folder: input}`` from the ledger) keeps an input in the folder it had
    before (by name: in OUT_DIR, wherever OUT_DIR is now) and its folder away from other
    inputs."""
    out = Path(out_dir).resolve()
    # a folder is OUT_DIR's wherever OUT_DIR is now (moved, renamed, mounted elsewhere)
    taken = {os.fspath(out / Path(folder).name): path for folder, path in (taken or {}).items()}
    previous = {path: folder for folder, path in taken.items()
                if _fits(Path(folder).name)}  # a name too long was never a folder
    used = {_folded(folder) for folder in taken}
    stems = Counter(_folded(p.stem) for p in inputs)
    folders: dict[Path, Path] = {}
    for path in inputs:
        key = os.fspath(path)
        if key in previous:
            folders[path] = Path(previous[key])
            continue
        folder = out / f"{path.stem}{FOLDER_SUFFIX}"
        if (stems[_folded(path.stem)] > 1 or _folded(os.fspath(folder)) in used
                or not _fits(folder.name)):
            digest = hashlib.sha256(key.encode()).hexdigest()[:6]
            folder = out / _fitted(path.stem, f"-{digest}{FOLDER_SUFFIX}")
        used.add(_folded(os.fspath(folder)))
        folders[path] = folder
    return folders


def _folded(name: str) -> str:
    """``name`` as a filesystem that ignores case compares it (an SMB share, APFS, exFAT,
    NTFS): ``Stream`` and ``stream``, or a ``café`` a Mac wrote (NFD) and one Linux wrote
    (NFC), are one folder there."""
    return unicodedata.normalize("NFC", name).casefold()


#: The longest file name, in bytes, that common filesystems take (ext4, XFS, NTFS, APFS…).
NAME_MAX = 255


def _fits(name: str) -> bool:
    """Whether ``name`` is short enough to be a file name (:data:`NAME_MAX`)."""
    return len(os.fsencode(name)) <= NAME_MAX


def _fitted(stem: str, tail: str) -> str:
    """``stem + tail``, the stem cut (a character at a time) until the name fits: a
    recording named with a long title (250 bytes of Cyrillic) gets a folder, where
    ``<stem>_highlights`` could not be made."""
    while stem and not _fits(stem + tail):
        stem = stem[:-1]
    return stem + tail


def ledger_path(out_dir: str | os.PathLike) -> Path:
    """Where a batch into ``out_dir`` keeps its ledger."""
    return Path(out_dir) / LEDGER_FILE
