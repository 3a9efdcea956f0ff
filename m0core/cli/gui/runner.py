"""One batch at a time in a background thread, through the batch runner and its ledger.

The ledger (``OUT/m0-batch.sqlite``) is the record of what ran: the page lists its rows, so a
reload or a restart of the server loses no finished work. The runner adds what only the running
batch knows: each job's progress and ETA, and a cancel.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from m0core.batch.ledger import Ledger
from m0core.batch.runner import BatchJob, BatchProcessor, job_folders, ledger_path
from m0core.errors import M0Error, beside_name
from m0core.options import Options

ENDED = ("completed", "failed", "skipped", "interrupted")


class Runner:
    """Runs batches into ``out`` and keeps their live state; ``name_of`` is how a job's input
    is named in it (default: its file name)."""

    def __init__(self, out: Path, name_of: Callable[[Path], str] = lambda path: path.name
                 ) -> None:
        self.out = out
        self.name_of = name_of
        self.ledger_file = ledger_path(out)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.state = "idle"  # idle, running, cancelling
        self.message: str | None = None
        self.version = 0

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, inputs: list[Path], options: Options, workers: int) -> None:
        """Start a batch of ``inputs`` with ``options``, ``workers`` jobs at once."""
        with self._lock:
            if self.busy:
                raise M0Error("a batch is running: wait for it to end or cancel it")
            taken: dict[str, str] = {}
            if self.ledger_file.is_file():
                with Ledger(self.ledger_file) as ledger:
                    taken = ledger.folders()
            folders = job_folders(inputs, self.out, taken)
            jobs = [BatchJob(p, folders[p], job_id=str(p), options=options) for p in inputs]
            processor = BatchProcessor(workers, ledger=self.ledger_file, retry_failed=True)
            self.jobs = {job.job_id: {"job_id": job.job_id,
                                      "name": self.name_of(Path(job.video_path)),
                                      "status": "queued", "fraction": 0.0, "began": None,
                                      "error": None, "highlights": 0, "clips": 0,
                                      "warnings": []}
                         for job in jobs}
            self._stop.clear()
            self.state, self.message = "running", None
            self._changed()
            self._thread = threading.Thread(target=self._run, args=(processor, jobs),
                                            name="m0-gui-batch", daemon=True)
            self._thread.start()

    def cancel(self) -> bool:
        """Stop the running batch (its jobs are recorded ``interrupted``); False if idle."""
        with self._lock:
            if not self.busy:
                return False
            self._stop.set()
            self.state = "cancelling"
            self._changed()
            return True

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel and wait for the batch thread (the server is stopping)."""
        self.cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def snapshot(self) -> dict[str, Any]:
        """The live state: ``state``, ``message`` and each job with its fraction and ETA."""
        now = time.monotonic()
        jobs = []
        for job in list(self.jobs.values()):
            view = {k: v for k, v in job.items() if k != "began"}
            fraction, began = job["fraction"], job["began"]
            view["eta"] = (round((now - began) * (1 - fraction) / fraction, 1)
                           if job["status"] == "running" and began and fraction > 0.02 else None)
            jobs.append(view)
        return {"state": self.state, "message": self.message, "version": self.version,
                "jobs": jobs}

    def running_paths(self) -> dict[str, str]:
        """The inputs of the batch running now, by absolute path, with their status in it
        (``queued``, ``running``, or how they ended)."""
        if not self.busy:
            return {}
        return {os.path.abspath(job_id): job["status"] for job_id, job in self.jobs.items()}

    def _run(self, processor: BatchProcessor, jobs: list[BatchJob]) -> None:
        try:
            processor.process_batch(jobs, self._ended, job_progress=self._progress,
                                    stop=self._stop)
        except KeyboardInterrupt:
            self.message = "Cancelled: the files that were running are recorded interrupted; " \
                           "Start redoes them."
        except M0Error as exc:
            self.message = str(exc)
        except Exception as exc:  # shown on the page rather than lost in a thread
            self.message = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            for job in self.jobs.values():
                if job["status"] in ("queued", "running"):
                    job["status"] = "interrupted" if job["status"] == "running" else "cancelled"
            self.state = "idle"
            self._changed()

    def _progress(self, job_id: str, fraction: float) -> None:
        job = self.jobs[job_id]
        if job["status"] != "running":
            job.update(status="running", began=time.monotonic())
        job["fraction"] = fraction
        self._changed()

    def _ended(self, completed: int, total: int, job_id: str, result: dict) -> None:
        self.jobs[job_id].update(status=result["status"],
                                 error=beside_name(result["error"], job_id),
                                 highlights=result["highlights"], clips=result["clips"],
                                 warnings=[beside_name(warning, job_id)
                                           for warning in result["warnings"]],
                                 fraction=1.0 if result["status"] != "interrupted" else
                                 self.jobs[job_id]["fraction"])
        self._changed()

    def _changed(self) -> None:
        self.version += 1
