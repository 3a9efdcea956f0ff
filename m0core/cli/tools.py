"""The commands around the main job: ``m0 chapters``, ``m0 reference``, ``m0 probe``,
``m0 plugins``, ``m0 demo`` and ``m0 cache``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from m0core.cli.console import clock, size, span, stdout_to_stderr, warn
from m0core.cli.options import (
    ANALYZER_HELP,
    AUDIO_TRACK,
    SOURCE_HELP,
    build_options,
    given_options,
    input_path,
    output_path,
    report_failed_plugins,
    selection_options,
)
from m0core.errors import InputError
from m0core.words import count

if TYPE_CHECKING:
    from m0core.model import Highlight
    from m0core.pipeline.reference import Reference


#: Seconds by which a recording may differ in length from the one a ``highlights.json`` was
#: made of and still be taken for it (another container or encode of the same recording).
SAME_LENGTH = 1.0


def load_highlights(path: Path, video: Path | None = None) -> list[Highlight]:
    """The highlights of a ``highlights.json`` written by ``m0 analyze``; with ``video``,
    checked to be of it: an :class:`InputError` if the recording it was made of was of
    another length (by more than :data:`SAME_LENGTH`)."""
    from m0core.outputs import read_highlights

    found, source = read_highlights(path)
    length = source.get("duration")
    if video is not None and isinstance(length, (int, float)):
        from m0core.media.ffmpeg import probe

        actual = probe(video).duration
        if actual and abs(actual - length) > SAME_LENGTH:
            raise InputError(
                f"{path}: made of {source.get('name') or 'another recording'} "
                f"({clock(length)} long), not of {video.name} "
                f"({clock(actual)}): give the highlights.json of this recording")
    return found


@click.command(short_help="Copy VIDEO with one chapter per highlight.",
               epilog="Example: m0 chapters stream.mp4 stream-chapters.mp4 --max-chapters 12")
@click.argument("video", type=click.Path(), callback=input_path)
@click.argument("out", type=click.Path(dir_okay=False), callback=output_path)
@click.option("--highlights", "highlights_json", type=click.Path(), callback=input_path,
              default=None, help="Use this highlights.json instead of analysing VIDEO again.")
@selection_options(chapters=True)
@click.option("-q", "--quiet", is_flag=True,
              help="Errors and warnings only: no progress bar or summary.")
def chapters(video: Path, out: Path, highlights_json: Path | None, quiet: bool,
             **values: Any) -> None:
    """Write OUT: a stream copy of VIDEO with one chapter per highlight.

    Streams are copied as they are, so it takes about as long as copying the file; only
    sound OUT's players do not play there is encoded (PCM or FLAC in an .m4a or .mp4: AAC).
    The chapters are named after the highlight's peak time and level; OUT's extension picks
    the container (.mp4, .mkv, .mov, .m4a, .webm).
    """
    from m0core.media.chapters import (
        BETWEEN,
        chapters_target,
        embed_chapters,
        ffmetadata,
        starts_only,
    )
    from m0core.pipeline import analyze

    chapters_target(video, out)  # a wrong extension or folder fails now, not after analysing
    if highlights_json is not None:
        ignored = given_options(click.get_current_context(), values)
        if ignored:
            raise click.UsageError(f"--highlights takes the highlights it holds as they are: "
                                   f"drop {', '.join(ignored)}")
        found = load_highlights(highlights_json, video)
        length = None
    else:
        given = values.pop("max_clips_given")  # --max-clips, as analyze spells it
        if values["max_clips"] is None:
            values["max_clips"] = given
        opts = build_options(**values, no_clips=True)
        from m0core.cli.progress import ConsoleProgress

        progress = ConsoleProgress(enabled=not quiet)
        try:
            result = analyze(video, None, opts, progress=progress)
        finally:
            progress.close()
        for warning in result.warnings:
            warn(warning)
        found = list(result.highlights)
        length = result.media.duration
        if not found and not quiet:  # said before the copy, which takes minutes for hours
            from m0core.cli.analyze import no_highlights_note

            click.echo(no_highlights_note(result, "--max-chapters"), err=True)
    if quiet:
        embed_chapters(video, found, out)
    else:  # a copy of a 6-hour VOD takes a minute or more
        from m0core.cli.progress import progress_bar
        from m0core.media.ffmpeg import probe

        seconds = max(1, int(length if length is not None else probe(video).duration or 0))
        with progress_bar(length=seconds, label="Writing chapters") as bar:
            embed_chapters(video, found, out, progress=lambda written: bar.update(
                max(0, min(int(written), seconds) - bar.pos)))
    if not quiet:  # an MP4's or MOV's chapters include those before and between highlights
        made = ffmetadata(found, contiguous=starts_only(out)).count("[CHAPTER]")
        between = made - len(found)
        click.echo(f"{count(made, 'chapter')} in {out}" + (
            f": {count(len(found), 'highlight')}, {between} '{BETWEEN}' before and between "
            "them" if between else ""))


@click.command(short_help="Measure VIDEO's levels and suggest thresholds.",
               epilog="Example: m0 reference stream.mp4 --json")
@click.argument("video", type=click.Path(), callback=input_path)
@click.option("--source", default="pyav", metavar="NAME", help=SOURCE_HELP)
@click.option("--analyzer", default="rms-streaming", metavar="NAME", help=ANALYZER_HELP)
@click.option("--audio-track", type=AUDIO_TRACK, default="1", metavar="N|all",
              help="Audio track to measure (see 'm0 probe'); 'all' sums every track.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def reference(video: Path, source: str, analyzer: str, audio_track: int | str, as_json: bool,
              quiet: bool) -> None:
    """Measure VIDEO's levels and suggest thresholds (one streaming pass, no clips).

    Prints the duration, average and maximum level, dynamic range, aggressive / balanced /
    conservative thresholds for the crest selector, what the default selector would pick,
    and a level histogram.
    """
    from m0core.cli.progress import ConsoleProgress
    from m0core.options import Options
    from m0core.pipeline.reference import reference as measure

    progress = ConsoleProgress(enabled=not quiet and not as_json)
    try:
        with stdout_to_stderr():  # what plugins print: stdout is for the measures
            ref = measure(video, Options(source=source, analyzer=analyzer,
                                         audio_track=audio_track), progress=progress)
    finally:
        progress.close()
    for warning in ref.warnings:
        warn(warning)
    if as_json:
        click.echo(json.dumps(ref.to_dict(), indent=2))
        return
    # the thresholds hold for the analyzer and track measured: m0 analyze needs them too
    given = given_options(click.get_current_context(), ["analyzer", "audio_track"])
    measured = " ".join(f"{flag} {value}" for flag, value in (
        ("--analyzer", analyzer), ("--audio-track", audio_track)) if flag in given)
    click.echo(format_reference(ref, measured=measured))


@click.command(short_help="List VIDEO's duration and audio tracks.",
               epilog="Example: m0 probe obs-recording.mkv")
@click.argument("video", type=click.Path(), callback=input_path)
@click.option("--source", default="pyav", metavar="NAME", help=SOURCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def probe(video: Path, source: str, as_json: bool) -> None:
    """List VIDEO's duration and audio tracks: number (for --audio-track), title, language,
    codec, channels, sample rate and where each starts on the players' timeline."""
    from m0core import plugins
    from m0core.media.ends import cut_short
    from m0core.media.ffmpeg import check_streams

    with stdout_to_stderr():  # what plugins print: stdout is for the listing
        media = plugins.probe(plugins.create("sources", source), source, str(video))
    check_streams(video, media)
    # its duration may be the one it declares, not the one it holds
    warnings = [f"{video}: looks cut short: the file stops in the middle of its data (a "
                "crash, a copy or download that stopped); m0 reference measures how much it "
                "holds"] if cut_short(video) else []
    for warning in warnings:
        warn(warning)
    if as_json:  # a script reads the warnings here, as in m0 analyze's and reference's JSON
        click.echo(json.dumps({**media.to_dict(), "warnings": warnings}, indent=2))
        return
    kind = "video" if media.has_video else "audio"
    length = span(media.duration) if media.duration else "duration not declared"
    click.echo(f"{video}: {kind}, {length} ({media.container})")
    if not media.has_audio:
        click.echo("  no audio tracks")
    for track in media.tracks:
        click.echo(f"  {track.describe()}")


@click.command("plugins", short_help="List the installed plugins and what they register.",
               epilog="Example: m0 plugins --all")
@click.option("--all", "show_all", is_flag=True, help="Include m0's built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_command(show_all: bool, as_json: bool) -> None:
    """List installed plugins: name, version, hooks and the names they register."""
    from m0core import plugins

    names: dict[str, list[str]] = {}
    with stdout_to_stderr():  # what plugins print when loaded: stdout is for the listing
        tables = plugins.registries()
    for kind, table in tables.items():
        for reg in table.values():
            names.setdefault(reg.plugin, []).append(f"{kind[:-1]}:{reg.name}")
    rows = [
        {"name": i.name, "module": i.module, "dist": i.dist, "version": i.version,
         "builtin": i.builtin, "hooks": i.hooks, "registers": sorted(names.get(i.name, [])),
         "error": i.error, "disabled": i.disabled}
        for i in plugins.plugin_infos() if show_all or not i.builtin
    ]
    report_failed_plugins()  # on stderr: with --json too (a misspelt M0_LOAD_PLUGINS name)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No third-party plugins installed ('m0 plugins --all' lists the built-ins).")
    for row in rows:
        origin = f"{row['dist']} {row['version']}" if row["dist"] else row["module"]
        if row["error"]:
            click.echo(f"{row['name']}  ({origin})  failed to load: {row['error']}")
            continue
        if row["disabled"]:
            click.echo(f"{row['name']}  ({origin})  {row['disabled']}")
            continue
        click.echo(f"{row['name']}  ({origin})")
        click.echo(f"  hooks:     {', '.join(row['hooks'])}")
        click.echo(f"  registers: {', '.join(row['registers']) or 'nothing'}")


@click.command(epilog="Example: m0 demo try-m0 --duration 60")
@click.argument("out_dir", required=False, default="m0-demo", type=click.Path(),
                callback=output_path)
@click.option("--duration", type=click.FloatRange(20, 3600), default=180.0,
              metavar="SECONDS", help="Length of the sample VOD to make.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def demo(out_dir: Path, duration: float, quiet: bool) -> None:
    """Make a sample VOD with loud moments and run the main job on it.

    The sample (OUT_DIR/sample_vod.mp4) has a noise bed with cheers, shouts and spikes planted
    at known times; m0 analyses it with default settings, cuts the clips into
    OUT_DIR/highlights/ and compares what it found with what was planted. OUT_DIR defaults to
    m0-demo in the current folder. A rerun replaces the sample it made; a sample_vod.mp4 there
    that m0 demo did not make is left alone, and the demo stops, saying so.
    """
    from m0core.cli.demo import run_demo

    run_demo(out_dir, duration, quiet=quiet)


@click.group("cache", short_help="Show where the analysis cache is and its size, or clear it.",
             epilog="Example: m0 cache info")
def cache_group() -> None:
    """The analysis cache: score curves kept so re-tuning never decodes again (and the
    highlights chosen on them, so a re-run with the same options does not select again).

    It lives in M0_CACHE_DIR if set, else in your user cache folder.
    """


@cache_group.command("info", epilog="Example: m0 cache info --json")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cache_info(as_json: bool) -> None:
    """Show where the cache is and how big it is."""
    from m0core.pipeline import cache

    data = cache.info()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"{data['folder']}: {count(data['entries'], 'analysis', 'analyses')}, "
                   f"{count(data['selections'], 'selection')} kept with them, "
                   f"{size(data['bytes'])}")


@cache_group.command("clear", epilog="Example: m0 cache clear")
def cache_clear() -> None:
    """Delete every cached analysis."""
    from m0core.pipeline import cache

    click.echo(f"Removed {count(cache.clear(), 'cached analysis', 'cached analyses')}.")


def format_reference(ref: Reference, width: int = 40, measured: str = "") -> str:
    """The human-readable report ``m0 reference`` prints; ``measured``: the options it was
    measured with that ``m0 analyze`` must be given with a threshold (``--audio-track 2``)."""
    lines = [
        f"{ref.path}",
        f"  duration       {span(ref.duration)}",
        f"  average level  {ref.average_db:.1f} {ref.unit}   max {ref.max_db:.1f} {ref.unit}",
        f"  dynamic range  {ref.dynamic_range_db:.1f} dB (p95 - p5)",
        "",
        f"Thresholds for {measured + ' ' if measured else ''}--selector crest -t DB "
        "(share of the time above):",
    ]
    from m0core.pipeline.reference import THRESHOLD_PERCENTILES

    for (name, value), pct in zip(ref.thresholds.items(), THRESHOLD_PERCENTILES.values(),
                                  strict=True):
        lines.append(f"  {name:<13} {value:6.1f} {ref.unit}   ({100 - pct:g} %)")
    limit = "-" if ref.adaptive_limit_db is None else f"{ref.adaptive_limit_db:.1f} {ref.unit}"
    lines += ["", f"Default selector: {count(ref.adaptive_highlights, 'highlight')}; typical limit "
              f"{limit}", "", "Level histogram:"]
    top = max(share for _, _, share in ref.histogram) or 1.0
    for lo, hi, share in ref.histogram:
        bar = "█" * max(0, round(share / top * width))
        lines.append(f"  {lo:6.1f} … {hi:6.1f} {ref.unit} {bar} {100 * share:.1f} %")
    return "\n".join(lines)
