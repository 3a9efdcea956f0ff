"""``m0 chapters`` and ``m0 reference``: commands around a VOD besides cutting clips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from m0core.cli.console import ConsoleProgress
from m0core.cli.main import build_options, selection_options
from m0core.errors import InputError
from m0core.model import Highlight


def load_highlights(path: Path) -> list[Highlight]:
    """The highlights of a ``highlights.json`` written by ``m0 analyze``."""
    from m0core.outputs import HIGHLIGHTS_SCHEMA

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("schema") != HIGHLIGHTS_SCHEMA:
            raise ValueError(f"not an {HIGHLIGHTS_SCHEMA} document")
        return [Highlight(start=float(r["start"]), end=float(r["end"]),
                          peak_time=float(r["peak_time"]),
                          peak_db=float(r["peak_db"] if r["peak_db"] is not None else "nan"),
                          score=float(r["score"] if r["score"] is not None else "nan"),
                          kind=str(r.get("kind", "highlight")), index=int(r["index"]))
                for r in doc["highlights"]]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: not a highlights.json from m0 analyze ({exc})") from None


@click.command(epilog="Example: m0 chapters stream.mp4 stream-chapters.mp4 --max-clips 12")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--highlights", "highlights_json", type=click.Path(path_type=Path),
              default=None, help="Use this highlights.json instead of analysing VIDEO again.")
@selection_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def chapters(video: Path, out: Path, highlights_json: Path | None, quiet: bool,
             **values: Any) -> None:
    """Write OUT: a stream copy of VIDEO with one chapter per highlight.

    Nothing is re-encoded, so it takes about as long as copying the file. The chapters are
    named after the highlight's peak time and level; OUT's extension picks the container
    (.mp4, .mkv, .mov, .m4a, .webm).
    """
    from m0core.media.chapters import chapter_muxer, embed_chapters
    from m0core.pipeline.run import analyze

    chapter_muxer(out)  # a wrong extension fails now, not after the analysis
    if highlights_json is not None:
        found = load_highlights(highlights_json)
    else:
        opts = build_options(**values, no_clips=True)
        progress = ConsoleProgress(enabled=not quiet)
        try:
            found = list(analyze(video, None, opts, progress=progress).highlights)
        finally:
            progress.close()
    embed_chapters(video, found, out)
    if not quiet:
        click.echo(f"{len(found)} chapters in {out}")


@click.command(epilog="Example: m0 reference stream.mp4 --json")
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--source", default="pyav", metavar="NAME", help="Audio source plugin.")
@click.option("--analyzer", default="rms-streaming", metavar="NAME", help="Analyzer plugin.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def reference(video: Path, source: str, analyzer: str, as_json: bool, quiet: bool) -> None:
    """Measure VIDEO's levels and suggest thresholds (one streaming pass, no clips).

    Prints the duration, average and maximum level, dynamic range, aggressive / balanced /
    conservative thresholds for the crest selector, what the adaptive default would pick,
    and a level histogram.
    """
    from m0core.options import Options
    from m0core.pipeline.reference import format_reference
    from m0core.pipeline.reference import reference as measure

    progress = ConsoleProgress(enabled=not quiet and not as_json)
    try:
        ref = measure(video, Options(source=source, analyzer=analyzer), progress=progress)
    finally:
        progress.close()
    click.echo(json.dumps(ref.to_dict(), indent=2) if as_json else format_reference(ref))
