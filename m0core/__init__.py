"""m0: find the highlight moments of long recordings from their audio and cut clips with ffmpeg.

The public API::

    import m0core
    result = m0core.analyze("vod.mp4", "out/")          # highlights + clips
    for h in result.highlights: print(h.peak_time, h.peak_db)

Plugins implement the hooks in :mod:`m0core.hookspecs` with :data:`hookimpl`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

from m0core.errors import (
    EncodeError,
    InputError,
    M0Error,
    OptionError,
    OutputError,
    PluginError,
)
from m0core.model import (
    AudioChunk,
    ClipResult,
    Compilation,
    Highlight,
    MediaInfo,
    Stage,
    Timeline,
)
from m0core.options import Options
from m0core.pipeline.run import AnalysisResult, Progress, analyze

try:
    __version__ = version("m0-clipper")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

hookimpl = pluggy.HookimplMarker("m0")

# Imported on first use: analysis, segment workers and cached re-runs never need them, and
# every m0 process pays for what this module imports.
_LAZY = {
    "BatchJob": "m0core.batch.runner",
    "BatchProcessor": "m0core.batch.runner",
    "AudioAnalysis": "m0core.compat",
    "AudioProcessor": "m0core.compat",
    "OptimizedClipGenerator": "m0core.compat",
    "StreamingAudioAnalysis": "m0core.compat",
    "StreamingAudioProcessor": "m0core.compat",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'm0core' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

__all__ = [
    "AnalysisResult",
    "AudioAnalysis",
    "AudioChunk",
    "AudioProcessor",
    "BatchJob",
    "BatchProcessor",
    "OptimizedClipGenerator",
    "Options",
    "Progress",
    "StreamingAudioAnalysis",
    "StreamingAudioProcessor",
    "analyze",
    "ClipResult",
    "Compilation",
    "EncodeError",
    "Highlight",
    "InputError",
    "M0Error",
    "MediaInfo",
    "OptionError",
    "OutputError",
    "PluginError",
    "Stage",
    "Timeline",
    "__version__",
    "hookimpl",
]
