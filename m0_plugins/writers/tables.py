"""Writer ``csv``: one row per highlight, for spreadsheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from m0core.outputs import position, write_text_atomic

if TYPE_CHECKING:
    from m0core.result import AnalysisResult

COLUMNS = ("index", "start", "end", "peak_time", "position", "peak_db", "score", "kind", "clip")


class CsvWriter:
    """``highlights.csv``: the columns of :data:`COLUMNS`, times in seconds."""

    file_name = "highlights.csv"

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write the table; returns its path."""
        buf = io.StringIO()
        table = csv.writer(buf, lineterminator="\n")
        table.writerow(COLUMNS)
        for h in result.highlights:
            clip = result.clip_for(h)
            row = h.to_dict()
            table.writerow([row["index"], row["start"], row["end"], row["peak_time"],
                            position(h.peak_time), row["peak_db"], row["score"], row["kind"],
                            Path(clip.path).name if clip and clip.ok and clip.path else ""])
        target = out_dir / self.file_name
        write_text_atomic(target, buf.getvalue())
        return [target]
