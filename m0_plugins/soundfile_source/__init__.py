"""Source ``soundfile``: wav/flac/ogg (and mp3 where libsndfile has it) without ffmpeg."""

from m0core import hookimpl

from .source import SoundfileSource


@hookimpl
def m0_register_sources(register):
    register("soundfile", SoundfileSource)


__all__ = ["SoundfileSource"]
