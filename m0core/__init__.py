"""m0: find the highlight moments of long recordings from their audio and cut clips with ffmpeg.

The public API::

    import m0core
    result = m0core.analyze("vod.mp4", "out/")          # highlights + clips
    for h in result.highlights: print(h.peak_time, h.peak_db)

Plugins implement the hooks in :mod:`m0core.hookspecs` with :data:`hookimpl`; the stage
contracts are :mod:`m0core.contracts`. Every name here is imported on first use, so that
``m0 --version``, segment workers and cached re-runs pay only for what they use; so are those
two modules (:data:`_SUBMODULES`): ``m0core.contracts.Analyzer`` works after ``import m0core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from m0core.lazy import loader

#: Where each public name lives.
_LAZY = {
    "AnalysisResult": "m0core.result",
    "AudioChunk": "m0core.model",
    "AudioTrack": "m0core.model",
    "ClipResult": "m0core.model",
    "Compilation": "m0core.model",
    "Highlight": "m0core.model",
    "Line": "m0core.model",
    "MediaInfo": "m0core.model",
    "Stage": "m0core.model",
    "Timeline": "m0core.model",
    "Options": "m0core.options",
    "Progress": "m0core.pipeline.run",
    "analyze": "m0core.pipeline.run",
    "EncodeError": "m0core.errors",
    "InputError": "m0core.errors",
    "M0Error": "m0core.errors",
    "OptionError": "m0core.errors",
    "OutputError": "m0core.errors",
    "PluginError": "m0core.errors",
    "hookimpl": "m0core.hookspecs",
    "__version__": "m0core.version",
    "BatchJob": "m0core.batch.runner",
    "BatchProcessor": "m0core.batch.runner",
    "AudioAnalysis": "m0core.compat",
    "AudioProcessor": "m0core.compat",
    "OptimizedClipGenerator": "m0core.compat",
    "StreamingAudioAnalysis": "m0core.compat",
    "StreamingAudioProcessor": "m0core.compat",
}

#: The submodules a plugin's author reaches from ``m0core`` (imported on first use too).
_SUBMODULES = ("contracts", "hookspecs")

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from m0core import contracts as contracts
    from m0core import hookspecs as hookspecs
    from m0core.batch.runner import BatchJob, BatchProcessor
    from m0core.compat import (
        AudioAnalysis,
        AudioProcessor,
        OptimizedClipGenerator,
        StreamingAudioAnalysis,
        StreamingAudioProcessor,
    )
    from m0core.errors import (
        EncodeError,
        InputError,
        M0Error,
        OptionError,
        OutputError,
        PluginError,
    )
    from m0core.hookspecs import hookimpl
    from m0core.model import (
        AudioChunk,
        AudioTrack,
        ClipResult,
        Compilation,
        Highlight,
        Line,
        MediaInfo,
        Stage,
        Timeline,
    )
    from m0core.options import Options
    from m0core.pipeline.run import Progress, analyze
    from m0core.result import AnalysisResult


__getattr__ = loader(__name__, _LAZY, globals(), _SUBMODULES)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__all__ = [
    "AnalysisResult",
    "AudioAnalysis",
    "AudioChunk",
    "AudioProcessor",
    "AudioTrack",
    "BatchJob",
    "BatchProcessor",
    "ClipResult",
    "Compilation",
    "EncodeError",
    "Highlight",
    "InputError",
    "Line",
    "M0Error",
    "MediaInfo",
    "OptimizedClipGenerator",
    "OptionError",
    "Options",
    "OutputError",
    "PluginError",
    "Progress",
    "Stage",
    "StreamingAudioAnalysis",
    "StreamingAudioProcessor",
    "Timeline",
    "__version__",
    "analyze",
    "hookimpl",
]
