"""What ``m0 batch`` shows: a live status line, one line per finished job, the summary."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from m0core.batch.ledger import Row
from m0core.cli.console import (
    clock,
    fit,
    live_terminal,
    one_line,
    say,
    terminal_width,
    warn,
)
from m0core.errors import beside_name
from m0core.words import count

_MARK = {"completed": ("✓", "green"), "skipped": ("=", None), "failed": ("✗", "red"),
         "interrupted": ("!", "yellow")}


class BatchConsole:
    """Live progress of a batch on stderr.

    On a terminal a status line (``[3/10] 30 %  a.mp4 45 %  b.mp4 12 %  ETA 1:20``) is redrawn
    in place, and every finished job prints one line above it; elsewhere (logs, CI) only the
    finished lines are printed. The jobs skipped as done earlier get one line for them all,
    printed when the first job starts (or at the end), which names ``out_dir`` for
    ``m0 batch --status`` (a rerun of 500 recordings, 5 of them new, prints 6 lines); with
    ``verbose``, a line each.
    """

    def __init__(self, total: int, enabled: bool = True,
                 names: dict[str, str] | None = None, *, verbose: bool = False,
                 out_dir: str | os.PathLike | None = None) -> None:
        self.total = total
        #: How a finished job's line names its input (:func:`display_names`); by default its
        #: file name.
        self.names = names or {}
        self.enabled = enabled
        self.verbose = verbose
        self.out_dir = out_dir
        #: Jobs skipped as done earlier whose line is still to be printed (not ``verbose``).
        self.skipped = 0
        self.live = enabled and live_terminal()
        self.running: dict[str, float] = {}
        self.done = 0
        #: Jobs that ended without running (done before, failed before): they took no time,
        #: so they are left out of the ETA (a resumed batch's would be far too short).
        self.not_run = 0
        self.started: float | None = None  # when the first job started running
        self._drawn = 0.0

    def job_progress(self, job_id: str, fraction: float) -> None:
        """A running job advanced (``BatchProcessor.process_batch``'s ``job_progress``)."""
        if self.started is None:  # the jobs that do not run were all told before
            self.started = time.monotonic()
            self._say_skipped()
        self.running[job_id] = fraction
        if time.monotonic() - self._drawn >= 0.2:
            self._draw()

    def job_done(self, completed: int, total: int, job_id: str, result: dict) -> None:
        """A job ended (``process_batch``'s ``progress_callback``)."""
        self.running.pop(job_id, None)
        if not ran(result):
            self.not_run += 1
        self.done = completed
        if not self.enabled:  # no job line: each warning names its file (said when it ran)
            for warning in result.get("warnings", ()) if ran(result) else ():
                warn(warning)
            return
        if result["status"] == "skipped" and not self.verbose:
            self.skipped += 1
            return
        self._clear()
        mark, colour = _MARK.get(result["status"], ("?", None))
        name = self.names.get(job_id) or Path(result["video_path"]).name
        if result["status"] in ("completed", "skipped"):
            what = made(result)
            if result["status"] == "skipped":
                what += " (done before)"
            else:
                what += f" in {result['seconds']:.1f} s"
        else:
            what = beside_name(result["error"], result["video_path"]) or result["status"]
            if result.get("previous"):
                what += f" ({EARLIER}; not retried)"
        say(one_line(f"[{completed}/{total}] {mark} {name}: {what}"), colour)
        for warning in result.get("warnings", ()):  # below the line that names the file
            warn(beside_name(warning, result["video_path"]))
        self._draw()

    def warning(self, message: str) -> None:
        """A warning of the batch's (``process_batch``'s ``on_warning``), a line above the
        status line."""
        self._clear()
        warn(message)
        self._draw()

    def eta(self) -> float | None:
        """Seconds left, from how fast the jobs that run this time advance (those that ended
        without running are left out); ``None`` until they are 2 % of the way."""
        to_run = self.total - self.not_run
        if self.started is None or to_run <= 0:
            return None
        share = (self.done - self.not_run + sum(self.running.values())) / to_run
        if share <= 0.02:
            return None
        return (time.monotonic() - self.started) * (1 - share) / share

    def close(self) -> None:
        """Remove the status line; say how many jobs were skipped if no job ran."""
        self._clear()
        self._say_skipped()

    def _say_skipped(self) -> None:
        """One line for the jobs skipped so far (done earlier), unless it was said."""
        if not self.skipped:
            return
        self._clear()
        say(f"= skipped {self.skipped} of {count(self.total, 'job')}, done earlier "
            f"(same file and options); {status_command(self.out_dir)} lists them")
        self.skipped = 0

    def _draw(self) -> None:
        if not self.live:
            return
        self._drawn = time.monotonic()
        share = (self.done + sum(self.running.values())) / max(1, self.total)
        line = f"[{self.done}/{self.total}] {100 * share:3.0f} %"
        for job_id, fraction in list(self.running.items())[:4]:
            name = self.names.get(job_id) or Path(job_id).name  # as its job's line names it
            line += f"  {_short(name)} {100 * fraction:.0f} %"
        if len(self.running) > 4:
            line += f"  +{len(self.running) - 4} more"
        eta = self.eta()
        if eta is not None:
            line += f"  ETA {clock(eta)}"
        sys.stderr.write("\r\x1b[K" + fit(one_line(line), terminal_width() - 1))
        sys.stderr.flush()

    def _clear(self) -> None:
        if self.live:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def display_names(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """``{path: name}``: each input as a finished job's line shows it, its path below the
    folder all the inputs share (``day 03/stream.mp4`` when ``day 01/`` to ``day 09/`` each
    hold a ``stream.mp4``; the file name when they are all in one folder)."""
    paths = [os.fspath(p) for p in paths]
    try:
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # no inputs, or on several drives (Windows): their file names
        return {p: os.path.basename(p) for p in paths}
    return {p: os.path.relpath(os.path.abspath(p), common) for p in paths}


def _short(name: str, most: int = 24) -> str:
    return fit(name, most, "…")


def made(result: dict) -> str:
    """What a completed job made, for its line: ``2 highlights, 2 clips``; with ``--no-clips``
    (its ``clips`` ``None``) ``2 highlights (--no-clips: no clips)``, as ``m0 analyze`` says
    it, not ``0 clips`` as if every clip had failed."""
    highlights = count(result["highlights"], "highlight")
    if result["clips"] is None:
        return f"{highlights} (--no-clips: no clips)"
    return f"{highlights}, {count(result['clips'], 'clip')}"


def status_command(out_dir: str | os.PathLike | None = None) -> str:
    """``m0 batch --status OUT``, ``out_dir`` quoted for a shell, to type as it is."""
    return "m0 batch --status" + (f" {shlex.quote(os.fspath(out_dir))}"
                                  if out_dir is not None else "")


def ran(result: dict) -> bool:
    """Whether a job ran in this batch: not one skipped as done, nor a failure reported
    again from an earlier run (their results hold what that run found and warned of)."""
    return result["status"] != "skipped" and not result.get("previous")


def needs_a_look(result: dict) -> bool:
    """Whether a job's result is one to read after its batch: it ran in it (:func:`ran`) and
    failed, was interrupted, or warned (a recording that looks cut short)."""
    return ran(result) and bool(result["status"] in ("failed", "interrupted")
                                or result.get("warnings"))


def summary(results: Iterable[dict], verbose: bool = False,
            out_dir: str | os.PathLike | None = None) -> str:
    """The summary printed after a batch, as short for 500 jobs as for 5: a row for each job
    that :func:`needs_a_look`, its error and warnings below it, then the counts of all and
    where the others are listed (``m0 batch --status out_dir``); with ``verbose`` a row for
    every job. A job run with ``--no-clips`` (its ``clips`` ``None``) has ``-`` in the clips
    column, as in ``m0 batch --status``."""
    results = list(results)
    listed = [r for r in results if verbose or needs_a_look(r)]
    lines = [f"{'status':<11} {'highlights':>10} {'clips':>5} {'time':>8}  input"] \
        if listed else []
    for r in listed:
        lines.append(f"{r['status']:<11} {r['highlights']:>10} {_opt(r['clips']):>5} "
                     f"{_seconds(r['seconds']):>8}  {one_line(r['video_path'])}")
        if r["error"] and r["status"] != "skipped":
            earlier = f" ({EARLIER})" if r.get("previous") else ""
            lines.append(f"{'':<11} {one_line(beside_name(r['error'], r['video_path']))}"
                         f"{earlier}")
        lines += [f"{'':<11} Warning: {one_line(beside_name(warning, r['video_path']))}"
                  for warning in r.get("warnings", ())]
    lines.append(counts_line(map(_counted, results)))
    if any(r.get("previous") for r in results):
        lines.append("Jobs that failed in an earlier run were not retried (--retry-failed).")
    if len(listed) < len(results):
        others = tally(Counter(_counted(r) for r in results if not needs_a_look(r)))
        lines.append(f"Not listed: {others}; -v lists every job, as does "
                     f"{status_command(out_dir)} (--json for a script).")
    return "\n".join(lines)


def _counted(result: dict) -> str:
    """How the counts name a job's end: its status, or ``failed earlier``."""
    return "failed earlier" if result.get("previous") else result["status"]


#: How a job's line and the summary tell a failure an earlier run met, reported again without
#: running (``previous``), from one met now.
EARLIER = "failed in an earlier run"


def counts_line(statuses: Iterable[str]) -> str:
    """``3 jobs: 2 completed, 1 failed`` from the jobs' statuses."""
    counts = Counter(statuses)
    return f"{count(counts.total(), 'job')}: {tally(counts)}" if counts else "no jobs"


def tally(counts: Counter[str]) -> str:
    """``2 completed, 1 failed``: how many jobs ended each way."""
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


#: How ``m0 batch --status`` notes an input that is not as its job had it
#: (:meth:`Row.input_state`).
_INPUT_NOTE = {"gone": "gone", "changed": "changed since"}


def status_table(rows: list[tuple[Row, int]]) -> str:
    """``m0 batch --status``: one row per input, its latest job, with the number of its
    earlier jobs (other options, an older version of the file: :meth:`Ledger.current`) and
    a note when the input is gone or changed since (:meth:`Row.input_state`); its error and
    warnings below it, as the summary says them."""
    lines = [f"{'status':<11} {'tries':>5} {'highlights':>10} {'clips':>5} {'time':>8}  "
             f"{'finished':<19}  input"]
    states: Counter[str] = Counter()
    for row, earlier in rows:
        finished = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.finished)) \
            if row.finished else "-"
        state = row.input_state()
        states[state] += 1
        notes = [f"input {_INPUT_NOTE[state]}"] if state in _INPUT_NOTE else []
        notes += [f"+{count(earlier, 'earlier job')}"] if earlier else []
        noted = f"  ({'; '.join(notes)})" if notes else ""
        lines.append(f"{row.status:<11} {row.attempts:>5} {_opt(row.highlights):>10} "
                     f"{_opt(row.clips):>5} {_seconds(row.seconds):>8}  {finished:<19}  "
                     f"{one_line(row.path)}{noted}")
        if row.error:
            lines.append(f"{'':<11} {one_line(beside_name(row.error, row.path))}")
        lines += [f"{'':<11} Warning: {one_line(beside_name(warning, row.path))}"
                  for warning in row.warnings]
    line = counts_line(row.status for row, _ in rows)
    earlier = sum(n for _, n in rows)
    if earlier:
        line += (f" (and {count(earlier, 'earlier job')} of other options or file versions, "
                 "not shown)")
    for state, note in _INPUT_NOTE.items():
        if states[state]:
            line += f"; {count(states[state], 'input')} {note}"
    lines.append(line)
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if not value else f"{value:.1f} s"


def _opt(value: int | None) -> str:
    return "-" if value is None else str(value)
