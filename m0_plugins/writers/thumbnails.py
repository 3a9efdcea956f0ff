"""One JPEG per highlight at its peak, grabbed in-process with PyAV.

The video is opened once; for each highlight, in time order, the frames are decoded from the
keyframe at or before the peak up to the first frame shown at or after the peak: the frame
``ffmpeg -ss PEAK -i FILE`` (accurate input seeking) grabs. An MP4 or MOV file's packets come
from m0's reader of its sample tables (:mod:`m0_plugins.pyav_source.mp4video`), in constant
memory: FFmpeg's demuxer would index every sample of the file on opening (about 170 MB for
6 hours of 720p). Other containers, and the MP4s that reader does not read, are opened with
FFmpeg's demuxer, which seeks to the keyframe. The frame is turned upright as
the file's display matrix says (as ffmpeg's autorotate does), scaled to :data:`WIDTH` px
with bicubic filtering like ffmpeg's ``scale`` filter, and encoded by FFmpeg's ``mjpeg``
encoder at the fixed quantiser of ``ffmpeg -q:v`` :data:`JPEG_QSCALE`: the JPEG's luma is
the ffmpeg program's, its chroma differs by a level or two on average. One process start and
one probe less per thumbnail; a thumbnail costs its decoding from the keyframe on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

from m0_plugins.pyav_source.mp4 import Unsupported
from m0_plugins.pyav_source.mp4video import Frames
from m0_plugins.pyav_source.restarts import Part, part_of, parts
from m0core.media.ffmpeg import input_arg
from m0core.model import Highlight, MediaInfo
from m0core.outputs import numbered, write_text_atomic

THUMBS_DIR = "thumbs"
#: Width of a thumbnail in pixels; the height keeps the picture's aspect, rounded to even.
WIDTH = 320
#: The JPEG quantiser as ``ffmpeg -q:v`` counts it (2 best … 31 worst).
JPEG_QSCALE = 4
#: Seconds a frame may start before a peak and still count as the frame at the peak, so
#: float rounding of a peak that falls on a frame's time never skips that frame.
TIME_SLACK = 1e-6


def thumbnail_name(highlight: Highlight, count: int = 0) -> str:
    """``thumbs/01.jpg`` style relative path of a highlight's thumbnail, its number padded to
    the width of ``count``, the run's number of highlights (``thumbs/001.jpg`` from 100 on)."""
    return f"{THUMBS_DIR}/{numbered(highlight.index, count)}.jpg"


def make_thumbnails(media: MediaInfo, highlights: Sequence[Highlight], out_dir: Path, *,
                    timeout: float = 60.0, step: Callable[[], None] | None = None
                    ) -> dict[int, Path]:
    """Write one thumbnail per highlight under ``out_dir/thumbs``, the frame at its peak;
    ``step()`` is called after each highlight's (made or left out), for a progress bar.

    Returns the path made for each highlight index; media without video gets none. Each JPEG
    is written under a temporary name and renamed, so it is complete or absent. A frame that
    cannot be grabbed (a peak past the video's end, a decoding error, more than ``timeout``
    seconds of decoding) is left out: the report shows that row without a picture.
    """
    if not media.has_video or not highlights:
        return {}
    found = parts(media)
    frames = Parted(media.path, found) if found else open_frames(media.path)
    if frames is None:
        return {}
    made: dict[int, Path] = {}
    try:
        (out_dir / THUMBS_DIR).mkdir(exist_ok=True)
        count = max(h.index for h in highlights)
        for h in sorted(highlights, key=lambda h: h.peak_time):
            deadline = time.monotonic() + timeout
            try:
                frame = frames.at(h.peak_time, deadline)
            except Unsupported:  # the sample tables turned out damaged: FFmpeg's demuxer
                frames.close()
                frames = Demuxed.open(media.path)
                if frames is None:
                    break
                frame = frames.at(h.peak_time, deadline)
            if frame is not None:
                made[h.index] = out_dir / thumbnail_name(h, count)
                write_text_atomic(made[h.index], jpeg(frame))
            if step is not None:
                step()
    except BaseException:  # interrupted, or cannot write: no thumbnail stays behind
        for path in made.values():
            path.unlink(missing_ok=True)
        raise
    finally:
        if frames is not None:
            frames.close()
    return made


class FrameSource(Protocol):
    """The video frames of a file by the time they are shown at."""

    def at(self, at: float, deadline: float) -> Any:
        """The first frame shown at or after ``at`` s from the file's start, decoded from the
        keyframe at or before it, turned upright; ``None`` when the video ends first,
        decoding fails or ``time.monotonic()`` passes ``deadline``."""

    def close(self) -> None:
        """Close the file."""


def open_frames(path: str) -> FrameSource | None:
    """The frames of ``path``'s first video track: read by m0's reader of an MP4's sample
    tables where it can, else by FFmpeg's demuxer; ``None`` if neither opens it or it has
    no video."""
    try:
        return Upright(Frames(Path(path)))
    except (Unsupported, OSError):
        return Demuxed.open(path)


class Upright:
    """:class:`~m0_plugins.pyav_source.mp4video.Frames`, turned as the track's matrix says
    (its decoder does not see the matrix, which FFmpeg's demuxer puts on each frame)."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames

    def at(self, at: float, deadline: float) -> Any:
        """See :meth:`FrameSource.at`."""
        frame = self.frames.at(at, deadline)
        return None if frame is None else upright(frame, self.frames.track.rotation)

    def close(self) -> None:
        """Close the file."""
        self.frames.close()


class Demuxed:
    """Frames read through FFmpeg's demuxer (``av.open``): any container, sought to the
    keyframe before each time."""

    def __init__(self, container: Any, stream: Any) -> None:
        self.container, self.stream = container, stream
        # A handful of frames per thumbnail: threads would only add start-up and latency.
        stream.codec_context.thread_count = 1

    @classmethod
    def open(cls, path: str, source: str | None = None) -> Demuxed | None:
        """``path`` opened (read through the FFmpeg input ``source`` if given), or ``None``
        if FFmpeg cannot open it or it has no video."""
        import av

        from m0_plugins.pyav_source.demux import video_streams

        try:
            container = av.open(source or input_arg(path), metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError):
            return None
        streams = video_streams(container)
        if not streams:
            container.close()
            return None
        return cls(container, streams[0])

    def at(self, at: float, deadline: float) -> Any:
        """See :meth:`FrameSource.at`."""
        return grab(self.container, self.stream, at, deadline)

    def close(self) -> None:
        """Close the container."""
        self.container.close()


class Parted:
    """The frames of an MPEG-TS whose timestamps start again: each time is looked up in the
    part of the file it lies in (:mod:`~m0_plugins.pyav_source.restarts`), opened when first
    needed."""

    def __init__(self, path: str, found: list[Part]) -> None:
        self.path, self.parts = path, found
        self.opened: dict[int, Demuxed | None] = {}

    def at(self, at: float, deadline: float) -> Any:
        """See :meth:`FrameSource.at`."""
        part = part_of(self.parts, at)
        if part.begin not in self.opened:
            self.opened[part.begin] = Demuxed.open(self.path, part.source(self.path))
        frames = self.opened[part.begin]
        return None if frames is None else frames.at(at - part.shift, deadline)

    def close(self) -> None:
        """Close the parts opened."""
        for frames in self.opened.values():
            if frames is not None:
                frames.close()


def grab(container: Any, stream: Any, at: float, deadline: float) -> Any:
    """The first frame of ``stream`` shown at or after ``at`` s, as ``ffmpeg -ss`` counts
    time (from the file's start time), decoded from the keyframe at or before it; ``None``
    when the stream ends first, decoding fails, or ``time.monotonic()`` passes
    ``deadline``."""
    import av

    origin = (container.start_time or 0) / 1_000_000
    at = max(at, 0.0)
    try:
        for back in SEEK_BACK:
            start = max(0.0, at - back)
            # from the start: a second before it, as a seek to the start itself can land on
            # the second keyframe of an MPEG-TS
            target = start + origin if start > 0.0 else origin - 1.0
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            frame = _shown_at(container, stream, at, origin, deadline, start > 0.0)
            if frame is not PAST:
                return frame
    except av.FFmpegError:
        return None
    return None


#: Seconds before a peak to seek to, in turn, while the seek lands past the peak: FFmpeg's
#: MPEG-TS demuxer can land on the first keyframe after its target, not the one before.
SEEK_BACK = (0.0, 5.0, 20.0, 60.0, float("inf"))
PAST = object()  # what :func:`_shown_at` returns when the first frame decoded is too late


def _shown_at(container: Any, stream: Any, at: float, origin: float, deadline: float,
              sought: bool) -> Any:
    """The first frame of ``stream`` shown at or after ``at`` s from where the container
    was seeked to; if ``sought`` (to a time after the start), :data:`PAST` when the first
    frame decoded comes after ``at`` (the seek went too far); ``None`` when the stream ends
    first or ``deadline`` passes."""
    first = True
    for packet in container.demux(stream):
        for frame in packet.decode():
            if frame.pts is None:
                continue
            shown = float(frame.pts * stream.time_base) - origin
            if first and sought and shown > at + TIME_SLACK:
                return PAST
            first = False
            if shown >= at - TIME_SLACK:
                return frame
        if time.monotonic() > deadline:
            return None
    return None


def jpeg(frame: Any, width: int = WIDTH) -> bytes:
    """``frame`` upright, ``width`` px wide (even height, the aspect kept) as a JPEG file."""
    import av

    frame = upright(frame)
    height = max(2, 2 * ((width * frame.height + frame.width) // (2 * frame.width)))
    small = frame.reformat(width=width, height=height, format="yuvj420p",
                           interpolation="BICUBIC")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = Fraction(1, 1)
    # One thread: slice threads would add restart markers and drop the optimal Huffman
    # tables. ffmpeg's -q:v sets each frame's quality, which PyAV cannot; a fixed qscale
    # pinned by qmin = qmax gives the same quantiser.
    encoder.thread_count = 1
    encoder.options = {"flags": "+qscale", "qmin": str(JPEG_QSCALE), "qmax": str(JPEG_QSCALE)}
    packets = [*encoder.encode(small), *encoder.encode(None)]
    return b"".join(bytes(p) for p in packets)


def upright(frame: Any, rotation: float | None = None) -> Any:
    """``frame`` rotated as its display matrix says (PyAV without ``rotation``: as is), or
    by ``rotation`` degrees counter-clockwise."""
    if rotation is None:
        rotation = getattr(frame, "rotation", 0)
    turns = round(rotation / 90) % 4  # counter-clockwise quarter turns
    if not turns:
        return frame
    import av
    import numpy as np

    rgb = np.rot90(frame.to_ndarray(format="rgb24"), turns)
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
