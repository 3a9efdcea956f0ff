"""The stage contracts as code: what a source, analyzer, selector, encoder and writer must
have (and may have), as :class:`typing.Protocol` classes.

A plugin does not inherit from these; any object with the required members fits (structural
typing). The pipeline is typed against them, ``isinstance(obj, Analyzer)`` checks the required
members at run time, and the author guide's contract table (docs/plugins/README.md) is
generated from :data:`OPTIONAL` and the protocols, and checked against them by a test.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from m0core import checks
from m0core.model import AudioChunk, ClipResult, Compilation, Highlight, Line, MediaInfo

if TYPE_CHECKING:
    from concurrent.futures import Future

    from m0core.result import AnalysisResult


@runtime_checkable
class Source(Protocol):
    """Reads a file's audio as mono float32 chunks, holding a bounded amount of it."""

    def probe(self, path: str) -> MediaInfo:
        """What the file holds; raise :class:`m0core.InputError` for a file it cannot read."""
        ...

    def chunks(self, path: str, *, chunk_seconds: float = 10.0, start: float = 0.0,
               duration: float | None = None) -> Iterator[AudioChunk]:
        """Chunks in time order from ``start`` (seconds on the players' timeline) for
        ``duration`` seconds (``None``: to the end)."""
        ...


@runtime_checkable
class Analyzer(Protocol):
    """Turns audio chunks into a dB-like score curve, one value per ``hop`` seconds."""

    hop: float

    def feed(self, chunk: AudioChunk) -> np.ndarray:
        """The score values this chunk completed, in order."""
        ...


@runtime_checkable
class Selector(Protocol):
    """Turns the score curve, in order, into highlights as soon as they are final."""

    def feed(self, scores: np.ndarray) -> list[Highlight]:
        """Take the next score values; return the highlights that became final."""
        ...

    def finish(self) -> list[Highlight]:
        """The stream ended: return the highlights still pending."""
        ...


@runtime_checkable
class Encoder(Protocol):
    """Cuts one clip per highlight, in parallel, each completely or not at all."""

    def submit(self, highlight: Highlight) -> Future[ClipResult]:
        """Start cutting the clip of ``highlight``."""
        ...

    def close(self, cancel: bool = False) -> None:
        """Wait for every submitted clip, or with ``cancel`` stop them and remove what is
        unfinished."""
        ...


@runtime_checkable
class Writer(Protocol):
    """Writes an output file (or several) of a finished run, atomically."""

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write into ``out_dir``; return the paths written. Raise
        :class:`m0core.OutputError` with one line when it cannot."""
        ...


#: Optional members by stage: ``{stage: {member: (signature, meaning)}}``. The pipeline reads
#: them with :func:`optional`; nothing else about a plugin is looked at.
OPTIONAL: dict[str, dict[str, tuple[str, str]]] = {
    "source": {
        "exact_seek": ("bool = False",
                       "chunks(start=...) starts at exactly that sample, so a long file may be "
                       "split into segments decoded in parallel worker processes"),
        "outline": ("(path: str) -> MediaInfo | None",
                    "what probe() says, from what the file declares and without loading a "
                    "decoder (the duration as probe() gives it, the rate and channels may be "
                    "the decoder's to correct); None where it cannot tell. Used when worker "
                    "processes decode: the first one probes, and its MediaInfo replaces the "
                    "outline (another duration costs a restart on the probe's segments)"),
    },
    "analyzer": {
        "finish": ("() -> np.ndarray", "the score values still pending at the end of the "
                                       "stream"),
        "version": ("str = ''", "bump when the values change: cached curves of another "
                                "version are not reused"),
        "unit": ("str = ''", "what the score values are, as m0 reference labels its levels "
                             "(dBFS, LUFS, dB of flux); '' labels them dB"),
    },
    "selector": {
        "line": ("() -> Line | None", "after finish(): the level a score had to reach, as the "
                                      "selector judged it (drawn by the report, used by "
                                      "m0 reference)"),
        "listen": ("(codes: np.ndarray, first: int) -> None",
                   "what the audio sounds like: the mel spectra (uint8 codes, one row of 48 "
                   "bands per 50-ms frame, m0core.judge.spectra) of the frames from first "
                   "on, given before the scores of the same audio; never called for audio "
                   "under 22,050 Hz (the built-in standout checks its moments with them)"),
    },
    "encoder": {
        "compile": ("(clips: list[ClipResult]) -> Compilation",
                    "after the last clip: join the made clips into one video "
                    "(--compilation; without it, --compilation is an error)"),
        "renumber": ("(clips: list[ClipResult], count: int) -> list[ClipResult]",
                     "after the last clip, before compile(): rename the made clips for a run "
                     "of count highlights (the built-in pads their numbers to its width, so "
                     "that 100 or more sort in order); the clips as renamed"),
    },
    "writer": {
        "steps": ("(result: AnalysisResult) -> int",
                  "how many steps write() takes (the report: a thumbnail each, then the "
                  "page); m0 then calls write(result, out_dir, step=callback) and the writer "
                  "calls step() after each, for the progress of the outputs (a writer "
                  "without it is one step)"),
    },
}

#: The protocol of each stage, by the name used in messages and docs.
PROTOCOLS: dict[str, type] = {
    "source": Source,
    "analyzer": Analyzer,
    "selector": Selector,
    "encoder": Encoder,
    "writer": Writer,
}


def required(stage: str) -> list[str]:
    """The names of the members every ``stage`` must have (from its protocol)."""
    protocol = PROTOCOLS[stage]
    return sorted(name for name in protocol.__dict__.get("__annotations__", {})) + sorted(
        name for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_"))


def optional(stage: str, obj: object, member: str) -> object:
    """``obj``'s optional ``member`` of ``stage`` (see :data:`OPTIONAL`) or its default:
    ``None`` for a method, the documented default for a value."""
    if member not in OPTIONAL[stage]:
        raise KeyError(f"{member!r} is not an optional member of a {stage}")
    default: object = None
    signature = OPTIONAL[stage][member][0]
    if "=" in signature:
        default = {"False": False, "''": ""}[signature.split("=", 1)[1].strip()]
    return getattr(obj, member, default)


def _what(value: object) -> str:
    """``value`` in a message about a stage's contract, on one line whatever it holds."""
    return "None" if value is None else f"a value of type {type(value).__name__}"


def stage_problem(stage: str, built: object) -> str | None:
    """What breaks the contract in the object a ``stage``'s factory ``built``, or ``None``:
    it has every member :func:`required` names (``Selector without finish()``), the methods
    callable, an analyzer's ``hop`` a number of seconds above 0."""
    protocol = PROTOCOLS[stage]

    def shown(name: str) -> str:
        return f"{name}()" if callable(vars(protocol).get(name)) else name

    missing = [name for name in required(stage) if not hasattr(built, name)
               or (callable(vars(protocol).get(name)) and not callable(getattr(built, name)))]
    if not missing:
        return _hop_problem(built) if stage == "analyzer" else None
    names = [shown(name) for name in required(stage)]
    has = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return (f"built {_a(type(built).__name__)} without "
            f"{', '.join(shown(m) for m in missing)} ({_a(stage)} has {has})")


def _hop_problem(analyzer: object) -> str | None:
    """What breaks the contract in an analyzer's ``hop``, or ``None``: a number of seconds
    within :data:`m0core.checks.HOP_RANGE`."""
    hop = getattr(analyzer, "hop", None)
    if not above_0(hop):
        return (f"built {_a(type(analyzer).__name__)} whose hop is {hop!r}, not a number of "
                "seconds above 0")
    low, high = checks.HOP_RANGE
    if not low <= hop <= high:  # type: ignore[operator]
        return (f"built {_a(type(analyzer).__name__)} whose hop is {hop:g} s, not from {low:g} "
                f"to {high:g} s (the score curve is kept whole)")
    return None


def _a(word: str) -> str:
    """``word`` after its indefinite article: ``an analyzer``, ``a Selector``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _number(value: object) -> bool:
    """Whether ``value`` is a number (numpy's too), not a bool."""
    return not isinstance(value, bool) and isinstance(value, int | float | np.number)


def above_0(value: object) -> bool:
    """Whether ``value`` is a finite number above 0 (:func:`_number`)."""
    return _number(value) and math.isfinite(value) and value > 0  # type: ignore[arg-type]


def media_problem(media: object) -> str | None:
    """What breaks the contract in what a source's ``probe`` (or ``outline``, when not
    ``None``) gave, or ``None``: an :class:`m0core.MediaInfo`."""
    if not isinstance(media, MediaInfo):
        return f"gave {_what(media)} for the file, not an m0core.MediaInfo"
    return None


def chunk_problem(chunk: object, previous: AudioChunk | None) -> str | None:
    """What breaks the contract in a chunk a source's ``chunks`` gave after ``previous``
    (``None`` for the first), or ``None``: an :class:`m0core.AudioChunk` at a sample rate
    above 0 that stays the same, starting where the previous one ended (within a sample)."""
    if not isinstance(chunk, AudioChunk):
        return f"gave {_what(chunk)} for a chunk, not an m0core.AudioChunk"
    rate = chunk.sample_rate
    if not above_0(rate):
        return f"gave a chunk at a sample rate of {rate!r} Hz"
    if previous is None:
        return None
    if rate != previous.sample_rate:
        return (f"changed the sample rate from {previous.sample_rate} Hz to {rate} Hz at "
                f"{chunk.start:g} s (it is fixed for the whole stream)")
    if abs(chunk.start - previous.end) > 1.0 / rate:
        return (f"gave a chunk starting at {chunk.start:g} s after one that ended at "
                f"{previous.end:g} s (chunks come in time order, with no gaps)")
    return None


def asked_problem(chunk: AudioChunk, first: bool, start: float,
                  duration: float | None) -> str | None:
    """What breaks the contract in where a chunk of ``chunks(start=start,
    duration=duration)`` lies (``first``: the first it gave), or ``None``: the first begins
    at ``start`` and none goes on past ``start + duration`` (within a sample). A source that
    reads another part puts a parallel segment's values at other times."""
    tolerance = 1.0 / chunk.sample_rate
    said = "(chunks(start=, duration=) read that part only)"
    if first and abs(chunk.start - start) > tolerance:
        return (f"gave a first chunk starting at {chunk.start:g} s when asked to start at "
                f"{start:g} s {said}")
    if duration is not None and chunk.end > start + duration + tolerance:
        return (f"gave a chunk ending at {chunk.end:g} s when asked for {duration:g} s from "
                f"{start:g} s {said}")
    return None


def samples_problem(chunk: AudioChunk) -> str | None:
    """What breaks the contract in the samples of a chunk a source gave, or ``None``: finite
    numbers (a NaN would make every analyzer's values NaN, blamed on the analyzer)."""
    bad = ~np.isfinite(chunk.samples)
    if not bad.any():
        return None
    at = chunk.start + int(np.argmax(bad)) / chunk.sample_rate
    return f"samples that are not numbers (NaN or infinite) from {at:g} s"


def score_count(samples: int, sample_rate: int, hop: float) -> int:
    """How many score values an analyzer of ``hop`` seconds gives over a stream of
    ``samples`` samples at ``sample_rate``: one per hop begun, ``ceil(n / round(hop·rate))``."""
    return math.ceil(samples / max(1, round(hop * sample_rate)))


def count_problem(values: int, samples: int, sample_rate: int, hop: float) -> str | None:
    """What breaks the contract in an analyzer giving ``values`` score values in all over
    ``samples`` samples, or ``None``: one per hop begun (:func:`score_count`), or one fewer
    where the last hop is partial (an analyzer may leave out a value for it). Any other count
    would put the values of a later segment at other times."""
    expected = score_count(samples, sample_rate, hop) if samples else 0
    partial = samples % max(1, round(hop * sample_rate)) != 0
    if values == expected or (partial and values == expected - 1):
        return None
    seconds = samples / sample_rate if sample_rate else 0.0
    return (f"returned {values} score values for {seconds:g} s of audio at hop {hop:g} s, "
            f"not {expected} (one per hop begun)")


def scores_problem(returned: object, values: np.ndarray) -> str | None:
    """What breaks the contract in an analyzer's ``feed``/``finish`` return value
    ``returned`` (``values``: it as a float32 array), or ``None``: the values must be a 1-D
    sequence of finite numbers (never NaN or ±inf: a floor value for silence)."""
    if values.ndim != 1:
        shape = f" of shape {values.shape}" if values.ndim else ""
        return f"returned {_what(returned)}{shape}, not a 1-D array of score values"
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        return (f"returned {bad} NaN or infinite score value{'s' * (bad > 1)} (return a floor "
                "value instead)")
    return None


def returned_problem(returned: object, call: str, what: str) -> str | None:
    """What breaks the contract in what a stage's method ``call`` (``"feed()"``) returned
    where a list is due (``what``: ``"a list of highlights"``), or ``None``: any iterable
    but a string (``None``: a ``return`` left out)."""
    if isinstance(returned, str | bytes) or not isinstance(returned, Iterable):
        return f"{call} returned {_what(returned)}, not {what}"
    return None


def highlight_problem(given: object) -> str | None:
    """What breaks the contract in one highlight ``given`` by a selector, or ``None``: it
    must be an :class:`m0core.Highlight` whose ``start``, ``end`` and ``peak_time`` are finite,
    whose window is not empty (``start < end``, ``end > 0``), whose ``peak_db`` and
    ``score`` are numbers and whose ``kind`` and ``reason`` are strings."""
    if not isinstance(given, Highlight):
        return f"gave {_what(given)}, not an m0core.Highlight"
    try:
        times = [float(given.start), float(given.end), float(given.peak_time)]
    except (TypeError, ValueError):
        times = [math.nan]
    if not all(math.isfinite(t) for t in times):
        return (f"gave a highlight with start {given.start!r}, end {given.end!r}, peak_time "
                f"{given.peak_time!r}: times must be finite numbers of seconds")
    if times[1] <= max(times[0], 0.0):
        return (f"gave a highlight whose window is empty (start {times[0]:g} s, end "
                f"{times[1]:g} s; times are seconds from the start of the media)")
    for name in ("peak_db", "score"):  # may be NaN or infinite: written as null
        value = getattr(given, name)
        if not _number(value):
            return f"gave a highlight whose {name} is {value!r}, not a number"
    for name in ("kind", "reason"):
        value = getattr(given, name)
        if not isinstance(value, str):
            return f"gave a highlight whose {name} is {value!r:.60}, not a string"
    return None


def order_problem(given: Highlight, previous: Highlight | None) -> str | None:
    """What breaks the contract in a highlight a selector ``given`` after ``previous`` (the
    last it gave, ``None`` for the first), or ``None``: highlights come in time order (by
    ``peak_time``), as m0 numbers and cuts them when given."""
    if previous is not None and given.peak_time < previous.peak_time:
        return (f"gave a highlight peaking at {given.peak_time:g} s after one peaking at "
                f"{previous.peak_time:g} s (highlights come in time order)")
    return None


def line_problem(line: object) -> str | None:
    """What breaks the contract in what a selector's ``line()`` returned, or ``None``:
    ``None`` or an :class:`m0core.Line` whose ``step`` is a number of seconds above 0 and whose
    ``values`` are a 1-D sequence of finite levels."""
    if line is None:
        return None
    if not isinstance(line, Line):
        return f"line() returned {_what(line)}, not an m0core.Line or None"
    step = line.step
    if not above_0(step):
        return f"line() returned a Line whose step is {step!r}, not a number of seconds above 0"
    try:
        values = np.asarray(line.values, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.zeros((0, 0))
    if values.ndim != 1:
        return "line() returned a Line whose values are not a 1-D sequence of levels"
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        return f"line() returned a Line with {bad} NaN or infinite level{'s' * (bad > 1)}"
    return None


def future_problem(submitted: object) -> str | None:
    """What breaks the contract in what an encoder's ``submit`` returned, or ``None``: a
    :class:`concurrent.futures.Future` (of the clip's :class:`m0core.ClipResult`)."""
    from concurrent.futures import Future

    if isinstance(submitted, Future):
        return None
    return (f"submit() returned {_what(submitted)}, not a concurrent.futures.Future of the "
            "clip's ClipResult (one made at once: future = Future(); "
            "future.set_result(result))")


def clip_problem(result: object) -> str | None:
    """What breaks the contract in the value of an encoder's clip future ``result``, or
    ``None``: it must be an :class:`m0core.ClipResult`, and one that says the clip was made
    names a file that exists (an encoder writes each clip completely or not at all)."""
    if not isinstance(result, ClipResult):
        return f"gave {_what(result)} for a clip, not an m0core.ClipResult"
    if result.ok and not (result.path and os.path.isfile(result.path)):
        return (f"said clip {result.highlight.index} was made as {result.path!r}, but there "
                "is no such file")
    return None


def renumbered_problem(given: list[ClipResult], returned: list[object]) -> str | None:
    """What breaks the contract in the clips an encoder's ``renumber`` ``returned`` for the
    clips it was ``given``, or ``None``: one for each clip given (the same highlights, in any
    order), each fitting :func:`clip_problem`."""
    def indexes(clips: list[object]) -> list[object]:
        return sorted((getattr(getattr(c, "highlight", None), "index", None) for c in clips),
                      key=repr)

    for clip in returned:
        problem = clip_problem(clip)
        if problem is not None:
            return problem
    if indexes(returned) != indexes(list(given)):
        clips = f"{len(returned)} clip{'s' * (len(returned) != 1)}"
        return (f"gave back {clips} from renumber() for the {len(given)} it was given (one "
                "for each, renamed)")
    return None


def compilation_problem(compiled: object) -> str | None:
    """What breaks the contract in what an encoder's ``compile`` gave, or ``None``: an
    :class:`m0core.Compilation` with a ``(start, end)`` chapter for each of its clips, and,
    one that says it was made, naming a file that exists."""
    if not isinstance(compiled, Compilation):
        return f"gave {_what(compiled)} from compile(), not an m0core.Compilation"
    if compiled.ok and not (compiled.path and os.path.isfile(compiled.path)):
        return (f"said the compilation was made as {compiled.path!r}, but there is no such "
                "file")
    clips, chapters = len(compiled.clips), len(compiled.chapters)
    if clips != chapters:
        return (f"gave a compilation of {clips} clip{'s' * (clips != 1)} with {chapters} "
                f"chapter{'s' * (chapters != 1)} (a (start, end) for each clip)")
    return None


def steps_problem(writer: object, count: object) -> str | None:
    """What breaks the contract in a writer with ``steps`` that said ``count`` steps, or
    ``None``: a whole number of at least 0, and a ``write`` that takes ``step``."""
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        return f"steps() returned {count!r}, not a whole number of steps"
    import inspect

    try:
        inspect.signature(writer.write).bind_partial(None, Path(), step=None)  # type: ignore[attr-defined]
    except TypeError:
        return ("has steps() but its write() takes no step (write(result, out_dir, step=None), "
                "calling step() after each)")
    except ValueError:  # no signature to read: the call will tell
        pass
    return None


def written_problem(paths: list[object], out_dir: Path) -> str | None:
    """What breaks the contract in the paths a writer's ``write(result, out_dir)`` returned
    (as a list), or ``None``: each names a file it wrote inside ``out_dir``."""
    for path in paths:
        if not isinstance(path, str | os.PathLike):
            return f"returned {_what(path)} among the paths written, not a path"
        inside = os.path.abspath(path).startswith(os.path.join(os.path.abspath(out_dir), ""))
        if not inside:
            return f"returned {os.fspath(path)!r}, which is not inside the folder it was given"
        if not os.path.isfile(path):
            return f"returned {os.fspath(path)!r} as written, but there is no such file"
    return None


def contract_table() -> str:
    """The author guide's contract table (Markdown), generated from the protocols."""
    import inspect

    rows = [("stage", "member", "required", "meaning")]
    for stage, protocol in PROTOCOLS.items():
        for name in required(stage):
            value = vars(protocol).get(name)
            if value is None:
                sig, doc = f": {protocol.__annotations__[name]}", _HOP_DOC
            else:
                sig, doc = _signature(value), inspect.getdoc(value).replace("\n", " ")
            rows.append((stage, f"`{name}{sig}`", "yes", doc))
        for name, (sig, doc) in OPTIONAL[stage].items():
            sig = sig if sig.startswith("(") else f": {sig}"
            rows.append((stage, f"`{name}{sig}`", "no", doc))
    lines = ["| " + " | ".join(_markdown(cell) for cell in row) + " |" for row in rows]
    lines.insert(1, "|---|---|---|---|")
    return "\n".join(lines)


def _markdown(cell: str) -> str:
    """A table cell: reST roles and literals as Markdown code, ``|`` escaped."""
    import re

    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", cell).replace("``", "`").replace("|", "\\|")


_HOP_DOC = "seconds per score value"


def _signature(method: object) -> str:
    """``(path: str, *, start: float = 0.0) -> X`` of a protocol method, without ``self``."""
    import inspect

    sig = inspect.signature(method)
    parts, star = [], False
    for param in list(sig.parameters.values())[1:]:
        if param.kind is param.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = param.name
        if param.annotation is not param.empty:
            text += f": {param.annotation}"
        if param.default is not param.empty:
            text += f" = {param.default!r}"
        parts.append(text)
    returns = "" if sig.return_annotation is sig.empty else f" -> {sig.return_annotation}"
    return f"({', '.join(parts)}){returns}"
