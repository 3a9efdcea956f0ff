"""Where a clip's video is decoded from: the frames and keyframes around a window, read from
the packets with PyAV (no decoding).

FFmpeg's MPEG-TS demuxer has no index, and a seek to a time between two keyframes lands on
the later one: ``ffmpeg -ss T -i x.ts`` starts the video at the first keyframe after ``T``,
up to a GOP late. A seek just after a keyframe's own time lands on it, so a clip of such a
container is sought to the keyframe before its window (:func:`seek_keyframe`).
"""

from __future__ import annotations

import os

from m0core.model import MediaInfo

#: Seconds by which the seeks to a keyframe stay clear of its exact time, so rounding never
#: lands on the keyframe before (well under a frame).
NUDGE = 0.0005
#: Seconds before a window's start that :func:`video_frames` seeks to, in turn, until the
#: frames it reads begin with the keyframe the window's first frame is decoded from.
SEEK_BACK = (1.0, 10.0, 60.0, float("inf"))
#: Containers (FFmpeg's names) whose seeks land on the keyframe after their target.
LATE_SEEKING = frozenset({"mpegts"})


def video_frames(path: str | os.PathLike, start: float, end: float) -> list[tuple[float, bool]]:
    """``(time, is_keyframe)`` of the video frames from the keyframe at or before ``start`` to
    just past ``end``, in display order, times in seconds from the start of the file as
    ``ffmpeg -ss`` counts them. An MPEG-TS seek may land on any frame, so it seeks further
    back (:data:`SEEK_BACK`) until the frames begin with that keyframe."""
    import av

    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        origin = (container.start_time or 0) / 1_000_000
        for back in SEEK_BACK:
            at = max(start - back, 0.0)
            # the start itself: a second before it, as a seek to it can land on an MPEG-TS's
            # second keyframe
            container.seek(int((at + origin if at > 0.0 else origin - 1.0) * 1_000_000),
                           backward=True)
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


def seek_keyframe(media: MediaInfo, start: float) -> float | None:
    """The keyframe at or before ``start`` to seek ``media`` to instead of ``start``, when its
    container's seeks land late (:data:`LATE_SEEKING`) and ``start`` is not that keyframe's
    own time; ``None`` to seek to ``start`` itself (or when the packets cannot be read)."""
    if not media.has_video or media.container not in LATE_SEEKING or start <= 0.0:
        return None
    try:
        keyframe = keyframe_before(video_frames(media.path, start, start), start)
    except Exception:  # PyAV raises its own error types for files it cannot demux
        return None
    return keyframe if keyframe is not None and start - keyframe > 2 * NUDGE else None
