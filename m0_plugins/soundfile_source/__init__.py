"""Source ``soundfile``: wav/flac/ogg (and mp3 where libsndfile has it) without ffmpeg.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .source import SoundfileSource

_LAZY = {"SoundfileSource": f"{__name__}.source"}


@hookimpl
def m0_register_sources(register):
    register("soundfile", deferred(f"{__name__}.source:SoundfileSource"))


__all__ = ["SoundfileSource"]
__getattr__ = loader(__name__, _LAZY, globals())
