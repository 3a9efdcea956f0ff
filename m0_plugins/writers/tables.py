"""Writer ``csv``: one row per highlight, for spreadsheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from m0core.outputs import highlight_rows, position, write_text_atomic

if TYPE_CHECKING:
    from m0core.result import AnalysisResult

#: New columns go at the end: a spreadsheet or script reading them by position keeps working.
COLUMNS = ("index", "start", "end", "peak_time", "position", "peak_db", "score", "kind", "clip",
           "reason", "clip_start")


class CsvWriter:
    """``highlights.csv``: the columns of :data:`COLUMNS`, times in seconds, as
    ``highlights.json`` has them (an empty cell where it has none: no clip, no level)."""

    file_name = "highlights.csv"

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write the table; returns its path."""
        buf = io.StringIO()
        table = csv.writer(buf, lineterminator="\n")
        table.writerow(COLUMNS)
        for h, row in zip(result.highlights, highlight_rows(result), strict=True):
            row["position"] = position(h.peak_time)
            table.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])
        target = out_dir / self.file_name
        write_text_atomic(target, buf.getvalue())
        return [target]
