"""The benchmark media, made once and kept in benchmarks/.media/ (git ignores it).

A 720p VOD at about 3.2 Mbit/s (1.4 GB an hour, like the reference in issue 4). Long files
are made by looping a two-minute synthetic VOD with stream copy, so a 6-hour file costs a
two-minute encode. ``container`` "mp4" is what most tools write; "mkv" is what OBS records by
default; "ts" is what live-stream recorders write; "m4a" is the audio track alone in MP4;
"fragmented" is an MP4 of movie fragments, one a keyframe (OBS's fragmented MP4). A
*stream VOD* (:func:`stream_vod`) is the same video with the audio of a stream-like recording
of real sound, whose many loud moments the default selector judges.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from m0core.dev import synth

from .measure import ffmpeg

MEDIA = Path(__file__).parent / ".media"
BASE_SECONDS = 120.0
SIZE, FPS, BITRATE = "1280x720", 30, "3M"
#: The stream-like recording of a stream VOD: as ``python -m m0core.dev.heldout make FILE
#: --seed 12200 --bed-db -28 --duration SECONDS`` makes it.
STREAM_SEED, STREAM_BED_DB = 12200, -28.0


def vod(minutes: float, container: str = "mp4") -> Path:
    """A ``minutes``-long synthetic 720p VOD (h264 + AAC 48 kHz stereo); for ``"m4a"`` its
    audio alone; ``"fragmented"``: an MP4 of movie fragments."""
    MEDIA.mkdir(exist_ok=True)
    seconds = minutes * 60
    base = MEDIA / f"base_{SIZE}_{BITRATE}_{min(BASE_SECONDS, seconds):g}s.mp4"
    if not base.exists():
        synth.write_vod(base, min(BASE_SECONDS, seconds), size=SIZE, fps=FPS,
                        video_bitrate=BITRATE, seed=11)
    if seconds <= BASE_SECONDS and container == "mp4":
        return base
    fragmented = container == "fragmented"
    suffix = "mp4" if fragmented else container
    target = MEDIA / f"vod_{SIZE}_{BITRATE}_{minutes:g}min{'_fragmented' * fragmented}.{suffix}"
    if not target.exists():
        tmp = target.with_name(f".{target.name}.part.{suffix}")
        flags = ["-movflags", "frag_keyframe+empty_moov+default_base_moof"] if fragmented else []
        subprocess.run(
            ffmpeg("-y", "-stream_loop", "-1", "-i", str(base), "-t", f"{seconds:.3f}",
                   "-map", "0:a" if container == "m4a" else "0", "-c", "copy", *flags,
                   str(tmp)),
            check=True,
        )
        tmp.replace(target)
    return target


def size_gb(path: Path) -> str:
    """The file's size, for table captions."""
    return f"{path.stat().st_size / 1e9:.2f} GB"


def stream_vod(minutes: float) -> Path:
    """The ``minutes``-long VOD of :func:`vod` with the audio of a stream-like recording
    (:func:`m0core.dev.corpus.write`: real recorded music, talk, effects and reactions; its
    packages must be installed: :func:`m0core.dev.corpus.missing`)."""
    from m0core.dev import corpus

    video = vod(minutes)
    target = MEDIA / f"streamvod_{SIZE}_{BITRATE}_{minutes:g}min_v{corpus.VERSION}.mp4"
    if not target.exists():
        audio = MEDIA / f".stream_{minutes:g}min.m4a"
        corpus.write(audio, minutes * 60, seed=STREAM_SEED, bed_db=STREAM_BED_DB,
                     split="validation")
        tmp = target.with_name(f".{target.name}.part.mp4")
        try:
            subprocess.run(ffmpeg("-y", "-i", str(video), "-i", str(audio), "-map", "0:v",
                                  "-map", "1:a", "-c", "copy", "-shortest", str(tmp)),
                           check=True)
        finally:
            audio.unlink(missing_ok=True)
        tmp.replace(target)
    return target
