"""What the commands share: click's settings, the options that choose how highlights are
found (analyze, batch, chapters, the GUI's form) and how they become :class:`Options`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from m0core.checks import EMPTY_FOLDER, EMPTY_PATH
from m0core.cli.console import warn
from m0core.errors import OptionError
from m0core.options import CUT_MODES
from m0core.shortform import FITS

if TYPE_CHECKING:
    from m0core.options import Options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
           "show_default": True}


def output_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A click callback for an output path given as text: ``""`` (``m0 analyze vod.mp4
    "$OUT"`` with ``OUT`` unset) is an error, not the current folder that ``Path("")`` is;
    else the :class:`~pathlib.Path`."""
    from pathlib import Path

    if value is None:
        return None
    if not value.strip():
        folder = getattr(param.type, "dir_okay", True)
        raise click.BadParameter(EMPTY_FOLDER if folder else EMPTY_PATH)
    return Path(value)


def input_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """:func:`output_path` for a path that is read: ``""`` (``m0 analyze "$VOD"`` with ``VOD``
    unset) is one line saying so, not ``.: is a directory``."""
    if value is not None and not value.strip():
        raise click.BadParameter(EMPTY_PATH)
    return output_path(ctx, param, value)


def report_failed_plugins() -> None:
    """Warn about every plugin that could not be loaded (one line each), and in one line
    about the names in ``M0_LOAD_PLUGINS`` that no installed plugin has."""
    from m0core import plugins

    for info in plugins.failed_plugins():
        warn(plugins.describe_failure(info))
    unknown = plugins.unknown_allowed()
    if unknown:
        warn(plugins.describe_unknown_allowed(unknown))


def given_options(ctx: click.Context, names: Iterable[str]) -> list[str]:
    """The options among the parameters ``names`` of ``ctx``'s command that were given on its
    command line or by environment, spelt as written (``--no-streaming``, not its default)."""
    from click.core import ParameterSource

    given = []
    for param in ctx.command.params:
        if param.name not in names or not isinstance(param, click.Option) or \
                ctx.get_parameter_source(param.name) not in (ParameterSource.COMMANDLINE,
                                                             ParameterSource.ENVIRONMENT):
            continue
        flags = param.secondary_opts if param.is_flag and param.secondary_opts and \
            not ctx.params[param.name] else param.opts
        given.append(max(flags, key=len))
    return given


def check_verbose(verbose: bool, quiet: bool, as_json: bool) -> None:
    """``-v`` beside ``-q`` or ``--json``, which print no summary for it to lengthen, is an
    :class:`OptionError` naming both (it was accepted silently)."""
    if verbose and (quiet or as_json):
        other = "-q" if quiet else "--json"
        raise OptionError(f"-v does nothing with {other} (no summary is printed): drop one")


def _parse_params(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``-P selector.margin_db=8`` → ``{"selector": {"margin_db": 8}}``."""
    stages = ("source", "analyzer", "selector", "encoder")
    result: dict[str, dict[str, Any]] = {s: {} for s in stages}
    given: dict[str, str] = {}  # STAGE.NAME: the value typed
    for item in values:
        key, sep, raw = item.partition("=")
        stage, dot, name = key.partition(".")
        if not sep or not dot or stage not in stages or not name.isidentifier():
            raise click.BadParameter(
                f"{item!r}: expected STAGE.NAME=VALUE with STAGE one of {', '.join(stages)}",
                param_hint="'-P/--param'",
            )
        if key in given:  # the first would do nothing
            raise OptionError(f"-P {key} is given twice ({given[key]}, then {raw}): give it "
                              f"once")
        given[key] = raw
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        result[stage][name] = value
    return result


class _AudioTrack(click.ParamType):
    """``--audio-track``: a track number from 1 or ``all``."""

    name = "N|all"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        from m0core import checks

        try:
            return checks.audio_track(value)
        except OptionError as exc:
            self.fail(str(exc).replace("audio_track", "the audio track"), param, ctx)


AUDIO_TRACK = _AudioTrack()

#: The helps of ``--analyzer`` and ``--source``: m0's own choices, as ``--selector``'s names its.
ANALYZER_HELP = ("Analyzer plugin (rms-streaming, loudness, onset, …; loudness+onset combines "
                 "them).")
SOURCE_HELP = "Audio source plugin (pyav, ffmpeg, soundfile, …)."


def selection_options(f=None, *, chapters: bool = False):
    """The options that choose how highlights are found (analyze, batch, chapters), worded
    for clips, or with ``chapters`` for ``m0 chapters``, which cuts none: ``-l`` is the length
    of a highlight's window, its chapter, and ``--max-chapters`` keeps the best (``--max-clips``
    is still taken, unlisted). Use it bare (``@selection_options``) or called."""
    if f is None:
        return lambda g: selection_options(g, chapters=chapters)
    clip = "window" if chapters else "clip"
    length = ("Length of each highlight's window, which its chapter spans." if chapters
              else "Length of each clip.")
    best = ["--max-chapters", "max_clips"] if chapters else ["--max-clips"]
    decorators = [
        click.option("--analyzer", default=None, metavar="NAME",
                     help=f"{ANALYZER_HELP}  [default: rms-streaming]"),
        click.option("--selector", default="standout", metavar="NAME",
                     help="Highlight selector plugin (standout, adaptive, crest, top, …)."),
        click.option("-s", "--sensitivity", type=float, default=None, metavar="0..1",
                     help="Fewer (0) or more (1) highlights, the same on quiet and loud, talky "
                          "and musical recordings  [default: 0.5]"),
        click.option("--source", default="pyav", metavar="NAME", help=SOURCE_HELP),
        click.option("--audio-track", type=AUDIO_TRACK, default="1", metavar="N|all",
                     help="Audio track to analyse, numbered from 1 as players and OBS do "
                          "(1: OBS's mix); 'all' sums every track. 'm0 probe' lists them."),
        click.option("--streaming/--no-streaming", default=True,
                     help="--no-streaming uses the whole-file rms-legacy analyzer."),
        click.option("-t", "--threshold", type=float, default=None, metavar="DB",
                     help="Minimum level in dBFS (crest's threshold; a floor for the other "
                          "selectors)  "
                          "[default: none; crest's -5]"),
        click.option("-l", "--clip-length", type=float, default=30.0, metavar="SECONDS",
                     help=length),
        click.option("--pre", type=float, default=None, metavar="SECONDS",
                     help=f"Seconds before the peak  [default: 2/3 of the {clip}]"),
        click.option("--post", type=float, default=None, metavar="SECONDS",
                     help="Seconds after the peak  [default: the rest]"),
        click.option(*best, type=int, default=None, metavar="N",
                     help="Keep only the N best highlights, by the selector's score  "
                          "[default: all]"),
        *([click.option("--max-clips", "max_clips_given", type=int, default=None, hidden=True,
                        help="--max-chapters, as analyze and batch spell it.")]
          if chapters else []),
        click.option("--min-gap", type=float, default=None, metavar="SECONDS",
                     help=f"Minimum time between two highlights  [default: half a {clip}]"),
        click.option("--jobs", type=int, default=None, metavar="N",
                     help="Segments of the file decoded in parallel by worker processes (a "
                          "short file by one); 0: in m0's own process, no worker  "
                          "[default: number of cores; 0 on one core]"),
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
        click.option("--cut", type=click.Choice(CUT_MODES, case_sensitive=False), default="copy",
                     help="copy: fast, starts on a keyframe; accurate: re-encode, frame-exact; "
                          "smart: frame-exact, re-encodes only the ends."),
        click.option("--no-clips", is_flag=True, help="Analyse only; write no clips."),
        click.option("-f", "--format", "formats", multiple=True, metavar="NAME",
                     help="Extra output besides highlights.json: csv, edl, otio, fcpxml, "
                          "chapters (repeatable; edl, otio and fcpxml need pip install "
                          "'m0-clipper[timeline]').  [default: none]"),
        click.option("--report/--no-report", default=True,
                     help="Write report.html with a plot, thumbnails and playable clips."),
        short_form_options,
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def short_form_options(f):
    """Clips for Shorts, Reels and TikTok (analyze, batch): frame, loudness, fades, a
    compilation. Checked by :class:`~m0core.shortform.ShortForm`; any of them re-encodes."""
    decorators = [
        click.option("--aspect", default=None, metavar="W:H",
                     help="Frame shape of the clips, e.g. 9:16, 1:1, 4:5 (re-encodes; needs "
                          "video)  [default: the source's]"),
        click.option("--fit", type=click.Choice(FITS, case_sensitive=False), default="blur",
                     help="How a frame of another shape (--aspect) fits: blur (the whole "
                          "frame over a blurred copy), crop (a centred cut) or pad (bars)."),
        click.option("--height", type=int, default=None, metavar="PX",
                     help="Frame height in pixels, even  [default: the source's, at most 1920]"),
        click.option("--loudness", type=float, default=None, metavar="LUFS",
                     help="Normalise each clip to this integrated loudness, e.g. -14 "
                          "(EBU R128, true peak -1 dBTP).  [default: as recorded]"),
        click.option("--fade", type=float, default=0.0, metavar="SECONDS",
                     help="Fade audio and video in and out at both ends of each clip."),
        click.option("--compilation", is_flag=True,
                     help="Also write compilation.mp4: the clips in time order, crossfaded by "
                          "--fade, a chapter per clip."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _check_window(values: dict[str, Any]) -> None:
    """``--pre`` and ``--post`` make the clip; a ``--clip-length`` typed beside them that
    does not add up is an error (it was silently ignored)."""
    pre, post, length = values.get("pre"), values.get("post"), values.get("clip_length")
    ctx = click.get_current_context(silent=True)
    typed = ctx is not None and ctx.get_parameter_source("clip_length") \
        is click.core.ParameterSource.COMMANDLINE
    if pre is None or post is None or length is None or not typed:
        return
    if abs(pre + post - length) > 1e-6:
        raise OptionError(f"--pre {pre:g} and --post {post:g} make {pre + post:g} s clips, "
                          f"not --clip-length {length:g}: give two of the three")


#: The parameters of the options that only shape the clips: with ``--no-clips`` they do
#: nothing (``m0 batch``'s ``--workers`` counts jobs: its clips' is ``--clip-workers``).
CLIP_PARAMS = ("encoder", "workers", "cut", "aspect", "fit", "height", "loudness", "fade")
#: The short-form options that re-encode every clip whole (``--cut`` then does nothing).
REENCODING = ("aspect", "height", "loudness", "fade")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _check_dead(no_clips: bool, values: dict[str, Any], params: tuple[str, ...],
                clip_params: Iterable[str]) -> None:
    """An option typed on the command line that does nothing with the others is an error
    naming it (it was accepted silently): a clip option (``clip_params``, ``-P encoder.*``)
    with ``--no-clips``, ``--fit`` without ``--aspect``, ``--cut copy`` or ``smart`` beside
    a short-form option, which re-encodes every clip whole."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or "no_clips" not in ctx.params:  # the GUI's form, m0 chapters: no clips
        return
    if no_clips:
        dead = given_options(ctx, clip_params)
        dead += [f"-P {item}" for item in params if item.startswith("encoder.")]
        if dead:
            them = "it" if len(dead) == 1 else "them"
            raise OptionError(f"{_and(dead)} {'does' if len(dead) == 1 else 'do'} nothing "
                              f"with --no-clips (no clip is cut): drop {them} or --no-clips")
        return
    if values.get("aspect") is None and given_options(ctx, ["fit"]):
        raise OptionError("--fit does nothing without --aspect (the clips keep the source's "
                          "shape): drop it or give --aspect")
    reencoding = [flag for flag in given_options(ctx, REENCODING)
                  if flag != "--fade" or values.get("fade")]
    if reencoding and values.get("cut") != "accurate" and given_options(ctx, ["cut"]):
        raise OptionError(f"--cut {values['cut']} does nothing with {_and(reencoding)} "
                          f"(short-form clips are re-encoded whole, frame-exact): drop --cut")


def build_options(analyzer: str | None, streaming: bool, params: tuple[str, ...],
                  no_clips: bool = False, no_cache: bool = False,
                  clip_params: Iterable[str] = CLIP_PARAMS, **values: Any) -> Options:
    """Options from the parsed command line; ``clip_params`` are the command's options
    that shape the clips only (:data:`CLIP_PARAMS`)."""
    from m0core.options import Options

    if analyzer is None:
        analyzer = "rms-streaming" if streaming else "rms-legacy"
    elif not streaming and analyzer.casefold() != "rms-legacy":
        raise OptionError("--no-streaming selects the rms-legacy analyzer; drop --analyzer")
    _check_window(values)
    extra = _parse_params(params)
    _check_dead(no_clips, values, params, clip_params)
    with flags_named():
        return Options(
            analyzer=analyzer, clips=not no_clips, cache=not no_cache,
            source_params=extra["source"], analyzer_params=extra["analyzer"],
            selector_params=extra["selector"], encoder_params=extra["encoder"],
            **values,
        )


@contextmanager
def flags_named() -> Iterator[None]:
    """An :class:`OptionError` raised inside that names a parameter of the running command
    (``job_timeout must be …``, as the Python API names it) names its option instead
    (``--job-timeout must be …``)."""
    try:
        yield
    except OptionError as exc:
        raise OptionError(_as_flag(str(exc))) from None


def _as_flag(message: str) -> str:
    """``message`` (an :class:`OptionError` of :class:`~m0core.options.Options`, which names
    its fields: ``clip_length must be …``) naming the command line's option instead
    (``--clip-length must be …``), when it begins with the field of one."""
    ctx = click.get_current_context(silent=True)
    name, sep, rest = message.partition(" ")
    if ctx is None or not sep:
        return message
    for param in ctx.command.params:
        if param.name == name and isinstance(param, click.Option) and param.opts:
            return f"{max(param.opts, key=len)} {rest}"
    return message
