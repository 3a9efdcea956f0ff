"""``m0 analyze``: one recording, its highlights and their clips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from m0core.cli.console import clock, span, stdout_to_stderr, warn
from m0core.cli.options import (
    analysis_options,
    build_options,
    check_verbose,
    input_path,
    output_path,
    report_failed_plugins,
)
from m0core.errors import M0Error
from m0core.words import count

if TYPE_CHECKING:
    from m0core.model import ClipResult, Highlight
    from m0core.result import AnalysisResult


def one_recording(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """:func:`input_path` for ``m0 analyze``'s VIDEO. A folder, or a pattern that names no
    file, is what ``m0 batch`` takes: its error line says so."""
    path = input_path(ctx, param, value)
    if path.is_dir():
        what = "the recordings in it"
    elif not path.exists() and set("*?[") & set(value):
        what = "the files it matches"
    else:
        return path
    # imported only here (m0core.media.ffmpeg loads numpy): a recording's path is checked by
    # the run, so numpy loads after the decoding worker is prestarted, while it starts up
    import shlex

    from m0core.errors import InputError
    from m0core.media.ffmpeg import check_input_file

    try:
        check_input_file(path)  # its line for a folder or a file that is not there
    except InputError as exc:
        raise InputError(f"{exc}; m0 batch {shlex.quote(value)} OUT_DIR analyses {what}") from None
    return path


@click.command(short_help="Find the highlights of one recording and cut a clip of each.",
               epilog="Example: m0 analyze stream.mp4 out/ --max-clips 10 -f csv -f chapters")
@click.argument("video", type=click.Path(dir_okay=True), callback=one_recording)
@click.argument("out_dir", required=False, type=click.Path(), callback=output_path)
@analysis_options
@click.option("--json", "as_json", is_flag=True, help="Print highlights.json to stdout.")
@click.option("-q", "--quiet", is_flag=True,
              help="Errors and warnings only: no progress bars, summary or notes.")
@click.option("-v", "--verbose", is_flag=True, help="Also list every highlight and timing.")
def analyze(video: Path, out_dir: Path | None, as_json: bool, quiet: bool, verbose: bool,
            **values: Any) -> None:
    """Find the highlights of VIDEO and cut a clip around each into OUT_DIR.

    OUT_DIR defaults to VIDEO's name + "_highlights" in the current folder. It receives the
    clips, highlights.json (every highlight with its times and level), index.json (the
    seed's format), report.html (open it in a browser) and any --format files.
    """
    from m0core.pipeline import prestart

    check_verbose(verbose, quiet, as_json)
    from m0core.staging import kept_on_stop

    out = out_dir if out_dir is not None else Path(f"{video.stem}_highlights")
    with kept_on_stop(out):  # a stop as m0 starts (its plugins loading) left out as it was
        # a decoding worker, whose start-up overlaps with the imports and the plan below
        prestart(video, jobs=values.get("jobs"), cache=not values.get("no_cache"))
        from m0core.cli.progress import ConsoleProgress
        from m0core.outputs import highlights_document
        from m0core.pipeline import analyze as run_analysis

        with stdout_to_stderr():  # what plugins print: stdout is for the summary or the JSON
            opts = build_options(**values)
            report_failed_plugins()
    with stdout_to_stderr():
        progress = ConsoleProgress(enabled=not quiet and not as_json)
        try:
            result = run_analysis(video, out, opts, progress=progress)
        finally:
            progress.close()
    for warning in result.warnings:
        warn(warning)
    if not result.highlights and not quiet:
        click.echo(no_highlights_note(result), err=True)
    if as_json:
        click.echo(json.dumps(highlights_document(result), indent=2))
    elif not quiet:
        _summary(result, verbose)
    problems = result.problems()
    if problems:
        raise M0Error("; ".join(problems))


def no_highlights_note(result: AnalysisResult, most: str = "--max-clips") -> str:
    """The note of a run that found no highlight, with what to try (:func:`_advice`);
    ``most``: how the command spells its option keeping the N best."""
    return f"Note: no highlights found{_advice(result, most)}."


def _advice(result: AnalysisResult, most: str) -> str:
    """What to try when a run found nothing, for the selector it used: only a knob that was
    holding it back (a threshold in force, a sensitivity that can go higher), else ``top``;
    nothing for audio silent throughout (a warning said so, and which track to try)."""
    from m0core.levels import silent

    opts = result.options
    if silent(result.scores):
        return ""
    if opts.selector == "top":
        return " (the audio is silent or too short for a clip)"
    tries = []
    if opts.threshold is not None or opts.selector == "crest":  # crest's default is -5 dBFS
        tries.append("a lower --threshold")
    if opts.selector == "standout":
        used = 0.5 if opts.sensitivity is None else opts.sensitivity
        higher = next((s for s in (0.8, 1.0) if s > used), None)  # 1 is the most there is
        if higher is not None:
            tries.append(f"a higher --sensitivity, e.g. -s {higher:g},")
    return " (try " + " or ".join([*tries, f"--selector top {most} 5"]) + ")"


def _summary(result, verbose: bool) -> None:

    media = result.media
    took = result.timings.get("total", 0.0)
    speed = (media.duration or 0) / took if took else 0
    made = sum(1 for c in result.clips if c.ok and c.path)
    where = (f"{count(made, 'clip')} in {result.out_dir}" if result.options.clips
             else f"results in {result.out_dir} (--no-clips: no clips)")
    click.echo(
        f"{count(len(result.highlights), 'highlight')} in {span(media.duration or 0)} of audio "
        f"({took:.1f} s, {speed:.0f}x real time); {where}"
    )
    if result.compilation is not None and result.compilation.ok:
        click.echo(f"compilation: {result.compilation.path} "
                   f"({clock(result.compilation.duration)}, "
                   f"{count(len(result.compilation.clips), 'chapter')})")
    report = next((p for p in result.outputs if Path(p).name == "report.html"), None)
    if report is not None and result.published:
        click.echo(f"Review them in a browser: {report}")
    if verbose:
        click.echo(f"  audio: {_track_line(media, result.options.audio_track)}")
        for note in result.notes:
            click.echo(f"  note: {note}")
        for h in result.highlights:
            click.echo(highlight_row(h, result.clip_for(h), result.unit))
        seconds = {k: v for k, v in result.timings.items() if k != "cached"}  # a flag
        cached = "; analysis from the cache" if result.timings.get("cached") else ""
        click.echo("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
                   + cached)


def highlight_row(h: Highlight, clip: ClipResult | None, unit: str = "") -> str:
    """-v's line for one highlight: index, time, level (in ``unit``, the analyzer's; dB when
    it declares none), score, clip and why."""
    from m0core.outputs import level

    name = Path(clip.path).name if clip and clip.ok else "-"
    score = h.to_dict()["score"]  # as highlights.json has it: rounded once, not twice
    shown = "–" if score is None else f"{score:.1f}"
    suffix = f" {unit or 'dB'}"
    peak = level(h.peak_db, suffix) or "–"
    return (f"  {h.index:3d}  {clock(h.peak_time):>8}  {peak:>{6 + len(suffix)}}  "
            f"score {shown:<5}  {name}  {h.reason or h.kind}")


def _track_line(media, track: int | str) -> str:
    """Which audio track a run analysed, for people."""
    if track == "all":
        return f"all {len(media.tracks) or 1} tracks mixed"
    if isinstance(track, int) and track <= len(media.tracks):
        return f"{media.tracks[track - 1].describe()} (of {len(media.tracks)})"
    return f"track {track}"
