"""One run of one file: plan → source → analyzer → selector → encoder → writers.

``run`` drives the stages, ``segments`` decodes a long file in parallel worker processes,
``streaming`` holds the bounded read-ahead, ``cache`` keeps score curves, ``reference`` turns a
curve into level statistics.
"""

from m0core.pipeline.run import AnalysisResult, Progress, analyze

__all__ = ["AnalysisResult", "Progress", "analyze"]
