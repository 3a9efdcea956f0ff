"""Writer ``chapters``: an ffmetadata file with one chapter per highlight."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from m0core.media.chapters import ffmetadata
from m0core.outputs import write_text_atomic

if TYPE_CHECKING:
    from m0core.result import AnalysisResult


class ChaptersWriter:
    """``chapters.txt`` (ffmetadata): mux it with
    ``ffmpeg -i vod.mp4 -i chapters.txt -map 0 -map_chapters 1 -c copy out.mp4``, or run
    ``m0 chapters``. The time before and between highlights is a chapter of its own
    (``—``), as MP4 chapters have a start only; in Matroska too, so one file serves both."""

    file_name = "chapters.txt"

    def write(self, result: AnalysisResult, out_dir: Path) -> list[Path]:
        """Write the chapters; returns their path."""
        target = out_dir / self.file_name
        write_text_atomic(target, ffmetadata(result.highlights, contiguous=True))
        return [target]
