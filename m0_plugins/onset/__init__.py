"""Analyzer ``onset``: spectral flux (librosa's onset strength) for sharp reactions.

Each stage is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .flux import Onset

_LAZY = {"Onset": f"{__name__}.flux"}


@hookimpl
def m0_register_analyzers(register):
    register("onset", deferred(f"{__name__}.flux:Onset"))


__all__ = ["Onset"]
__getattr__ = loader(__name__, _LAZY, globals())
