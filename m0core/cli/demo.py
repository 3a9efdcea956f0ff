"""``m0 demo``: make a sample VOD with planted loud moments and run the main job on it."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click

from m0core.cli.console import clock
from m0core.cli.progress import ConsoleProgress, progress_bar
from m0core.dev import synth
from m0core.errors import OutputError
from m0core.media.ffmpeg import described
from m0core.outputs import level, prepare_out_dir
from m0core.pipeline import analyze
from m0core.result import AnalysisResult
from m0core.words import count

#: The comment tag of the sample VOD m0 demo makes, by which a rerun knows it may replace it.
SAMPLE_TAG = "m0 demo sample"
_TAGGED = re.compile(rf"^\s+comment\s*: {SAMPLE_TAG}$", re.M)


def check_not_theirs(sample: Path) -> None:
    """Raise :class:`OutputError` where ``sample`` is there and not a sample m0 demo made
    (tagged :data:`SAMPLE_TAG`): a file of the user's that the demo would replace."""
    if not os.path.lexists(sample):
        return
    plain = sample.is_file() and not sample.is_symlink()
    if plain and _TAGGED.search(described(sample).split("Stream #")[0]):
        return
    raise OutputError(f"{sample}: is there and not a sample m0 demo made, so it is left "
                      f"alone: give m0 demo another folder (m0 demo OTHER_DIR) or move it away")


def run_demo(out_dir: Path, duration: float = 180.0, *, quiet: bool = False,
             seed: int = 2026) -> AnalysisResult:
    """Make ``out_dir/sample_vod.mp4``, analyse it into ``out_dir/highlights`` and print how
    the highlights found compare with the moments planted. A ``sample_vod.mp4`` there that m0
    demo did not make is kept: :class:`OutputError` (:func:`check_not_theirs`)."""
    out = prepare_out_dir(out_dir)
    sample = out / "sample_vod.mp4"
    check_not_theirs(sample)
    events = synth.plan_events(duration, seed=seed, min_spacing=25.0)
    if quiet:
        synth.write_vod(sample, duration, events=events, seed=seed, comment=SAMPLE_TAG)
    else:  # a minute for an hour's
        click.echo(f"Making a {clock(duration)} sample VOD with {len(events)} loud moments: "
                   f"{sample}", err=True)
        with progress_bar(length=max(1, round(duration)), label="Making it") as bar:
            synth.write_vod(sample, duration, events=events, seed=seed, comment=SAMPLE_TAG,
                            progress=lambda seconds: bar.update(int(seconds) - bar.pos))
    progress = ConsoleProgress(enabled=not quiet)
    try:
        result = analyze(sample, out / "highlights", progress=progress)
    finally:
        progress.close()
    match = synth.match_events(events, result.highlights)
    if not quiet:  # the summary set apart from the bars
        click.echo()
    click.echo(f"Planted {count(len(events), 'moment')}; m0 found "
               f"{count(len(result.highlights), 'highlight')} ({match.found} of the moments, "
               f"{count(match.false, 'false alarm')}).")
    for h in result.highlights:
        clip = result.clip_for(h)
        event = match.event_of.get(h.index)
        what = f"{event.kind} +{event.gain_db:.0f} dB" if event else "no planted moment"
        name = Path(clip.path).name if clip and clip.ok else "-"
        click.echo(f"  {clock(h.peak_time):>6}  {level(h.peak_db, ' dBFS') or '–':>11}  "
                   f"{what:<18} {name}")
    click.echo(f"\nClips, highlights.json and index.json are in {out / 'highlights'}")
    click.echo(f"Review them in a browser: {out / 'highlights' / 'report.html'}")
    click.echo("Next: m0 analyze YOUR_VOD.mp4 out/   (or try: m0 analyze "
               f"{shlex.quote(str(sample))} out/ -v)")  # a command to type as it is
    return result
