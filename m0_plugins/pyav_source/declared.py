"""The :class:`MediaInfo` a container's declarations make, one audio track chosen: what the
outlines of Matroska and MPEG-TS files (:mod:`.matroska`, :mod:`.mpegts`) return."""

from __future__ import annotations

from pathlib import Path

from m0core.model import AudioTrack, MediaInfo


def media_info(path: Path, *, duration: float, size: int, tracks: tuple[AudioTrack, ...],
               track: int, video_codec: str | None, container: str) -> MediaInfo:
    """A file of ``size`` bytes and ``duration`` seconds holding the audio ``tracks``, of which
    ``track`` (from 1) is the one analysed, and a video stream of ``video_codec`` (or none)."""
    chosen = tracks[track - 1]
    return MediaInfo(path=str(path), duration=duration, sample_rate=chosen.sample_rate,
                     channels=chosen.channels, has_audio=True, has_video=video_codec is not None,
                     audio_codec=chosen.codec, video_codec=video_codec, container=container,
                     size=size, tracks=tracks)
