"""The fragments of a fragmented MP4 that FFmpeg needs for a clip, and stand-ins for the rest.

FFmpeg's mov demuxer reads the header of every movie fragment (moof) when it opens a
fragmented MP4, and indexes every sample in them (98 MB for a 6-hour 720p recording of 10 799
fragments), so each ``ffmpeg -ss START -i rec.mp4 -c copy`` clip of one grew with the
recording. :func:`fragment_parts` instead gives ffmpeg, through its ``concat`` and ``subfile``
protocols (:func:`fragment_input`), the recording's own bytes up to the end of its first
:data:`~.window.PREFIX` seconds (its ``ftyp``, ``moov`` and first fragments: what FFmpeg reads
to set up its streams and count ``-ss`` from) and from the fragment holding the keyframe
:data:`~.window.MARGIN` seconds before the window to :data:`TAIL` fragments past its margin,
each where it lies in the recording (a fragment may give its data's offset in the file). In
place of the fragments between, a stand-in fragment (:func:`stand_in`: per track, a few
samples that start where that track's samples there start and last and weigh as much in
all), then free boxes, which FFmpeg skips, over the rest of those bytes; after the window,
another stand-in. FFmpeg indexes the stand-ins' samples and never reads them (its seek lands
past the first, its clip ends before the second), and counts each stream's bit rate, which
the muxer writes into the clip, from the bytes and time it indexed: the recording's. So
ffmpeg makes the clip it makes from the recording, byte for byte, in constant memory.

The fragments' offsets, per-track times, durations and sizes are read once per recording
(:func:`summary`, a few numbers a fragment: under 1 MB for 6 hours) and kept for its other clips.
The samples a moov may hold (ffmpeg's ``frag_keyframe`` puts the first fragment's there) come
first, in the recording's bytes kept. What it does not handle (a top-level box other than moof,
mdat, free, skip and a final mfra, a track that is neither the first video track nor a sound
track m0 reads, a path ``concat`` or ``subfile`` cannot name, a damaged box, a recording
without video) raises :class:`~m0_plugins.pyav_source.mp4.Unsupported`: the
clip is cut from the recording.
"""

from __future__ import annotations

import functools
import math
import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from m0_plugins.pyav_source.mp4 import (
    AudioTrack,
    Edit,
    Unsupported,
    boxes,
    moof_rows,
    open_movie,
)
from m0_plugins.pyav_source.mp4video import open_video
from m0core.media.ffmpeg import byte_range_input, concat_input, input_arg

from .window import FAKE_SIZE, MARGIN, MAX_TICKS, PREFIX, box, full_box

#: Fragments kept after the first one that starts past the window's margin, so that ffmpeg
#: has ended every stream of the clip before it could read ahead into a stand-in.
TAIL = 2
#: Top-level boxes between the fragments that FFmpeg's demuxer passes over.
_BETWEEN = {b"mdat", b"free", b"skip"}
#: Sample flags of a stand-in: not a keyframe (ISO 14496-12, 8.8.3.1), so no seek lands on it.
_NOT_KEY = 0x01010000
#: The largest free box (bytes) that stands for the recording's bytes between the fragments.
_FREE = (1 << 31) - 1


@dataclass(frozen=True)
class _Track:
    """One track's samples, fragment by fragment: the decode time at which its samples in
    each fragment start (``dts``), and their duration and bytes."""

    track_id: int
    timescale: int
    edit: Edit
    dts: np.ndarray
    durations: np.ndarray
    sizes: np.ndarray

    def seconds(self, dts: np.ndarray) -> np.ndarray:
        """The players' time of decode times ``dts``."""
        return self.edit.lead + (dts - self.edit.media_time) / self.timescale


@dataclass(frozen=True)
class Summary:
    """Where each fragment of a fragmented movie lies (``starts``: its moof's offset,
    ``ends``: where its data ends) and what each track has in it."""

    starts: np.ndarray
    ends: np.ndarray
    tracks: tuple[_Track, ...]
    #: The players' time of each fragment's first video keyframe (NaN: it has none).
    keys: np.ndarray


@functools.lru_cache(maxsize=4)
def _summary(path: str, size: int, mtime_ns: int) -> Summary | Unsupported:
    """The summary of ``path`` or why there is none (kept as well: not read again per clip)."""
    with open(path, "rb") as f:
        try:
            return _read_summary(Path(path), f, size)
        except Unsupported as exc:
            return exc
        except (struct.error, IndexError, KeyError, ValueError) as exc:
            return Unsupported(f"a damaged movie ({exc!r})")


def summary(path: str | os.PathLike) -> Summary:
    """The :class:`Summary` of the fragmented movie ``path`` (read once per version of the
    file, under 1 MB for 6 hours); :class:`Unsupported` where this module does not handle it."""
    stat = os.stat(path)
    found = _summary(os.fspath(Path(path).absolute()), stat.st_size, stat.st_mtime_ns)
    if isinstance(found, Unsupported):
        raise Unsupported(str(found))
    return found


def _read_summary(path: Path, f: BinaryIO, size: int) -> Summary:
    movie = open_movie(path, 0)
    if not movie.fragmented:
        raise Unsupported("not a fragmented movie")
    video = open_video(path)
    if video.fragments is None:
        raise Unsupported("no movie fragment")
    sound = [t for t in movie.tracks if isinstance(t, AudioTrack)]
    if len(sound) != len(movie.tracks):
        raise Unsupported("a sound track this reader does not read")
    if set(movie.trex) != {video.track_id, *(t.track_id for t in sound)}:
        raise Unsupported("a track that is neither video nor sound")
    kinds = [(video.track_id, video.timescale, video.edit, video.fragments)] + [
        (t.track_id, t.timescale, t.edit, t.fragments or movie.trex[t.track_id]) for t in sound]
    # a few numbers a fragment, 8 bytes each (no Python object per fragment)
    starts, ends, keys = array("q"), array("q"), array("d")
    rows = [(array("q"), array("q"), array("q")) for _ in kinds]  # dts, durations, sizes
    clock = [0] * len(kinds)  # where each track's samples ended
    for each in boxes(f, movie.moov_end, size):
        if each.kind == b"mfra":  # the random-access index, at the end
            break
        if each.kind in _BETWEEN:
            if starts:
                ends[-1] = each.end
            continue
        if each.kind != b"moof":
            raise Unsupported(f"a top-level {each.kind!r} box among the fragments")
        starts.append(each.start)
        ends.append(each.end)
        keys.append(math.nan)
        for k, (track_id, _, _, defaults) in enumerate(kinds):
            first, duration, total = None, 0, 0
            for part in moof_rows(f, each, track_id, defaults):
                if part.tfdt is not None:
                    clock[k] = part.tfdt
                if first is None and len(part.sizes):
                    first = clock[k]
                # FFmpeg's keyframes: neither a non-sync sample nor one that depends on others
                key = np.flatnonzero((part.flags & 0x01010000) == 0)
                if not k and len(key) and math.isnan(keys[-1]):
                    cts = clock[k] + int(part.durations[:key[0]].sum()) + int(part.ctos[key[0]])
                    keys[-1] = video.shown(cts)
                clock[k] += int(part.durations.sum())
                duration += int(part.durations.sum())
                total += int(part.sizes.sum())
            for column, value in zip(rows[k], (clock[k] - duration if first is None else first,
                                               duration, total), strict=True):
                column.append(value)
    if not starts:
        raise Unsupported("no movie fragment")
    tracks = tuple(_Track(track_id, timescale, edit, *(np.frombuffer(c, dtype=np.int64)
                                                       for c in columns))
                   for (track_id, timescale, edit, _), columns in zip(kinds, rows, strict=True))
    return Summary(np.frombuffer(starts, dtype=np.int64), np.frombuffer(ends, dtype=np.int64),
                   tracks, np.frombuffer(keys, dtype=np.float64))


def stand_in(tracks: tuple[_Track, ...], first: int, stop: int, sequence: int) -> bytes:
    """A movie fragment that stands for fragments ``first`` … ``stop - 1``: per track, samples
    (:data:`~.window.FAKE_SIZE` bytes, :data:`~.window.MAX_TICKS` long at most each) that
    start where that track's samples in them start and last and weigh as much in all, then
    an empty mdat; their data would lie past it, where FFmpeg never reads."""
    runs = []
    for track in tracks:
        duration = int(track.durations[first:stop].sum())
        size = int(track.sizes[first:stop].sum())
        if not duration and not size:
            continue
        count = max(1, -(-size // FAKE_SIZE), -(-duration // MAX_TICKS))
        rows = np.empty((count, 3), dtype=">u4")
        rows[:, 0] = duration // count
        rows[:, 1] = size // count
        rows[-1, 0] += duration % count
        rows[-1, 1] += size % count
        rows[:, 2] = _NOT_KEY
        runs.append((track, count, rows.tobytes()))

    def moof(data_offset: int) -> bytes:
        trafs = b"".join(box(b"traf", box(b"tfhd", struct.pack(  # default-base-is-moof
            ">II", 0x020000, track.track_id)) + full_box(b"tfdt", 1, struct.pack(
                ">Q", int(track.dts[first]))) + box(b"trun", struct.pack(  # offset, duration,
                    ">IIi", 0x000701, count, data_offset) + rows))  # size, flags of each
            for track, count, rows in runs)
        return box(b"moof", full_box(b"mfhd", 0, struct.pack(">I", sequence)) + trafs)

    return moof(len(moof(0)) + 8) + box(b"mdat", b"")


def fragment_parts(path: str | os.PathLike, start: float, end: float
                   ) -> list[tuple[int, int] | bytes]:
    """What ffmpeg reads in place of the fragmented movie ``path`` for a clip of the window
    ``[start, end]`` s (see the module's text), in order: ``(first, stop)`` byte ranges of
    the recording and stand-in fragments (bytes). :class:`Unsupported` where this module
    does not handle the file."""
    facts = summary(path)
    tracks, count = facts.tracks, len(facts.starts)

    def last_by(track: _Track, time: float) -> int:
        """The last fragment in which ``track`` has a sample that starts at or before
        ``time`` (-1: none)."""
        held = np.flatnonzero((track.sizes > 0) & (track.seconds(track.dts) <= time))
        return int(held[-1]) if len(held) else -1

    def after(time: float) -> int:
        """The first fragment after the last one in which a track has a sample that starts
        at or before ``time``."""
        return max(last_by(track, time) for track in tracks) + 1

    def before(time: float) -> int:
        """The fragment of the last keyframe at or before ``time`` (0 if none), or an
        earlier one where a sound track's first sample at or before it is."""
        keyed = np.flatnonzero(facts.keys <= time)
        first = int(keyed[-1]) if len(keyed) else 0
        return min([first] + [max(last_by(track, time), 0) for track in tracks[1:]])

    # ffmpeg's seek lands on the keyframe before the window (at the latest, the first of its
    # fragment's), reads some before it (the sound's priming, B-frames): the samples from a
    # margin before that keyframe are the recording's
    keyed = np.flatnonzero(facts.keys <= start)
    anchor = float(facts.keys[keyed[-1]]) if len(keyed) else 0.0
    first = before(anchor - MARGIN)
    last = min(count - 1, after(end + MARGIN) + TAIL)
    prefix = after(PREFIX)  # fragments [0, prefix) hold the first seconds
    parts: list[tuple[int, int] | bytes] = []
    if first > prefix:
        # the fragments stay where they are in the recording (a tfhd may give its data's
        # offset in the file): the stand-in, then a free box that ffmpeg skips over the
        # recording's bytes up to the window's first fragment
        head, gap = int(facts.ends[prefix - 1]), int(facts.starts[first])
        fill = stand_in(tracks, prefix, first, prefix + 1)
        if head + len(fill) + 8 <= gap:
            parts = [(0, head)]
            at = head
            while at < gap:  # free boxes of 2 GB at most: FFmpeg misreads larger ones
                room = gap - at - len(fill)
                size = room if room <= _FREE else min(_FREE, room - 8)  # 8 left for the next
                parts += [fill + struct.pack(">I4s", size, b"free"),
                          (at + len(fill) + 8, at + len(fill) + size)]
                at += len(fill) + size
                fill = b""
            parts.append((gap, int(facts.ends[last])))
    if not parts:
        parts = [(0, int(facts.ends[last]))]
    if last + 1 < count:
        parts.append(stand_in(tracks, last + 1, count, last + 2))
    return parts


def fragment_input(parts: list[tuple[int, int] | bytes], path: str | os.PathLike,
                   folder: Path) -> str:
    """The ffmpeg input that reads ``parts`` (:func:`fragment_parts`) of ``path`` one after
    another, the stand-ins written to files in ``folder``; :class:`Unsupported` for a path
    the ``concat`` and ``subfile`` protocols cannot name."""
    names = []
    try:
        for n, part in enumerate(parts):
            if isinstance(part, bytes):
                file = folder / f"stand-in-{n}.mp4"
                file.write_bytes(part)
                names.append(input_arg(file))
            elif part[1] > part[0]:
                names.append(byte_range_input(path, *part))
        return concat_input(names)
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc
