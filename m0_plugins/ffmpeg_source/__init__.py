"""Source ``ffmpeg``: any container ffmpeg reads, decoded to mono float32 through a pipe.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .source import FFmpegSource

_LAZY = {"FFmpegSource": f"{__name__}.source"}


@hookimpl
def m0_register_sources(register):
    register("ffmpeg", deferred(f"{__name__}.source:FFmpegSource"))


__all__ = ["FFmpegSource"]
__getattr__ = loader(__name__, _LAZY, globals())
