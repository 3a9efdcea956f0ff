"""``m0 batch``: many recordings, several at once, resumably."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import click

from m0core.checks import EMPTY_FOLDER
from m0core.cli.console import stdout_to_stderr, warn
from m0core.cli.options import (
    CLIP_PARAMS,
    analysis_options,
    build_options,
    check_verbose,
    flags_named,
    given_options,
    input_path,
    report_failed_plugins,
)
from m0core.errors import M0Error, OptionError


@click.command(short_help="Find the highlights of many recordings, several at once.",
               epilog='Example: m0 batch "vods/**/*.mp4" out/ --workers 2 -t -8')
@click.argument("args", nargs=-1, metavar="[PATTERN]... OUT_DIR")
@analysis_options
@click.option("--clip-workers", type=click.IntRange(1, 256), default=None, metavar="N",
              help="ffmpeg processes per job for clips  [default: cores ÷ --workers, or ÷ "
                   "the jobs to run if fewer]")
@click.option("--executor", type=click.Choice(["process", "dask"], case_sensitive=False),
              default="process",
              help="process: a local process per job; dask: a Dask distributed cluster.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler to use, e.g. tcp://10.0.0.5:8786  [default: a local cluster]")
@click.option("--from-file", type=click.Path(dir_okay=False), callback=input_path,
              default=None,
              help="Also take the files or patterns listed in this file, one per line "
                   "('-': standard input, e.g. find vods -newer last | m0 batch --from-file - "
                   "out/).")
@click.option("--retry-failed", is_flag=True,
              help="Run again the jobs that failed for their file (broken, no audio) or a "
                   "plugin; those that failed for the machine (a full disk, a killed ffmpeg) "
                   "always run again.")
@click.option("--job-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS",
              help="Stop a job that runs longer (a file or a share that hangs its decoding) "
                   "and record it failed, 'timed out after SECONDS s'; the batch goes on. "
                   "The next run tries it once more.  [default: no limit]")
@click.option("--status", "show_status", is_flag=True,
              help="Print the ledger of OUT_DIR (what ran, how it ended: each input's "
                   "latest job; inputs gone or changed since are marked) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the job results as JSON.")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors and warnings only: no progress, job lines or summary.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also a line per job skipped as done earlier (one line for them all "
                   "otherwise), and a row per job in the summary (those that failed, were "
                   "interrupted or warned otherwise).")
def batch(args: tuple[str, ...], workers: int | None, clip_workers: int | None, executor: str,
          scheduler: str | None, from_file: Path | None, retry_failed: bool,
          job_timeout: float | None, show_status: bool,
          as_json: bool, quiet: bool, verbose: bool, **values: Any) -> None:
    """Find the highlights of many recordings, several at once, resumably.

    PATTERN is a file, a folder (its media files, recursively; not hidden ones) or a glob
    ("**" crosses folders; a folder it matches is a folder; quote it); none is needed with
    --from-file, and --status takes OUT_DIR alone. Each recording gets
    OUT_DIR/<name>_highlights/. A ledger (OUT_DIR/m0-batch.sqlite) records every job:
    running the same command again skips what is done and redoes what was interrupted.
    Exit code 1 if any job failed or was interrupted.
    """
    from m0core.batch.executors import default_workers
    from m0core.batch.ledger import Ledger
    from m0core.batch.runner import (
        BatchJob,
        BatchProcessor,
        find_inputs,
        job_folders,
        ledger_path,
        read_list,
    )
    from m0core.cli.batch_console import (
        EARLIER,
        BatchConsole,
        display_names,
        status_command,
        status_table,
        summary,
    )

    check_verbose(verbose, quiet, as_json)
    if not args:
        raise click.UsageError("missing OUT_DIR")
    if not args[-1].strip():  # "$OUT" unset: not the current folder
        raise click.BadParameter(EMPTY_FOLDER, param_hint="'OUT_DIR'")
    out_dir, patterns = Path(args[-1]), list(args[:-1])
    ledger_file = ledger_path(out_dir)
    if show_status:
        if patterns:
            raise click.UsageError("--status takes only OUT_DIR")
        ctx = click.get_current_context()
        dead = given_options(ctx, {p.name for p in ctx.command.params} - {"show_status",
                                                                            "as_json"})
        if dead:  # --status out -v, --status out --from-file new.txt: nothing they would do
            raise OptionError(f"--status takes OUT_DIR and --json alone: drop "
                              f"{', '.join(dead)}")
        if not ledger_file.is_file():
            raise M0Error(f"{out_dir}: no batch has run here (no {ledger_file.name})")
        with Ledger(ledger_file) as ledger:  # a dead batch's running jobs: interrupted
            rows = [(row.seen(), n) for row, n in ledger.current()]
        click.echo(json.dumps([{**r.to_dict(), "earlier": n, "input": r.input_state()}
                               for r, n in rows], indent=2)
                   if as_json else status_table(rows))
        return
    if from_file is not None:
        listed = read_list(from_file)
        if not listed:  # a script's list of new recordings, and none came
            named = "standard input" if str(from_file) == "-" else from_file
            empty = f"{named}: lists no file or pattern"
            if not patterns:
                raise M0Error(empty)
            warn(empty)
        patterns += listed
    if not patterns:
        raise click.UsageError("give at least one PATTERN (or --from-file) before OUT_DIR")
    with stdout_to_stderr():  # what plugins print when loaded: stdout is for the results
        opts = build_options(workers=clip_workers, clip_params=BATCH_CLIP_PARAMS, **values)
        report_failed_plugins()
    inputs = find_inputs(patterns, exclude=out_dir,
                         on_nothing=lambda pattern: warn(f"{pattern}: matched no file"))
    taken: dict[str, str] = {}
    if ledger_file.is_file():
        with Ledger(ledger_file) as ledger:
            taken = ledger.folders()
    folders = job_folders(inputs, out_dir, taken)
    jobs = [BatchJob(p, folders[p], job_id=str(p), options=opts) for p in inputs]
    with flags_named():  # --workers 0, --job-timeout nan: checked by BatchProcessor
        processor = BatchProcessor(default_workers() if workers is None else workers,
                                   executor, scheduler=scheduler, ledger=ledger_file,
                                   retry_failed=retry_failed, job_timeout=job_timeout)
    view = BatchConsole(len(jobs), enabled=not quiet and not as_json,
                        names=display_names(job.job_id for job in jobs), verbose=verbose,
                        out_dir=out_dir)

    try:
        with stdout_to_stderr():
            results = processor.process_batch(jobs, view.job_done,
                                              job_progress=view.job_progress,
                                              on_warning=view.warning)
    except KeyboardInterrupt:
        view.close()
        warn(f"stopped; run the same command again to resume ({status_command(out_dir)})")
        raise
    finally:
        view.close()
    if as_json:
        click.echo(json.dumps({"out_dir": str(out_dir), "ledger": str(ledger_file),
                               "jobs": list(results.values())}, indent=2))
    elif not quiet:
        click.echo(summary(results.values(), verbose, out_dir=out_dir))
    ended = Counter(r["status"] for r in results.values())
    failed, stopped = ended["failed"], ended["interrupted"]  # stopped from outside the batch
    earlier = sum(1 for r in results.values() if r["previous"])
    if failed or stopped:
        # the same broken files every night are not tonight's news
        notes = [f"{earlier} {EARLIER}, not retried without --retry-failed"] if earlier else []
        notes += [f"{status_command(out_dir)} says why"] if quiet else []  # no job lines
        jobs = f"of {len(results)} jobs"
        what = f"{failed} {jobs} failed" if failed else ""
        if stopped:
            what += f" and {stopped}" if failed else f"{stopped} {jobs}"
            what += " interrupted; run the same command again to finish them"
        raise M0Error(what + (f" ({'; '.join(notes)})" if notes else ""))


#: The options of m0 batch that only shape the clips: its --workers counts jobs.
BATCH_CLIP_PARAMS = tuple("clip_workers" if p == "workers" else p for p in CLIP_PARAMS)

_BATCH_HELP = {  # in a batch, --workers counts jobs; each job gets its share of the cores
    "workers": "Jobs at once  [default: number of cores]",
    "jobs": "Segments of each file decoded in parallel by worker processes; 0: in the "
            "job's process  [default: cores ÷ --workers; 0 when that is one]",
}
for _param in batch.params:
    if _param.name in _BATCH_HELP:
        _param.help = _BATCH_HELP[_param.name]
