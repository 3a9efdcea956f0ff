"""Encoder ``ffmpeg``: parallel ffmpeg processes, input seeking, stream copy or accurate
re-encode, per-clip timeout, atomic writes."""

from m0core import hookimpl

from .encoder import FFmpegEncoder
from .naming import clip_extension, clip_name


@hookimpl
def m0_register_encoders(register):
    register("ffmpeg", FFmpegEncoder)


__all__ = ["FFmpegEncoder", "clip_extension", "clip_name"]
