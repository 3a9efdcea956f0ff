"""Analyzer ``loudness``: EBU R128 / ITU-R BS.1770 momentary loudness in LUFS per hop."""

from m0core import hookimpl

from .momentary import Loudness


@hookimpl
def m0_register_analyzers(register):
    register("loudness", Loudness)


__all__ = ["Loudness"]
