"""Writer ``csv``: one row per highlight, for spreadsheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from m0core.outputs import highlight_rows, position, write_text_atomic

if TYPE_CHECKING:
    from m0core.result import AnalysisResult

#: What a spreadsheet (Excel, LibreOffice, Google Sheets) takes a cell beginning with for a
#: formula: ``+14 dB over …`` would read ``#NAME?``, ``=HYPERLINK(…)`` would run.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: New columns go at the end: a spreadsheet or script reading them by position keeps working.
COLUMNS = ("index", "start", "end", "peak_time", "position", "peak_db", "score", "kind", "clip",
           "reason", "clip_start")


def cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet reads as it is: a text it would take for a formula
    (:data:`FORMULA_START`; a plugin's reason, a clip's name) begins with ``'``, as OWASP
    advises; numbers, and texts that are numbers, stay."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


class CsvWriter:
    """``highlights.csv``: the columns of :data:`COLUMNS`, times in seconds, as
    ``highlights.json`` has them (an empty cell where it has none: no clip, no level; a text
    a spreadsheet would take for a formula begins with ``'``: :func:`cell`)."""

    file_name = "highlights.csv"

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write the table; returns its path."""
        buf = io.StringIO()
        table = csv.writer(buf, lineterminator="\n")
        table.writerow(COLUMNS)
        for h, row in zip(result.highlights, highlight_rows(result), strict=True):
            row["position"] = position(h.peak_time)
            table.writerow(["" if row.get(c) is None else cell(row[c]) for c in COLUMNS])
        target = out_dir / self.file_name
        write_text_atomic(target, buf.getvalue())
        return [target]
