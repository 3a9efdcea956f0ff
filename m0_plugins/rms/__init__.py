"""Analyzers ``rms-streaming`` (the default) and ``rms-legacy``: RMS level in dBFS per hop.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .legacy import RmsLegacy
    from .streaming import RmsStreaming

_LAZY = {"RmsLegacy": f"{__name__}.legacy", "RmsStreaming": f"{__name__}.streaming"}


@hookimpl
def m0_register_analyzers(register):
    register("rms-streaming", deferred(f"{__name__}.streaming:RmsStreaming"))
    register("rms-legacy", deferred(f"{__name__}.legacy:RmsLegacy"))


__all__ = ["RmsLegacy", "RmsStreaming"]
__getattr__ = loader(__name__, _LAZY, globals())
