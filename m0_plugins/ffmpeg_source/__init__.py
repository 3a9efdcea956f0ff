"""Source ``ffmpeg``: any container ffmpeg reads, decoded to mono float32 through a pipe."""

from m0core import hookimpl

from .source import FFmpegSource


@hookimpl
def m0_register_sources(register):
    register("ffmpeg", FFmpegSource)


__all__ = ["FFmpegSource"]
