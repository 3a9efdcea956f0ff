"""The ``m0`` command (also installed as ``highlighter``, the seed's name).

The CLI is thin: it parses options into :class:`~m0core.options.Options` and calls the same
functions the Python API offers. Known errors become one red line and exit code 1; usage
errors exit 2; a traceback shows only with ``M0_DEBUG=1``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from m0core import __version__, plugins
from m0core.console import ConsoleProgress, clock, error, warn
from m0core.errors import M0Error, OptionError
from m0core.options import CUT_MODES, Options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
           "show_default": True}


def _report_failed_plugins() -> None:
    for info in plugins.failed_plugins():
        warn(plugins.describe_failure(info))


def _parse_params(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``-P selector.margin_db=8`` → ``{"selector": {"margin_db": 8}}``."""
    stages = ("source", "analyzer", "selector", "encoder")
    result: dict[str, dict[str, Any]] = {s: {} for s in stages}
    for item in values:
        key, sep, raw = item.partition("=")
        stage, dot, name = key.partition(".")
        if not sep or not dot or stage not in stages or not name.isidentifier():
            raise click.BadParameter(
                f"{item!r}: expected STAGE.NAME=VALUE with STAGE one of {', '.join(stages)}",
                param_hint="'-P/--param'",
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        result[stage][name] = value
    return result


def selection_options(f):
    """The options that choose how highlights are found (analyze, batch, chapters)."""
    decorators = [
        click.option("--analyzer", default=None, metavar="NAME",
                     help="Analyzer plugin  [default: rms-streaming]"),
        click.option("--selector", default="standout", metavar="NAME",
                     help="Highlight selector plugin (standout, adaptive, crest, top, …)."),
        click.option("-s", "--sensitivity", type=float, default=None, metavar="0..1",
                     help="Fewer (0) or more (1) highlights, the same on quiet and loud, talky "
                          "and musical recordings  [default: 0.5]"),
        click.option("--source", default="pyav", metavar="NAME",
                     help="Audio source plugin (pyav, ffmpeg, soundfile, …)."),
        click.option("--streaming/--no-streaming", default=True,
                     help="--no-streaming uses the whole-file rms-legacy analyzer."),
        click.option("-t", "--threshold", type=float, default=None, metavar="DB",
                     help="Minimum level in dBFS (crest's threshold; a floor for standout)."),
        click.option("-l", "--clip-length", type=float, default=30.0, metavar="SECONDS",
                     help="Length of each clip."),
        click.option("--pre", type=float, default=None, metavar="SECONDS",
                     help="Seconds before the peak  [default: 2/3 of the clip]"),
        click.option("--post", type=float, default=None, metavar="SECONDS",
                     help="Seconds after the peak  [default: the rest]"),
        click.option("--max-clips", type=int, default=None, metavar="N",
                     help="Keep only the N best highlights."),
        click.option("--min-gap", type=float, default=None, metavar="SECONDS",
                     help="Minimum time between two highlights  [default: half a clip]"),
        click.option("--jobs", type=int, default=None, metavar="N",
                     help="Segments of the file decoded in parallel  [default: number of cores]"),
        click.option("--no-cache", "no_cache", is_flag=True,
                     help="Decode again even if the analysis is cached."),
        click.option("-P", "--param", "params", multiple=True, metavar="STAGE.NAME=VALUE",
                     help="Extra plugin parameter, e.g. -P selector.margin_db=8 (repeatable)."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def analysis_options(f):
    """The options every analysing command shares (analyze, batch)."""
    decorators = [
        selection_options,
        click.option("--encoder", default="ffmpeg", metavar="NAME", help="Clip encoder plugin."),
        click.option("--workers", type=int, default=None, metavar="N",
                     help="Parallel ffmpeg processes for clips  [default: number of cores]"),
        click.option("--cut", type=click.Choice(CUT_MODES), default="copy",
                     help="copy: fast, starts on a keyframe; accurate: re-encode, frame-exact; "
                          "smart: frame-exact, re-encodes only the ends."),
        click.option("--no-clips", is_flag=True, help="Analyse only; write no clips."),
        click.option("-f", "--format", "formats", multiple=True, metavar="NAME",
                     help="Extra output besides highlights.json: csv, edl, otio, fcpxml, "
                          "chapters (repeatable).  [default: none]"),
        click.option("--report/--no-report", default=True,
                     help="Write report.html with a plot, thumbnails and playable clips."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def build_options(analyzer: str | None, streaming: bool, params: tuple[str, ...],
                  no_clips: bool = False, no_cache: bool = False, **values: Any) -> Options:
    """Options from the parsed command line."""
    if analyzer is None:
        analyzer = "rms-streaming" if streaming else "rms-legacy"
    elif not streaming and analyzer != "rms-legacy":
        raise OptionError("--no-streaming selects the rms-legacy analyzer; drop --analyzer")
    extra = _parse_params(params)
    return Options(
        analyzer=analyzer, clips=not no_clips, cache=not no_cache,
        source_params=extra["source"], analyzer_params=extra["analyzer"],
        selector_params=extra["selector"], encoder_params=extra["encoder"],
        **values,
    )


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="m0")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME",
              help="Do not load this third-party plugin (repeatable; see 'm0 plugins').")
def cli(disabled: tuple[str, ...]) -> None:
    """m0 finds the highlight moments of long recordings from their audio and cuts a clip
    around each with ffmpeg.

    \b
    Start with:  m0 demo
    Then:        m0 analyze vod.mp4 out/
    Safe mode:   M0_LOAD_PLUGINS='' m0 analyze vod.mp4 out/   (built-in plugins only)
    """
    for name in disabled:
        plugins.block(name)


@cli.command(epilog="Example: m0 analyze stream.mp4 out/ --max-clips 10 -f edl -f csv")
@click.argument("video", type=click.Path(dir_okay=True, path_type=Path))
@click.argument("out_dir", required=False, type=click.Path(path_type=Path))
@analysis_options
@click.option("--json", "as_json", is_flag=True, help="Print highlights.json to stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also list every highlight and timing.")
def analyze(video: Path, out_dir: Path | None, as_json: bool, quiet: bool, verbose: bool,
            **values: Any) -> None:
    """Find the highlights of VIDEO and cut a clip around each into OUT_DIR.

    OUT_DIR defaults to VIDEO's name + "_highlights" in the current folder. It receives the
    clips, highlights.json (every highlight with its times and loudness), index.json (the
    seed's format), report.html (open it in a browser) and any --format files.
    """
    from m0core.outputs import highlights_document
    from m0core.pipeline import analyze as run_analysis

    opts = build_options(**values)
    _report_failed_plugins()
    out = out_dir if out_dir is not None else Path(f"{video.stem}_highlights")
    progress = ConsoleProgress(enabled=not quiet and not as_json)
    try:
        result = run_analysis(video, out, opts, progress=progress)
    finally:
        progress.close()
    if not result.highlights:
        click.echo("Note: no highlights found (try a lower --threshold or the 'top' "
                   "selector).", err=True)
    if as_json:
        click.echo(json.dumps(highlights_document(result), indent=2))
    elif not quiet:
        _summary(result, verbose)
    problems = list(result.failed_outputs)
    if result.failed_clips:
        problems.append(f"{len(result.failed_clips)} of {len(result.clips)} clips failed")
    if problems:
        raise M0Error("; ".join(problems))


def _summary(result, verbose: bool) -> None:
    media = result.media
    took = result.timings.get("total", 0.0)
    speed = (media.duration or 0) / took if took else 0
    made = sum(1 for c in result.clips if c.ok)
    click.echo(
        f"{len(result.highlights)} highlights in {clock(media.duration or 0)} of audio "
        f"({took:.1f} s, {speed:.0f}x real time); {made} clips in {result.out_dir}"
    )
    if verbose:
        for h in result.highlights:
            clip = result.clip_for(h)
            name = Path(clip.path).name if clip and clip.ok else "-"
            click.echo(f"  {h.index:3d}  {clock(h.peak_time):>8}  {h.peak_db:6.1f} dB  "
                       f"+{h.score:4.1f}  {h.kind:<9} {name}")
        click.echo("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in
                                             result.timings.items()))


@cli.command("plugins", epilog="Example: m0 plugins --all")
@click.option("--all", "show_all", is_flag=True, help="Include m0's built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_command(show_all: bool, as_json: bool) -> None:
    """List installed plugins: name, version, hooks and the names they register."""
    names: dict[str, list[str]] = {}
    for kind, table in plugins.registries().items():
        for reg in table.values():
            names.setdefault(reg.plugin, []).append(f"{kind[:-1]}:{reg.name}")
    rows = [
        {"name": i.name, "module": i.module, "dist": i.dist, "version": i.version,
         "builtin": i.builtin, "hooks": i.hooks, "registers": sorted(names.get(i.name, [])),
         "error": i.error, "disabled": i.disabled}
        for i in plugins.plugin_infos() if show_all or not i.builtin
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _report_failed_plugins()
    if not rows:
        click.echo("No third-party plugins installed ('m0 plugins --all' lists the built-ins).")
    for row in rows:
        if row["error"]:
            continue
        origin = f"{row['dist']} {row['version']}" if row["dist"] else row["module"]
        if row["disabled"]:
            click.echo(f"{row['name']}  ({origin})  {row['disabled']}")
            continue
        click.echo(f"{row['name']}  ({origin})")
        click.echo(f"  hooks:     {', '.join(row['hooks'])}")
        click.echo(f"  registers: {', '.join(row['registers'])}")


@cli.command(epilog="Example: m0 demo ./m0-demo")
@click.argument("out_dir", required=False, default="m0-demo",
                type=click.Path(path_type=Path))
@click.option("--duration", type=click.FloatRange(20, 3600), default=180.0,
              help="Seconds of sample VOD to make.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir: Path, duration: float, quiet: bool) -> None:
    """Make a sample VOD with loud moments and run the main job on it.

    The sample (OUT_DIR/sample_vod.mp4) has a noise bed with cheers, shouts and spikes planted
    at known times; m0 analyses it with default settings, cuts the clips into
    OUT_DIR/highlights/ and compares what it found with what was planted.
    """
    from m0core.demo import run_demo

    run_demo(out_dir, duration, quiet=quiet)


@cli.group("cache", epilog="Example: m0 cache info")
def cache_group() -> None:
    """The analysis cache: score curves kept so re-tuning never decodes again.

    It lives in M0_CACHE_DIR if set, else in your user cache folder.
    """


@cache_group.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Show where the cache is and how big it is."""
    from m0core import cache

    data = cache.info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"{data['folder']}: {data['entries']} analyses, "
                   f"{data['bytes'] / 2**20:.1f} MB")


@cache_group.command("clear")
def cache_clear() -> None:
    """Delete every cached analysis."""
    from m0core import cache

    click.echo(f"Removed {cache.clear()} cached analyses.")


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``m0`` and ``highlighter`` commands.

    SIGTERM stops a command as Ctrl-C does: its ffmpeg and worker processes are stopped, what
    it was writing is removed, and it exits with code 130.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        code = cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        error("interrupted")
        sys.exit(130)
    except KeyboardInterrupt:
        error("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        error(exc.format_message() + hint)
        sys.exit(exc.exit_code)
    except M0Error as exc:
        if plugins.debug():
            raise
        error(str(exc))
        sys.exit(1)
    except Exception as exc:
        if plugins.debug():
            raise
        error(f"unexpected {type(exc).__name__}: {exc} (M0_DEBUG=1 shows the traceback)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _add_tool_commands() -> None:
    """Add ``m0 chapters`` and ``m0 reference`` (defined in :mod:`m0core.cli_tools`)."""
    from m0core import cli_tools

    cli.add_command(cli_tools.chapters)
    cli.add_command(cli_tools.reference)


_add_tool_commands()


@cli.command(epilog='Example: m0 batch "vods/**/*.mp4" out/ --workers 2 -t -8')
@click.argument("args", nargs=-1, metavar="PATTERN... OUT_DIR")
@analysis_options
@click.option("--clip-workers", type=click.IntRange(1, 256), default=None, metavar="N",
              help="ffmpeg processes per job for clips  [default: cores ÷ --workers]")
@click.option("--executor", type=click.Choice(["process", "dask"]), default="process",
              help="process: a local process per job; dask: a Dask distributed cluster.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler to use, e.g. tcp://10.0.0.5:8786  [default: a local cluster]")
@click.option("--from-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also take the files or patterns listed in this file, one per line.")
@click.option("--retry-failed", is_flag=True, help="Run jobs that failed in an earlier run again.")
@click.option("--status", "show_status", is_flag=True,
              help="Print the ledger of OUT_DIR (what ran, how it ended) and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the job results as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary.")
def batch(args: tuple[str, ...], workers: int | None, clip_workers: int | None, executor: str,
          scheduler: str | None, from_file: Path | None, retry_failed: bool, show_status: bool,
          as_json: bool, quiet: bool, **values: Any) -> None:
    """Find the highlights of many recordings, several at once, resumably.

    PATTERN is a file, a folder (its media files, recursively) or a glob ("**" crosses
    folders; quote it). Each recording gets OUT_DIR/<name>_highlights/. A ledger
    (OUT_DIR/m0-batch.sqlite) records every job: running the same command again skips what
    is done and redoes what was interrupted. Exit code 1 if any job failed.
    """
    from m0core.batch import (
        BatchJob,
        BatchProcessor,
        find_inputs,
        job_folders,
        ledger_path,
        read_list,
    )
    from m0core.batch_console import BatchConsole, status_table, summary
    from m0core.executors import default_workers
    from m0core.ledger import Ledger

    if not args:
        raise click.UsageError("missing OUT_DIR")
    out_dir, patterns = Path(args[-1]), list(args[:-1])
    ledger_file = ledger_path(out_dir)
    if show_status:
        if patterns:
            raise click.UsageError("--status takes only OUT_DIR")
        if not ledger_file.is_file():
            raise M0Error(f"{out_dir}: no batch has run here (no {ledger_file.name})")
        with Ledger(ledger_file) as ledger:
            rows = ledger.rows()
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2) if as_json
                   else status_table(rows))
        return
    if from_file is not None:
        patterns += read_list(from_file)
    if not patterns:
        raise click.UsageError("give at least one PATTERN (or --from-file) before OUT_DIR")
    opts = build_options(workers=clip_workers, **values)
    _report_failed_plugins()
    inputs = find_inputs(patterns, exclude=out_dir)
    taken: dict[str, str] = {}
    if ledger_file.is_file():
        with Ledger(ledger_file) as ledger:
            taken = ledger.folders()
    folders = job_folders(inputs, out_dir, taken)
    jobs = [BatchJob(p, folders[p], job_id=str(p), options=opts) for p in inputs]
    processor = BatchProcessor(workers or default_workers(), executor, scheduler=scheduler,
                               ledger=ledger_file, retry_failed=retry_failed)
    view = BatchConsole(len(jobs), enabled=not quiet and not as_json)

    try:
        results = processor.process_batch(jobs, view.job_done, job_progress=view.job_progress)
    except KeyboardInterrupt:
        view.close()
        warn(f"stopped; run the same command again to resume (m0 batch --status {out_dir})")
        raise
    finally:
        view.close()
    if as_json:
        click.echo(json.dumps({"out_dir": str(out_dir), "ledger": str(ledger_file),
                               "jobs": list(results.values())}, indent=2))
    elif not quiet:
        click.echo(summary(results.values()))
    failed = sum(1 for r in results.values() if r["status"] == "failed")
    if failed:
        raise M0Error(f"{failed} of {len(results)} jobs failed")


_BATCH_HELP = {  # in a batch, --workers counts jobs; each job gets its share of the cores
    "workers": "Jobs at once  [default: number of cores]",
    "jobs": "Segments of each file decoded in parallel  [default: cores ÷ --workers]",
}
for _param in batch.params:
    if _param.name in _BATCH_HELP:
        _param.help = _BATCH_HELP[_param.name]


def _add_gui_command() -> None:
    """Add ``m0 gui`` (:mod:`m0core.gui.command`; the web stack is imported when it runs)."""
    from m0core.gui.command import gui

    cli.add_command(gui)


_add_gui_command()
