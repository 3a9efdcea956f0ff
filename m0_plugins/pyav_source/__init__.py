"""Source ``pyav``: decode in-process with PyAV (FFmpeg's libraries), seeking sample-exactly.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .source import PyAVSource

_LAZY = {"PyAVSource": f"{__name__}.source"}


@hookimpl
def m0_register_sources(register):
    register("pyav", deferred(f"{__name__}.source:PyAVSource"))


__all__ = ["PyAVSource"]
__getattr__ = loader(__name__, _LAZY, globals())
