"""Analyzers ``rms-streaming`` (the default) and ``rms-legacy``: RMS level in dBFS per hop."""

from m0core import hookimpl

from .legacy import RmsLegacy
from .streaming import RmsStreaming


@hookimpl
def m0_register_analyzers(register):
    register("rms-streaming", RmsStreaming)
    register("rms-legacy", RmsLegacy)


__all__ = ["RmsLegacy", "RmsStreaming"]
