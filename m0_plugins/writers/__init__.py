"""Writers: ``report`` (report.html + thumbnails), ``csv``, ``edl``, ``otio``, ``fcpxml`` and
``chapters``. highlights.json and index.json are written by m0 itself, always."""

from functools import partial

from m0core import hookimpl

from .chapters import ChaptersWriter
from .report import ReportWriter
from .tables import CsvWriter
from .timelines import FORMATS, TimelineWriter


@hookimpl
def m0_register_writers(register):
    """Register the built-in writers."""
    register("report", ReportWriter)
    register("csv", CsvWriter)
    register("chapters", ChaptersWriter)
    for fmt in FORMATS:
        register(fmt, partial(TimelineWriter, fmt))


__all__ = ["ChaptersWriter", "CsvWriter", "ReportWriter", "TimelineWriter"]
