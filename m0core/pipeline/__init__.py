"""One run of one file: plan → source → analyzer → selector → encoder → writers.

``plan`` resolves the options once, ``run`` drives the stages, ``segments`` decodes a long file
in parallel worker processes (:func:`prestart` starts one ahead), ``streaming`` holds the
bounded read-ahead, ``cache`` keeps score curves (``cachedir``: where, and of which files,
without numpy), ``selections`` the highlights chosen on them, ``reference`` turns a curve into level
statistics. The names below are imported on
first use, so a segment worker (``python -m m0core.pipeline.segments``) loads only what it
needs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from m0core import workers
from m0core.lazy import loader

if TYPE_CHECKING:
    from m0core.pipeline.run import AnalysisResult, Progress, analyze

_LAZY = {"AnalysisResult": "m0core.result", "Progress": "m0core.pipeline.run",
         "analyze": "m0core.pipeline.run"}

__all__ = ["AnalysisResult", "Progress", "analyze", "prestart"]


def prestart(path: str | os.PathLike, *, jobs: int | None = None, cache: bool = True) -> None:
    """Start a decoding worker now, before the run of ``path`` that needs it is planned, so
    its start-up (the interpreter, numpy, the decoder's libraries: about 0.3 s of CPU) overlaps
    with this process's own imports and planning. For a front end, first thing, with the run's
    ``jobs`` and ``cache`` option: nothing is started when this process decodes (``jobs`` 0,
    or one core), when the cache likely holds the file's curve (nothing is decoded) or for a
    path that is no file (the plan says what is wrong with it). The run's first segment takes
    the worker; one the run does not take is stopped when :func:`analyze` returns or raises."""
    # not imported with this package: a worker would load hashlib's OpenSSL for nothing (4 MB)
    from m0core.pipeline import cachedir

    if not workers.decoders(jobs) or not os.path.isfile(path) or (cache and cachedir.seen(path)):
        return
    workers.prestart(workers.SEGMENTS)


__getattr__ = loader(__name__, _LAZY, globals())
