"""Source ``pyav``: decode in-process with PyAV (FFmpeg's libraries), seeking sample-exactly."""

from m0core import hookimpl


def _pyav(**params):
    """Build the source; PyAV is imported only when a run decodes with it."""
    from .source import PyAVSource

    return PyAVSource(**params)


@hookimpl
def m0_register_sources(register):
    register("pyav", _pyav)
