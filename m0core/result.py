"""What one run found and made: the object every writer receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m0core.model import ClipResult, Compilation, Highlight, Line, MediaInfo, Stage, Timeline
from m0core.options import Options


@dataclass(frozen=True)
class AnalysisResult:
    """What one run found and made.

    ``timeline`` is the one the selector judged by (hop, clip window, spacing) and ``line`` the
    level a moment had to reach, as the selector reported it (``None`` when it reports none):
    writers read them instead of deriving them again.
    """

    media: MediaInfo
    highlights: tuple[Highlight, ...]
    clips: tuple[ClipResult, ...]
    scores: np.ndarray
    hop: float
    options: Options
    source: Stage
    analyzer: Stage
    selector: Stage
    out_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: One line per writer (``--format``, the report) that failed; the other outputs are kept.
    failed_outputs: tuple[str, ...] = ()
    #: Every file the run wrote into ``out_dir`` besides the clips: ``index.json``, the
    #: writers' files (the report and its thumbnails, ``--format``), the compilation and
    #: ``highlights.json``, as published.
    outputs: tuple[str, ...] = ()
    #: What a person may want to know about how the run went (``m0 analyze -v`` shows them).
    notes: tuple[str, ...] = ()
    #: What a person should know of the input (``m0 analyze`` prints them): a recording that
    #: looks cut short, analysed up to where its audio ends.
    warnings: tuple[str, ...] = ()
    timeline: Timeline | None = None
    line: Line | None = None
    #: The clips joined into one video (``compilation=True``), else ``None``.
    compilation: Compilation | None = None
    #: False when the run failed (a clip, the compilation or an output could not be made) in
    #: an output folder that holds a previous run's results: those were left as they were, and this
    #: run's files were thrown away (its clips have no ``path``).
    published: bool = True
    #: What the score values are: the ``unit`` of the analyzer that made them (``dBFS``,
    #: ``LUFS``, ``dB of flux``), ``""`` for one that gives none (or analyzers combined).
    unit: str = ""

    def __post_init__(self) -> None:
        if self.timeline is None:
            object.__setattr__(self, "timeline",
                               self.options.timeline(self.hop, self.media.duration))

    def clip_for(self, highlight: Highlight) -> ClipResult | None:
        """The clip made for ``highlight``, if any."""
        for clip in self.clips:
            if clip.highlight.index == highlight.index:
                return clip
        return None

    @property
    def failed_clips(self) -> tuple[ClipResult, ...]:
        """Clips that could not be made."""
        return tuple(c for c in self.clips if not c.ok)

    @property
    def failed(self) -> bool:
        """Whether a clip or the compilation could not be made."""
        joined = self.compilation
        return bool(self.failed_clips) or (joined is not None and joined.error is not None)

    def problems(self, *, first_error: bool = False) -> list[str]:
        """One line for each thing that went wrong, empty when the run fully succeeded: each
        output that failed, the clips that failed (with the first one's error if
        ``first_error``), the compilation's error, previous results kept instead of this
        run's (:attr:`published`)."""
        problems = list(self.failed_outputs)
        failed = self.failed_clips
        if failed:
            problems.append(f"{len(failed)} of {len(self.clips)} clips failed"
                            + (f": {failed[0].error}" if first_error else ""))
        if self.compilation is not None and self.compilation.error:
            problems.append(self.compilation.error)
        if not self.published:
            problems.append(f"the previous results in {self.out_dir} were kept")
        return problems
