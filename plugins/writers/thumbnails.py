"""One JPEG per highlight at its peak, cut by parallel ffmpeg processes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from m0core.errors import EncodeError
from m0core.ffmpeg import base_command, input_arg, run
from m0core.model import Highlight, MediaInfo

THUMBS_DIR = "thumbs"


def thumbnail_name(highlight: Highlight) -> str:
    """``thumbs/01.jpg`` style relative path of a highlight's thumbnail."""
    return f"{THUMBS_DIR}/{highlight.index:02d}.jpg"


def thumbnail_command(media: MediaInfo, at: float, out: str | os.PathLike,
                      width: int = 320) -> list[str]:
    """ffmpeg arguments writing the frame of ``media`` at ``at`` s as a JPEG ``width`` px wide.

    Input seeking (``-ss`` before ``-i``) decodes from the keyframe before ``at`` only.
    """
    return base_command() + [
        "-y", "-ss", f"{max(at, 0.0):.3f}", "-i", input_arg(media.path), "-map", "0:V:0",
        "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "4", "-f", "image2",
        input_arg(out),
    ]


def make_thumbnails(media: MediaInfo, highlights: Sequence[Highlight], out_dir: Path, *,
                    workers: int = 1, timeout: float = 60.0) -> dict[int, Path]:
    """Write one thumbnail per highlight under ``out_dir/thumbs``, ``workers`` at a time.

    Returns the path made for each highlight index; media without video gets none. Each JPEG
    is written under a temporary name and renamed; a frame ffmpeg cannot grab is left out
    (the report shows the row without a picture).
    """
    if not media.has_video or not highlights:
        return {}
    folder = out_dir / THUMBS_DIR
    folder.mkdir(exist_ok=True)

    def one(h: Highlight) -> tuple[int, Path | None]:
        final = out_dir / thumbnail_name(h)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".jpg")
        os.close(fd)
        try:
            run(thumbnail_command(media, h.peak_time, tmp), timeout=timeout,
                what=f"thumbnail {h.index}")
            if os.path.getsize(tmp) == 0:
                return h.index, None
            os.replace(tmp, final)
            return h.index, final
        except EncodeError:
            return h.index, None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="m0-thumbs") as pool:
        return {i: p for i, p in pool.map(one, highlights) if p is not None}
