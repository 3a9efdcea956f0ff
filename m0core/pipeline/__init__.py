"""One run of one file: plan → source → analyzer → selector → encoder → writers.

``plan`` resolves the options once, ``run`` drives the stages, ``segments`` decodes a long file
in parallel worker processes, ``streaming`` holds the bounded read-ahead, ``cache`` keeps score
curves, ``selections`` the highlights chosen on them, ``reference`` turns a curve into level
statistics. The names below are imported on
first use, so a segment worker (``python -m m0core.pipeline.segments``) loads only what it
needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from m0core.lazy import loader

if TYPE_CHECKING:
    from m0core.pipeline.run import AnalysisResult, Progress, analyze

_LAZY = {"AnalysisResult": "m0core.result", "Progress": "m0core.pipeline.run",
         "analyze": "m0core.pipeline.run"}

__all__ = ["AnalysisResult", "Progress", "analyze"]


__getattr__ = loader(__name__, _LAZY, globals())
