"""Source ``pyav``: decode in-process with PyAV (FFmpeg's libraries), seeking sample-exactly."""

from m0core import hookimpl

from .source import PyAVSource


@hookimpl
def m0_register_sources(register):
    register("pyav", PyAVSource)


__all__ = ["PyAVSource"]
