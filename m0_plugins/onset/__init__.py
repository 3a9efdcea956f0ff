"""Analyzer ``onset``: spectral flux (librosa's onset strength) for sharp reactions."""

from m0core import hookimpl

from .flux import Onset


@hookimpl
def m0_register_analyzers(register):
    register("onset", Onset)


__all__ = ["Onset"]
