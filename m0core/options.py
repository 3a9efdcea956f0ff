"""The options of one analysis run, validated in one place for the CLI, the API and batches."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from m0core import checks, workers
from m0core.checks import flag, number, whole
from m0core.errors import OptionError
from m0core.shortform import ShortForm

if TYPE_CHECKING:
    from m0core.model import Timeline

CUT_MODES = ("copy", "accurate", "smart")
ALWAYS_FORMATS = ("json",)  # highlights.json and index.json, written by m0core.outputs
PRE_SHARE = 2 / 3  # of the clip before the peak: what caused a reaction comes before it


#: The parameters m0 gives a stage itself, by stage: not settable as ``*_params`` (``-P``);
#: the option that sets them, where there is one. (An encoder's ``timeout``, m0's
#: ``clip_timeout``, is also ``-P encoder.timeout=S``: the command line has no option of it.)
SET_BY_M0: dict[str, dict[str, str | None]] = {
    "source": {"audio_track": "--audio-track"},
    "selector": {"timeline": None, "threshold": "--threshold"},
    "encoder": {"media": None, "out_dir": None, "cut": "--cut", "workers": "--workers",
                "short_form": "--aspect, --height, --fade", "audio_track": "--audio-track"},
}


@dataclass(frozen=True)
class Options:
    """Everything that shapes one run of :func:`m0core.analyze`.

    Parameters
    ----------
    source, analyzer, selector, encoder:
        Registered plugin names for each stage.
    threshold:
        Minimum level in dBFS for a highlight. ``crest`` uses it as its threshold (the seed's
        ``-t``); ``standout`` and ``adaptive`` as an absolute floor on top of their relative
        rule. ``None``: each selector's default.
    sensitivity:
        Fewer (towards 0) or more (towards 1) highlights, from 0 to 1; ``None`` is the
        selector's default (0.5). The default ``standout`` selector judges every moment
        relative to the bed around it, so a sensitivity means the same on
        quiet and loud, talky and musical recordings. Selectors without the knob refuse it.
    clip_length:
        Seconds per clip (default 30), split ``pre``/``post`` around the peak (default 2/3
        before, 1/3 after).
    max_clips:
        Keep only the N highest-scoring highlights (the selector's own ranking: for
        ``standout``, how far and how long it held over the bed around it: dB·s over its
        10 dB margin, times the chance its sound is a reaction where that was checked).
    min_gap:
        Minimum seconds between two highlights' peaks (default: half the clip length).
    workers:
        Parallel ffmpeg processes for clips (default: the number of cores).
    cut:
        ``copy`` (stream copy, fast, keyframe-aligned), ``accurate`` (re-encode, frame-exact) or
        ``smart`` (re-encode only the partial GOPs at both ends: frame-exact, near copy speed).
    clips:
        ``False`` analyses only.
    chunk_seconds:
        Seconds of audio decoded per chunk.
    clip_timeout:
        Seconds one clip may take before its ffmpeg is killed.
    formats:
        Extra writers by registered name (``csv``, ``edl``, ``otio``, ``fcpxml``, ``chapters``);
        ``json`` (highlights.json + index.json) is always written.
    report:
        Write ``report.html`` (and its thumbnails) into the output folder.
    jobs:
        Segments of the timeline decoded in parallel, each by a worker process (default: the
        number of cores, and none on one core; 1: the whole file by one worker; 0: in this
        process, no worker). The highlights are the same either way.
    cache:
        Keep the score curve, so a re-run with other selection settings decodes nothing.
    audio_track:
        Which audio track is analysed: its number from 1, as players and OBS number them
        (default 1: OBS's mix of every source), or ``"all"``: every track summed. Passed to
        the source as its ``audio_track`` parameter (when not 1); copied clips keep every
        track (short-form clips, re-encoded, the one analysed; ``"all"``: every track
        mixed).
    aspect, fit, height, loudness, fade:
        Short-form clips (see :class:`~m0core.shortform.ShortForm`): frame shape ``"W:H"``
        (e.g. ``"9:16"``; default the source's), how a frame is fitted to it (``blur``,
        ``crop``, ``pad``), height in pixels (default the source's, at most 1920), integrated
        loudness in LUFS (e.g. ``-14``) and seconds of fade at both ends. Any of them makes
        every clip re-encoded (frame-exact); the analysis (and its cache) does not depend on
        them.
    compilation:
        Also write ``compilation.mp4``: the clips in time order, crossfaded by ``fade``, with
        a chapter per clip.
    source_params, analyzer_params, selector_params, encoder_params:
        Extra keyword parameters for each stage's factory.
    """

    source: str = "pyav"
    analyzer: str = "rms-streaming"
    selector: str = "standout"
    encoder: str = "ffmpeg"
    threshold: float | None = None
    sensitivity: float | None = None
    clip_length: float = 30.0
    pre: float | None = None
    post: float | None = None
    max_clips: int | None = None
    min_gap: float | None = None
    workers: int | None = None
    cut: str = "copy"
    clips: bool = True
    chunk_seconds: float = 5.0
    clip_timeout: float = 300.0
    formats: tuple[str, ...] = ()
    report: bool = True
    jobs: int | None = None
    cache: bool = True
    audio_track: int | str = 1
    aspect: str | None = None
    fit: str = "blur"
    height: int | None = None
    loudness: float | None = None
    fade: float = 0.0
    compilation: bool = False
    source_params: Mapping[str, Any] = field(default_factory=dict)
    analyzer_params: Mapping[str, Any] = field(default_factory=dict)
    selector_params: Mapping[str, Any] = field(default_factory=dict)
    encoder_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_params"):
                params = getattr(self, f.name)
                if not isinstance(params, Mapping) or not all(isinstance(k, str)
                                                              for k in params):
                    raise OptionError(f"{f.name} must be a dict of parameters by name, not "
                                      f"{params!r}")
                object.__setattr__(self, f.name, dict(params))
        self._validate()
        object.__setattr__(self, "audio_track", checks.audio_track(self.audio_track))
        formats = dict.fromkeys(f for f in self.formats
                                 if f.casefold() not in ALWAYS_FORMATS)
        object.__setattr__(self, "formats", tuple(formats))

    @classmethod
    def build(cls, base: Options | None = None, **overrides: Any) -> Options:
        """``base`` (or the defaults) with ``overrides``; unknown names are an error."""
        if base is not None and not isinstance(base, Options):
            raise OptionError(f"options must be an Options (or give them as keywords), not "
                              f"{type(base).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise OptionError(f"unknown option(s): {', '.join(unknown)}")
        return replace(base or cls(), **overrides)

    def _validate(self) -> None:
        for name in ("clips", "report", "cache", "compilation"):
            object.__setattr__(self, name, flag(name, getattr(self, name)))
        for name in ("source", "analyzer", "selector", "encoder"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise OptionError(f"{name} must be a plugin name, not {value!r}")
            given = set(getattr(self, f"{name}_params"))
            for param, option in SET_BY_M0.get(name, {}).items():
                if param in given:
                    raise OptionError(f"{name} parameter {param!r} is set by m0 itself"
                                      f"{f' (use {option})' if option else ''}")
        # m0 hands these to the selector itself; the same one given twice would lose one.
        for name, option in (("sensitivity", "--sensitivity"), ("max_clips", "--max-clips")):
            if getattr(self, name) is not None and name in self.selector_params:
                raise OptionError(f"{name} is given twice: {option} "
                                  f"{getattr(self, name)!r} and selector parameter {name}="
                                  f"{self.selector_params[name]!r} (give one)")
        if self.threshold is not None:
            self._hold("threshold", number("threshold", self.threshold, low=-200.0, high=50.0))
        if self.sensitivity is not None:
            self._hold("sensitivity", number("sensitivity", self.sensitivity, low=0.0, high=1.0))
        self._hold("clip_length", number("clip_length", self.clip_length, low=0.1,
                                         high=24 * 3600.0))
        for name in ("pre", "post", "min_gap"):
            if getattr(self, name) is not None:
                self._hold(name, number(name, getattr(self, name), low=0.0, high=24 * 3600.0))
        if self.pre is not None and self.post is None and self.pre > self.clip_length:
            raise OptionError(
                f"pre ({self.pre:g} s) is longer than the clip ({self.clip_length:g} s)"
            )
        if self.post is not None and self.pre is None and self.post > self.clip_length:
            raise OptionError(
                f"post ({self.post:g} s) is longer than the clip ({self.clip_length:g} s)"
            )
        if self.pre is not None and self.post is not None and self.pre + self.post <= 0:
            raise OptionError("pre + post must be more than 0 seconds")
        # Counts are kept as ints: 3.0 (from JSON) is 3, not a float that cannot slice.
        for name, low, high in (("max_clips", 1, 100_000), ("workers", 1, 256), ("jobs", 0, 64)):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, whole(name, getattr(self, name), low=low,
                                                     high=high))
        if self.cut not in CUT_MODES:
            raise OptionError(f"cut must be one of {', '.join(CUT_MODES)}, not {self.cut!r}")
        self._hold("chunk_seconds", number("chunk_seconds", self.chunk_seconds, low=0.1,
                                           high=600.0))
        if isinstance(self.formats, str) or not isinstance(self.formats, Collection) or \
                not all(isinstance(f, str) and f for f in self.formats):
            raise OptionError(f"formats must be a list of writer names, not {self.formats!r}")
        self._hold("clip_timeout", number("clip_timeout", self.clip_timeout, low=0.01,
                                          high=24 * 3600.0))
        short = self.short_form
        for name in ("height", "loudness", "fade"):
            self._hold(name, getattr(short, name))
        pre, post = self.window
        if short.fade * 2 > pre + post:
            raise OptionError(f"fade ({short.fade:g} s) is longer than half a clip "
                              f"({(pre + post) / 2:g} s)")
        if self.compilation and not self.clips:
            raise OptionError("a compilation is made of the clips: drop --no-clips")
        if "report" in self.formats and not self.report:
            raise OptionError("-f report asks for the report --no-report leaves out: drop one")

    def _hold(self, name: str, checked: float | None) -> None:
        """Hold ``checked``, the value of ``name`` as checked, instead of a number of another
        type than Python's (numpy's ``float32``, say), which highlights.json, the ledger and
        the cache could not write; an ``int`` or ``float`` stays as given."""
        if type(getattr(self, name)) not in (int, float, type(None)):
            object.__setattr__(self, name, checked)

    @property
    def short_form(self) -> ShortForm:
        """The short-form settings, checked."""
        return ShortForm.from_values(self.aspect, self.fit, self.height, self.loudness,
                                     self.fade)

    @property
    def clip_cut(self) -> str:
        """The cut the clips get: short-form settings re-encode, so ``accurate`` then."""
        return "accurate" if self.short_form.active else self.cut

    @property
    def window(self) -> tuple[float, float]:
        """Seconds (pre, post) of each clip around its peak."""
        if self.pre is not None and self.post is not None:
            return float(self.pre), float(self.post)
        if self.pre is not None:
            return float(self.pre), self.clip_length - self.pre
        if self.post is not None:
            return self.clip_length - self.post, float(self.post)
        pre = round(self.clip_length * PRE_SHARE, 3)
        return pre, self.clip_length - pre

    def timeline(self, hop: float, duration: float | None) -> Timeline:
        """The :class:`Timeline` the selector works on."""
        from m0core.model import Timeline  # numpy: not for ``m0 --help``

        pre, post = self.window
        gap = self.min_gap if self.min_gap is not None else (pre + post) / 2
        return Timeline(hop=hop, duration=duration, pre=pre, post=post, min_gap=gap)

    @property
    def source_settings(self) -> dict[str, Any]:
        """The source's parameters: ``source_params`` and, unless it is track 1,
        ``audio_track`` (so a source that cannot choose a track still reads track 1)."""
        settings = dict(self.source_params)
        if self.audio_track != 1:
            settings["audio_track"] = self.audio_track
        return settings

    def stages(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of every plugin this run builds (each part of a combined
        analyzer ``a+b``; the encoder only when clips are cut)."""
        found = [("sources", self.source)]
        from m0core.combine import parts  # numpy: not for the CLI's start-up

        found += [("analyzers", part) for part in parts(self.analyzer)]
        found.append(("selectors", self.selector))
        if self.clips:
            found.append(("encoders", self.encoder))
        found += [("writers", name) for name in self.writers]
        return found

    @property
    def writers(self) -> tuple[str, ...]:
        """Registered writer names this run uses besides highlights.json/index.json."""
        return self.formats + (("report",) if self.report else ())

    @property
    def clip_workers(self) -> int:
        """Parallel clip processes: ``workers`` or the number of cores."""
        return self.workers or os.cpu_count() or 1

    @property
    def decode_jobs(self) -> int:
        """Decoding worker processes at most: ``jobs``, or one per core (none on one core);
        0: this process decodes (:func:`m0core.workers.decoders`)."""
        return workers.decoders(self.jobs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every option."""
        return {
            f.name: dict(getattr(self, f.name)) if f.name.endswith("_params")
            else list(self.formats) if f.name == "formats" else getattr(self, f.name)
            for f in fields(self)
        }
