"""Where a clip's video is decoded from: the frames and keyframes around a window, read from
the packets with PyAV (no decoding).

FFmpeg's MPEG-TS and MPEG-PS (.mpg, .vob) demuxers have no index, and a seek to a time
between two keyframes lands on the later one: ``ffmpeg -ss T -i x.ts`` starts the video at
the first keyframe after ``T``, up to a GOP late. A seek just after a keyframe's own time
lands on it, so a clip of such a container is sought to the keyframe before its window
(:func:`seek_point`). In every container, a seek to a time before the video's first
keyframe lands on that keyframe, the other streams with it: a recording whose video starts
after its sound is not sought. A window that starts in a gap of the video (a reconnected
stream's) is sought to the keyframe before it too, so a re-encoded clip can hold the frame
players hold there (:class:`Seek`).
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from m0core.model import MediaInfo

#: Seconds by which the seeks to a keyframe stay clear of its exact time, so rounding never
#: lands on the keyframe before (well under a frame).
NUDGE = 0.0005
#: Seconds before a window's start that :func:`video_frames` seeks to, in turn, until the
#: frames it reads begin with the keyframe the window's first frame is decoded from.
SEEK_BACK = (1.0, 10.0, 60.0, float("inf"))
#: Seconds from the file's start within which a window is looked at in a container whose
#: seeks land right, for a video that starts after the sound (later, a keyframe is taken to
#: come before the window): looking reads the packets' times (an MP4's from its sample
#: tables, a block at a time; other containers opened with PyAV), once per clip.
EARLY = 30.0
#: Containers (FFmpeg's names) whose seeks land on the keyframe after their target: MPEG-TS
#: and MPEG-PS.
LATE_SEEKING = frozenset({"mpegts", "mpeg"})
#: Seconds before the other streams of a copied clip begin within which an audio track may
#: end and still be one of the window's (:func:`copied_streams`).
ENDED_BEFORE = 1.0
#: Seconds before the recording's start within which a copied clip is taken to begin at it
#: (:func:`copied_start`): its sound copied a little ahead of the keyframe, a frame's
#: rounding. Further before, the copy holds what an edit list hides from players before their
#: 0 (a recording cut from another by copying its streams starts after a keyframe).
BEFORE_START = 0.05
#: Frames' time (at the video's typical rate) after a window's start with no new frame, past
#: which a re-encoded clip holds the frame players show at the start (:func:`hold_rate`).
HOLD_AFTER = 2


def video_frames(path: str | os.PathLike, start: float, end: float) -> list[tuple[float, bool]]:
    """``(time, is_keyframe)`` of the video frames from the keyframe at or before ``start`` to
    just past ``end``, in display order, times in seconds from the start of the file as
    ``ffmpeg -ss`` counts them. An MPEG-TS seek may land on any frame, so it seeks further
    back (:data:`SEEK_BACK`) until the frames begin with that keyframe. An MP4 or MOV file's
    frames are read from its sample tables, without FFmpeg's libraries
    (:func:`m0_plugins.pyav_source.mp4video.frame_times`): FFmpeg's demuxer would index
    every sample of the file to open it."""
    from m0_plugins.pyav_source.mp4video import Unsupported, frame_times

    try:
        return frame_times(Path(path), start, end)
    except (Unsupported, OSError):
        pass
    import av

    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        origin = (container.start_time or 0) / 1_000_000
        for back in SEEK_BACK:
            at = max(start - back, 0.0)
            # the start itself: a second before it, as a seek to it can land on an MPEG-TS's
            # second keyframe (or at 0, where the demuxer refuses a time before it: an FLV's)
            target = at + origin if at > 0.0 else origin - 1.0
            try:
                container.seek(int(target * 1_000_000), backward=True)
            except av.FFmpegError:
                if target >= 0.0:
                    raise
                container.seek(0, backward=True)
            frames = []
            for packet in container.demux(stream):
                if packet.pts is None:
                    continue
                t = float(packet.pts * stream.time_base) - origin
                frames.append((t, bool(packet.is_keyframe)))
                if t > end + 1.0:  # past any frame that B-frame reordering could still show
                    break
            if at == 0.0 or keyframe_before(frames, start) is not None:
                break
    return sorted(frames)


def keyframe_before(frames: list[tuple[float, bool]], start: float) -> float | None:
    """The time of the last keyframe of ``frames`` at or before ``start``, if any."""
    return max((t for t, key in frames if key and t <= start), default=None)


@dataclass(frozen=True)
class Seek:
    """Where a clip's input is sought instead of its window's start (:func:`seek_point`)."""

    #: Seconds into the recording; 0.0: the input is not sought.
    at: float
    #: The frame rate at which a re-encoded clip shows its video, holding the frame players
    #: show at the window's start until the next (:func:`hold_rate`); ``None``: as it is.
    hold: Fraction | None = None


def hold_rate(frames: list[tuple[float, bool]], start: float) -> Fraction | None:
    """The typical frame rate of ``frames`` (:func:`video_frames`), when the first of them
    after ``start`` comes more than :data:`HOLD_AFTER` frames after it and one came before
    (a gap of a reconnected stream: players hold that one until the video resumes); else
    ``None`` (no frame to hold, or none after it)."""
    times = [t for t, _ in frames]
    after = [t for t in times if t >= start]
    if not after or times[0] >= start:
        return None
    step = statistics.median_low(b - a for a, b in zip(times, times[1:], strict=False))
    if step <= 0 or after[0] - start <= HOLD_AFTER * step:
        return None
    return Fraction(1 / step).limit_denominator(1001)


def seek_point(media: MediaInfo, start: float) -> Seek | None:
    """Where to seek ``media``'s input to cut a clip from ``start`` s, when not to ``start``
    itself (``None``): not at all (``at`` 0.0) when no keyframe comes at or before ``start``
    (the video starts after it, or with frames that need an earlier keyframe): a seek there
    lands on the video's first keyframe and skips the sound before it (looked at for windows
    in the first :data:`EARLY` seconds only, but for a container whose seeks land late); just
    after the keyframe before ``start`` when the container's seeks land late
    (:data:`LATE_SEEKING`) or when ``start`` is in a gap of the video (:func:`hold_rate`:
    a seek to ``start`` drops the frame players show there)."""
    late = media.container in LATE_SEEKING
    if not media.has_video or start <= 0.0 or (not late and start > EARLY):
        return None
    try:
        frames = video_frames(media.path, start, start)
    except Exception:  # PyAV raises its own error types for files it cannot demux
        return None
    keyframe = keyframe_before(frames, start)
    if keyframe is None:  # read from the start, unless the demuxer marks no keyframe at all
        return Seek(0.0) if any(key for _, key in frames) else None
    hold = hold_rate([f for f in frames if f[0] >= keyframe], start)
    if hold is not None or (late and start - keyframe > 2 * NUDGE):
        return Seek(keyframe + NUDGE, hold)
    return None


def copied_start(media: MediaInfo, start: float, seek: Seek | None,
                 clip: str | os.PathLike, end: float | None = None) -> float:
    """Seconds into ``media`` (players' time) at which ``clip``, copied from ``start`` (to
    ``end``) with ``seek`` (:func:`seek_point`), begins: a time ``t`` in the clip is that plus
    ``t`` in the recording. A copy starts with the keyframe before the window: its time in the
    recording, less the time the clip shows it at (the sound copied with it may begin a little
    earlier). For audio-only media, ``start`` itself (every sound packet can start a copy),
    but in a container whose seeks land early on sound (an MPEG-TS: on the packet of several
    frames that holds ``start``, a few tenths of a second before it) the copy, which ends at
    ``end``, begins its sound's length before that. ``start`` where the frames cannot be
    read; 0.0 for a clip that is not sought (``seek.at`` 0). Negative for a clip that begins
    more than :data:`BEFORE_START` before the players' 0, with a keyframe an edit list
    hides (a recording cut from another by copying its streams); 0.0 for one less before."""
    if seek is not None and seek.at == 0.0:
        return 0.0
    if not media.has_video:
        if end is None or media.container not in LATE_SEEKING:
            return start
        try:
            length = sound_length(clip)
        except Exception:  # PyAV raises its own error types for files it cannot demux
            return start
        return start if length is None else min(start, max(end - length, 0.0))
    try:
        keyframe = keyframe_before(video_frames(media.path, start, start), start)
        first = video_frames(clip, 0.0, 0.0)
    except Exception:  # PyAV raises its own error types for files it cannot demux
        return start
    if keyframe is None or not first:
        return start
    begins = keyframe - first[0][0]
    return begins if begins < -BEFORE_START else max(begins, 0.0)


@dataclass(frozen=True)
class CopiedStreams:
    """What a copied clip's streams tell about its window (:func:`copied_streams`).

    ``tracks``: the audio tracks (numbered from 1) the clip is to keep, when not every one
    (``None``: keep every one). ``picture_ended``: its picture ends before its window.
    """

    tracks: list[int] | None = None
    picture_ended: bool = False


def copied_streams(clip: str | os.PathLike, length: float) -> CopiedStreams:
    """Read the copied ``clip``, which ends with its window of ``length`` s, once (PyAV, no
    decoding) for what FFmpeg's seek may have put before that window:

    - an audio track that ends more than :data:`ENDED_BEFORE` s before the clip's other
      streams begin (its picture, else its latest starting sound): an MP4's seek puts a
      track that ended before the window on its last sample, which the copy keeps, so the
      clip began there (it is to keep the others);
    - a picture that ends more than :data:`ENDED_BEFORE` s before the window (a still
      picture: a podcast's cover made a video of one frame; a video that stopped before the
      sound): the seek lands on its last keyframe, so the copy began there, up to the
      recording's start.

    Nothing is said of a clip whose streams cannot be read. An MP4 clip whose own boxes show
    every track reaching its window (:func:`_reaches_window`) is not opened with FFmpeg's
    demuxer, which costs m0's process ~10 MiB more of its peak."""
    import av

    if _reaches_window(Path(clip), length):
        return CopiedStreams()
    try:
        with av.open(os.fspath(clip)) as container:
            tracks = _tracks_in_window(container)
            return CopiedStreams(tracks, _picture_before_window(container, length))
    except Exception:  # PyAV raises its own error types for files it cannot demux
        return CopiedStreams()


def _reaches_window(clip: Path, length: float) -> bool:
    """Whether every audio and video track of the MP4 ``clip``, which ends with its window of
    ``length`` s, lasts from no later than the others begin to the window's start, read from
    its boxes (:func:`m0_plugins.pyav_source.mp4.track_spans`): then the seek put nothing
    before the window that :func:`copied_streams` is to find. ``False`` where the boxes do
    not say so plainly: FFmpeg's demuxer then reads the clip."""
    from m0_plugins.pyav_source.mp4 import track_spans

    read = track_spans(clip)
    if read is None:
        return False
    seconds, spans = read
    window = seconds - length
    return min(end for _, end in spans) >= max(window, *(start for start, _ in spans))


def _tracks_in_window(container: Any) -> list[int] | None:
    """:attr:`CopiedStreams.tracks` of the open PyAV ``container``."""
    import av

    def span(stream) -> tuple[float, float] | None:
        if stream.start_time is None or stream.duration is None:
            return None
        start = float(stream.start_time * stream.time_base)
        return start, start + float(stream.duration * stream.time_base)

    video = next((span(s) for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic), None)
    sound = [span(s) for s in container.streams.audio]
    begins = video[0] if video is not None else max((s[0] for s in sound if s), default=None)
    if begins is None:
        return None
    ended = {n for n, s in enumerate(sound, start=1) if s and s[1] < begins - ENDED_BEFORE}
    return [n for n in range(1, len(sound) + 1) if n not in ended] if ended else None


def _picture_before_window(container: Any, length: float) -> bool:
    """:attr:`CopiedStreams.picture_ended` of the open PyAV ``container`` (the clip's window
    lasts ``length`` s)."""
    import av

    from m0_plugins.pyav_source.mp4 import CONTAINER

    stream = next((s for s in container.streams.video
                   if not s.disposition & av.stream.Disposition.attached_pic), None)
    if stream is None or not container.duration:
        return False
    ends = ((container.start_time or 0) + container.duration) / 1_000_000
    before = ends - length - ENDED_BEFORE  # the picture must reach past this
    if before <= 0.0:
        return False
    if container.format.name == CONTAINER and stream.start_time is not None \
            and stream.duration:  # the track's own, from its tables
        return float((stream.start_time + stream.duration) * stream.time_base) < before
    # FFmpeg gives other streams the file's duration: their packets tell
    return not any(float((p.pts + (p.duration or 0)) * stream.time_base) >= before
                   for p in container.demux(stream) if p.pts is not None)


def sound_length(path: str | os.PathLike) -> float | None:
    """Seconds from the first sound packet of ``path`` to the end of its last (its first
    audio track's, read from the packets); ``None`` if it has none."""
    import av

    with av.open(os.fspath(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        first = last = None
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * stream.time_base)
            first = t if first is None else min(first, t)
            done = t + float((packet.duration or 0) * stream.time_base)
            last = done if last is None else max(last, done)
    return None if first is None else last - first
