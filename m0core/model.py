"""The public value objects that flow between the pipeline stages.

Every time is in seconds (float). Sample offsets stay inside sources and analyzers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np


def _python_numbers(value: Any) -> None:
    """Set the fields of the dataclass ``value`` that hold numpy numbers (a plugin's, taken
    from an array) to Python's, which json, the CSV and the timelines write as any number."""
    for name in (f.name for f in fields(value)):
        held = getattr(value, name)
        if isinstance(held, np.generic):
            object.__setattr__(value, name, held.item())


@dataclass(frozen=True)
class AudioChunk:
    """A piece of decoded audio: mono float32 samples in -1..1 starting at ``start`` seconds."""

    samples: np.ndarray
    sample_rate: int
    start: float

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError("AudioChunk.samples must be 1-D (mono)")
        samples.flags.writeable = False
        object.__setattr__(self, "samples", samples)

    @property
    def duration(self) -> float:
        """Length of the chunk in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        """Time in seconds just after the last sample."""
        return self.start + self.duration


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a file, numbered as players and OBS number them (from 1).

    ``start`` is where the track begins on the players' timeline (0 = the container's start).
    """

    number: int
    codec: str | None = None
    channels: int = 0
    sample_rate: int = 0
    start: float = 0.0
    title: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        _python_numbers(self)

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {"number": self.number, "codec": self.codec, "channels": self.channels,
                "sample_rate": self.sample_rate, "start": round(self.start, 6),
                "title": self.title, "language": self.language}

    def name(self) -> str:
        """Its name for people: ``track 2 "Mic" (eng)`` (title and language where given)."""
        title = f' "{self.title}"' if self.title else ""
        language = f" ({self.language})" if self.language else ""
        return f"track {self.number}{title}{language}"

    def describe(self) -> str:
        """One line for people: ``track 2 "Mic" (eng): aac, 1 ch, 48000 Hz, starts at 0.0 s``."""
        return (f"{self.name()}: {self.codec or '?'}, "
                f"{self.channels} ch, {self.sample_rate} Hz, starts at {self.start:.3f} s")


@dataclass(frozen=True)
class MediaInfo:
    """What a source found out about a file before decoding it.

    ``sample_rate``, ``channels`` and ``audio_codec`` are those of the audio the source decodes
    (the chosen track); ``tracks`` lists every audio track, when the source can tell.
    """

    path: str
    duration: float | None
    sample_rate: int
    channels: int
    has_audio: bool = True
    has_video: bool = False
    audio_codec: str | None = None
    video_codec: str | None = None
    container: str | None = None
    size: int = 0
    tracks: tuple[AudioTrack, ...] = ()

    def __post_init__(self) -> None:
        _python_numbers(self)
        tracks = tuple(t if isinstance(t, AudioTrack) else AudioTrack(**t) for t in self.tracks)
        object.__setattr__(self, "tracks", tracks)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``source`` block of highlights.json)."""
        return {
            "path": self.path,
            "name": Path(self.path).name,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "has_video": self.has_video,
            "audio_codec": self.audio_codec,
            "video_codec": self.video_codec,
            "container": self.container,
            "size": self.size,
            "audio_tracks": [t.to_dict() for t in self.tracks],
        }


@dataclass(frozen=True)
class Timeline:
    """How a selector turns a score index into time and a peak into a clip window.

    Parameters
    ----------
    hop:
        Seconds per score value (the analyzer's ``hop``).
    duration:
        Length of the media in seconds, when known; clip windows are clamped to it.
    pre, post:
        Seconds of the clip before and after the peak.
    min_gap:
        Minimum seconds between the peaks of two highlights.
    """

    hop: float
    duration: float | None = None
    pre: float = 20.0
    post: float = 10.0
    min_gap: float = 15.0

    def time(self, index: int | float) -> float:
        """Centre time in seconds of score value ``index``."""
        return (index + 0.5) * self.hop

    def window(self, peak_time: float) -> tuple[float, float]:
        """The clip window around ``peak_time``, kept inside the media.

        A window that would start before 0 or end after the end is shifted, not shortened,
        as long as the media is long enough.
        """
        start, end = peak_time - self.pre, peak_time + self.post
        if self.duration is not None and end > self.duration:
            start, end = start - (end - self.duration), self.duration
        if start < 0:
            start, end = 0.0, end - start
        if self.duration is not None:
            end = min(end, self.duration)
        return round(start, 3), round(end, 3)


@dataclass(frozen=True)
class Highlight:
    """A moment worth a clip.

    ``start``/``end`` are the clip window, ``peak_time``/``peak_db`` the loudest point,
    ``score`` the selector's own strength measure, by which ``max_clips`` ranks (``standout``:
    dB·s over its margin, times the chance its sound is a reaction where that was checked;
    ``adaptive`` and ``crest``: dB over their reference), ``kind`` why it was chosen (e.g.
    ``held``, ``faint``, ``burst``, ``voiced``, ``spike``, ``sustained``, ``dynamic``, ``top``).
    ``index`` is its 1-based position in time order, set by the pipeline. ``reason`` says
    in words why it was chosen (e.g. "held: +12 dB over the bed around it for 1.4 s").
    """

    start: float
    end: float
    peak_time: float
    peak_db: float
    score: float
    kind: str = "highlight"
    index: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        _python_numbers(self)  # a selector's values taken from its scores

    @property
    def duration(self) -> float:
        """Clip length in seconds."""
        return self.end - self.start

    def to_dict(self) -> dict:
        """A JSON-ready dict with rounded numbers."""
        return {
            "index": self.index,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "peak_time": round(self.peak_time, 3),
            "peak_db": _finite(self.peak_db),
            "score": _finite(self.score),
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ClipResult:
    """What became of one highlight's clip.

    ``start`` is where the made clip begins in the recording, in seconds as players show
    them (a time ``t`` in the clip is ``start + t`` in the recording): the window's start, or
    the keyframe before it that a copied clip starts with (negative when an edit list hides
    that keyframe before the players' 0); ``None`` when not known.
    """

    highlight: Highlight
    path: str | None
    ok: bool
    error: str | None = None
    seconds: float = 0.0
    start: float | None = None

    def __post_init__(self) -> None:
        _python_numbers(self)


@dataclass(frozen=True)
class Compilation:
    """The clips of a run joined into one video (``--compilation``).

    ``clips`` are the highlight indices it holds, in order; ``chapters`` each one's
    ``(start, end)`` in seconds of the compilation; ``duration`` its length.
    """

    path: str | None
    ok: bool
    clips: tuple[int, ...] = ()
    chapters: tuple[tuple[float, float], ...] = ()
    duration: float = 0.0
    error: str | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        _python_numbers(self)

    def to_dict(self) -> dict:
        """A JSON-ready dict (the ``compilation`` block of highlights.json)."""
        return {
            "file": Path(self.path).name if self.ok and self.path else None,
            "duration": round(self.duration, 3),
            "chapters": [{"index": i, "start": round(a, 3), "end": round(b, 3)}
                         for i, (a, b) in zip(self.clips, self.chapters, strict=True)],
            "error": self.error,
        }


@dataclass(frozen=True)
class Line:
    """The level a score value had to reach to count, as a selector judged it: ``values[k]``
    holds from ``k * step`` seconds (a flat line is one value). What the report draws and
    ``m0 reference`` summarises, kept from the run instead of running the selector again.
    ``label`` says what the line is, as the report's legend names it (``threshold``, or
    standout's ``running level + 10 dB``: its running level plus its margin)."""

    step: float
    values: np.ndarray
    label: str = "threshold"

    def __post_init__(self) -> None:
        _python_numbers(self)

    @classmethod
    def flat(cls, level: float, hop: float, count: int, label: str = "threshold") -> Line:
        """A flat line at ``level`` over ``count`` score values of ``hop`` seconds, in bins of
        about one second (as the report draws it)."""
        size = max(1, int(round(1.0 / hop)))
        return cls(size * hop, np.full(max(1, -(-count // size)), float(level)), label)

    def to_dict(self) -> dict:
        """``{"step": seconds, "values": [dB, ...], "label": ...}`` with one decimal."""
        return {"step": self.step, "values": [round(float(v), 1) for v in self.values],
                "label": self.label}


@dataclass(frozen=True)
class Stage:
    """A plugin chosen for a stage: its registered name and the parameters it was built with."""

    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "params": dict(self.params)}


def _finite(value: float) -> float | None:
    return round(float(value), 2) if math.isfinite(value) else None
