"""Writers: ``report`` (report.html + thumbnails), ``csv``, ``edl``, ``otio``, ``fcpxml`` and
``chapters``. highlights.json and index.json are written by m0 itself, always.

Each writer is imported when a run builds it (:func:`m0core.plugins.deferred`); the names
below are imported on first use."""

from functools import partial
from typing import TYPE_CHECKING

from m0core import hookimpl
from m0core.lazy import loader
from m0core.plugins import deferred

from .timelines import FORMATS

if TYPE_CHECKING:
    from .chapters import ChaptersWriter
    from .report import ReportWriter
    from .tables import CsvWriter
    from .timelines import TimelineWriter

_LAZY = {"ChaptersWriter": f"{__name__}.chapters", "ReportWriter": f"{__name__}.report",
         "CsvWriter": f"{__name__}.tables", "TimelineWriter": f"{__name__}.timelines"}


@hookimpl
def m0_register_writers(register):
    """Register the built-in writers."""
    register("report", deferred(f"{__name__}.report:ReportWriter"))
    register("csv", deferred(f"{__name__}.tables:CsvWriter"))
    register("chapters", deferred(f"{__name__}.chapters:ChaptersWriter"))
    timeline = deferred(f"{__name__}.timelines:TimelineWriter")
    for fmt in FORMATS:
        register(fmt, partial(timeline, fmt))


__all__ = ["ChaptersWriter", "CsvWriter", "ReportWriter", "TimelineWriter"]
__getattr__ = loader(__name__, _LAZY, globals())
