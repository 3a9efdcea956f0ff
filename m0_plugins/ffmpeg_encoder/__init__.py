"""Encoder ``ffmpeg``: parallel ffmpeg processes, input seeking, stream copy or accurate
re-encode, per-clip timeout, atomic writes. Imported when a run cuts clips
(:func:`m0core.plugins.deferred`); the names below are imported on first use."""

from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

if TYPE_CHECKING:
    from .encoder import FFmpegEncoder
    from .naming import clip_extension, clip_name

_LAZY = {"FFmpegEncoder": f"{__name__}.encoder", "clip_extension": f"{__name__}.naming",
         "clip_name": f"{__name__}.naming"}


@hookimpl
def m0_register_encoders(register):
    register("ffmpeg", deferred(f"{__name__}.encoder:FFmpegEncoder"))


__all__ = ["FFmpegEncoder", "clip_extension", "clip_name"]
__getattr__ = loader(__name__, _LAZY, globals())
