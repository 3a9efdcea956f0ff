"""The benchmark media, made once and kept in benchmarks/.media/ (git ignores it).

Long files are made by looping a short synthetic VOD with stream copy, so an hour-long 720p
file costs a two-minute encode.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from m0core import synth

from .measure import ffmpeg

MEDIA = Path(__file__).parent / ".media"
BASE_SECONDS = 120.0


def vod(minutes: float, size: str = "1280x720", fps: int = 30) -> Path:
    """A ``minutes``-long synthetic VOD (h264 + AAC 48 kHz stereo) of ``size``."""
    MEDIA.mkdir(exist_ok=True)
    name = f"vod_{size}_{minutes:g}min.mp4"
    target = MEDIA / name
    if target.exists():
        return target
    seconds = minutes * 60
    base_seconds = min(BASE_SECONDS, seconds)
    base = MEDIA / f"base_{size}_{base_seconds:g}s.mp4"
    if not base.exists():
        synth.write_vod(base, base_seconds, size=size, fps=fps, seed=11)
    if seconds == base_seconds:
        return base
    tmp = target.with_name(f".{name}.part.mp4")
    subprocess.run(
        ffmpeg("-y", "-stream_loop", "-1", "-i", str(base), "-t", f"{seconds:.3f}",
               "-map", "0", "-c", "copy", str(tmp)),
        check=True,
    )
    tmp.replace(target)
    return target
