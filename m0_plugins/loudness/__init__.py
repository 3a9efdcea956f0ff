"""Analyzer ``loudness``: EBU R128 / ITU-R BS.1770 momentary loudness in LUFS per hop.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .momentary import Loudness

_LAZY = {"Loudness": f"{__name__}.momentary"}


@hookimpl
def m0_register_analyzers(register):
    register("loudness", deferred(f"{__name__}.momentary:Loudness"))


__all__ = ["Loudness"]
__getattr__ = loader(__name__, _LAZY, globals())
