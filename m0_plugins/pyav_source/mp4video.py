"""The first video track of an MP4/MOV file, read from its sample tables in constant memory.

FFmpeg's mov demuxer indexes every sample of every track when it opens a file (about 170 MB
for 6 hours of 720p video and AAC; 100 MB for a fragmented one), so a frame grabbed through
it costs that much memory. This module reads the video track's tables as :mod:`.mp4` reads
the audio's, with its box walking and table readers, a block at a time: decode times (stts),
composition offsets (ctts: the B-frames' reordering), sync samples (stss: the keyframes),
sizes, chunks and the edit list; and the decoder's set-up from the sample description
(avcC/hvcC). A fragmented file's samples are read a movie fragment at a time
(:class:`FragmentSamples`: each trun's durations, sizes, sample flags and composition
offsets, :func:`.mp4.moof_rows`), the fragment before a time found by the file's
random-access index (mfra/tfra) where it has one, else by walking the moof boxes.
:class:`Frames` gives the frame shown at a time, decoded by PyAV's decoder from packets built
from those tables: the frame ``ffmpeg -ss T -i FILE`` grabs; :func:`frame_times` says when
each frame is shown and which are keyframes, and :func:`video_size` the pictures' size, from
the boxes alone.

What it does not handle (another codec than H.264 or HEVC, several sample descriptions, an
edit list of several edits, a fragmented file whose moov holds samples and an edit list, a
fragment without its decode time (tfdt), a damaged box; the keyframes of a fragmented file
with a segment index, sidx) raises :class:`Unsupported`, and the caller uses FFmpeg's
demuxer. Reading the boxes does not load FFmpeg's libraries; decoding
(:class:`Frames`) does.
"""

from __future__ import annotations

import bisect
import math
import os
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, Protocol

import numpy as np

from .mp4 import (
    BLOCK,
    VIDEO_CODECS,
    Box,
    Edit,
    Fragments,
    Sizes,
    Table,
    Unsupported,
    box_payload,
    boxes,
    child_boxes,
    full_table,
    looks_like_mp4,
    media_timescale,
    moof_rows,
    open_movie,
    sample_tables,
    table_runs,
    track_edit,
    track_number,
)

#: The box of the sample description that holds each codec's decoder set-up (FFmpeg's
#: extradata), for the codecs this reader decodes.
CONFIG_BOXES = {"h264": b"avcC", "hevc": b"hvcC"}
#: Bytes of a VisualSampleEntry before its child boxes (ISO 14496-12, 12.1.3).
_VISUAL_ENTRY = 78
#: Seconds a frame may start before the time asked for and still count as the frame at it,
#: so float rounding of a time that falls on a frame's never skips that frame.
TIME_SLACK = 1e-6


@dataclass
class VideoTrack:
    """The sample tables, decoder set-up and picture geometry of a video track."""

    track_id: int
    timescale: int
    codec: str
    extradata: bytes | None
    width: int  # coded size, as the sample description says
    height: int
    #: Pixel aspect (pasp), ``None`` if square or not said.
    sample_aspect: Fraction | None
    #: Degrees the picture is turned counter-clockwise to be shown upright, as FFmpeg reads
    #: it from the track header's matrix (``av_display_rotation_get``).
    rotation: float
    #: Its place on the players' timeline; :attr:`Edit.lead` counted from the container's
    #: start (FFmpeg's ``start_time``).
    edit: Edit
    samples: int = 0
    stts: Table | None = None
    stsc: Table | None = None
    chunks: Table | None = None
    sizes: Sizes = field(default_factory=Sizes)
    ctts: Table | None = None  # None: every sample shown at its decode time
    stss: Table | None = None  # None: every sample a keyframe
    #: The defaults of its samples in movie fragments (trex); ``None``: not fragmented.
    fragments: Fragments | None = None
    moov_end: int = 0  # where the movie fragments start
    file_end: int = 0
    #: The random-access index of its fragments (the mfra's tfra), if the file has one.
    tfra: Table | None = None
    #: Whether a segment index (sidx) comes before the fragments.
    sidx: bool = False

    def shown(self, cts: int) -> float:
        """Seconds from the container's start at which the sample composed at ``cts``
        (track timescale) is shown."""
        return self.edit.lead + (cts - self.edit.media_time) / self.timescale


def open_video(path: Path) -> VideoTrack:
    """The first video track of the MP4/MOV file ``path`` (as FFmpeg numbers them);
    :class:`Unsupported` if this reader does not read it."""
    if not looks_like_mp4(path):
        raise Unsupported("not an MP4-family file")
    try:
        movie = open_movie(path, 0)  # no audio track: its support does not matter here
        if movie.video_trak is None:
            raise Unsupported("no video track")
        with open(path, "rb") as f:
            track = _video(f, movie.video_trak, movie.movie_scale)
            if movie.fragmented and track.samples and track.edit != Edit():
                # FFmpeg's demuxer applies the edit to the moov's samples its own way (their
                # decode times all 0, the first keyframe's frame not at 0)
                raise Unsupported("a fragmented movie with samples and an edit list in its "
                                  "moov")
            # the top-level boxes up to the first movie fragment: none in a movie whose
            # fragments all went into its moov's tables, read as those of any movie
            before = set()
            for box in boxes(f, movie.moov_end, movie.size) if movie.fragmented else ():
                before.add(box.kind)
                if box.kind == b"moof":
                    break
            if b"moof" in before:
                track.fragments = movie.trex.get(track.track_id, Fragments())
                track.moov_end, track.file_end = movie.moov_end, movie.size
                track.tfra = _tfra(f, movie.size, track.track_id)
                track.sidx = b"sidx" in before
            # FFmpeg's start_time: the earliest track's first timestamp, which for a video
            # without an edit list is its first sample's composition time
            first = next(samples_of(f, track).samples(), None)
            first = track.edit.media_time if first is None else first.cts
    except (struct.error, IndexError, KeyError, ValueError) as exc:
        raise Unsupported(f"a damaged movie ({exc!r})") from exc
    edit = track.edit
    starts = [0.0 if isinstance(each, Unsupported) else each.edit.lead + movie.origin
              for each in movie.tracks]
    starts.append(edit.lead + max(0, first - edit.media_time) / track.timescale)
    edit.lead -= min(starts)
    return track


def _video(f: BinaryIO, trak: Box, movie_scale: int) -> VideoTrack:
    parts = child_boxes(f, trak)
    media = child_boxes(f, parts[b"mdia"])
    tables = child_boxes(f, child_boxes(f, media[b"minf"])[b"stbl"])
    tkhd = box_payload(f, parts[b"tkhd"])
    matrix = struct.unpack(">9i", tkhd[52:88] if tkhd[0] == 1 else tkhd[40:76])
    track_id, timescale = track_number(f, parts), media_timescale(f, media)
    if not timescale:
        raise Unsupported("a video track without a timescale")
    stsd = tables[b"stsd"]
    entries = list(boxes(f, stsd.payload + 8, stsd.end))
    if len(entries) != 1:
        raise Unsupported("a video track with several sample descriptions")
    entry = entries[0]
    codec = VIDEO_CODECS.get(entry.kind)
    if codec not in CONFIG_BOXES:
        raise Unsupported(f"video codec {entry.kind.decode('latin-1')!r}")
    head = box_payload(f, Box(entry.kind, entry.payload, entry.payload,
                        min(entry.end, entry.payload + _VISUAL_ENTRY)))
    if len(head) < _VISUAL_ENTRY:
        raise Unsupported("a short video sample entry")
    width, height = struct.unpack(">HH", head[24:28])
    children = child_boxes(f, entry, _VISUAL_ENTRY)
    config = children.get(CONFIG_BOXES[codec])
    if config is None:
        raise Unsupported(f"{codec} without its {CONFIG_BOXES[codec].decode()} box")
    aspect = None
    if b"pasp" in children:
        h_spacing, v_spacing = struct.unpack(">II", box_payload(f, children[b"pasp"])[:8])
        if h_spacing and v_spacing and h_spacing != v_spacing:
            aspect = Fraction(h_spacing, v_spacing)
    track = VideoTrack(track_id, timescale, codec, box_payload(f, config), width, height, aspect,
                       _rotation(matrix), track_edit(f, parts.get(b"edts"), movie_scale, timescale))
    sample_tables(f, tables, track, "video")
    if b"ctts" in tables:
        track.ctts = full_table(f, tables[b"ctts"], ">u4,>i4")
    if b"stss" in tables:
        track.stss = full_table(f, tables[b"stss"], ">u4")
        if not track.stss.count:
            raise Unsupported("no keyframe")
    return track


def _rotation(matrix: tuple[int, ...]) -> float:
    """The counter-clockwise rotation, in degrees, of a track header's matrix (16.16 fixed
    point ``a b u c d v x y w``), as FFmpeg's ``av_display_rotation_get`` reads it."""
    scale_x = math.hypot(matrix[0], matrix[3])
    scale_y = math.hypot(matrix[1], matrix[4])
    if not scale_x or not scale_y:
        return 0.0
    return -math.degrees(math.atan2(matrix[1] / scale_y, matrix[0] / scale_x)) + 0.0


def video_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the first video track of ``path`` as shown: its pixel aspect
    applied to the stored width, then turned a quarter as :attr:`VideoTrack.rotation` says
    (a phone's portrait video is stored landscape; ffmpeg turns its frames upright before
    its filters); :class:`Unsupported` where this reader does not read it."""
    track = open_video(path)
    width = track.width
    if track.sample_aspect is not None:
        width = round(width * track.sample_aspect)
    if round(track.rotation / 90) % 2:
        return track.height, width
    return width, track.height


def frame_rate(path: Path) -> float:
    """The average frame rate of the first video track of ``path``: its frames over their
    decode durations (the stts table, read a block at a time, or the movie fragments), as
    FFmpeg's demuxer averages it; :class:`Unsupported` where this reader does not read the
    file or the track has no frames."""
    track = open_video(path)
    frames = ticks = 0
    with open(path, "rb") as f:
        if track.fragments is not None:
            for fragment in FragmentSamples(f, track).fragments():
                frames += len(fragment.sizes)
                ticks += fragment.span
        elif track.stts is not None:
            frames = track.samples
            for block in track.stts.blocks(f):
                ticks += int(np.sum(block["f0"].astype(np.int64)
                                    * block["f1"].astype(np.int64)))
    if not frames:
        raise Unsupported("no video frames")
    if ticks <= 0:
        raise Unsupported("video frames without durations")
    return frames * track.timescale / ticks


def _tfra(f: BinaryIO, file_end: int, track_id: int) -> Table | None:
    """The ``(time, moof offset)`` entries of the track's random-access index (an mfra at
    the file's end, found by its mfro), or ``None`` if the file has none."""
    if file_end < 16:
        return None
    f.seek(file_end - 16)
    tail = f.read(16)
    if tail[4:8] != b"mfro":
        return None
    (size,) = struct.unpack(">I", tail[12:16])
    if not 16 <= size <= file_end:
        return None
    mfra = next(boxes(f, file_end - size, file_end), None)
    if mfra is None or mfra.kind != b"mfra":
        return None
    for tfra in boxes(f, mfra.payload, mfra.end):
        head = box_payload(f, Box(tfra.kind, tfra.payload, tfra.payload,
                                  min(tfra.end, tfra.payload + 12)))
        if tfra.kind != b"tfra" or len(head) < 12 or struct.unpack(">I", head[4:8])[0] != track_id:
            continue
        sizes = int.from_bytes(head[8:12], "big")
        rest = sum(((sizes >> shift) & 3) + 1 for shift in (4, 2, 0))
        word = ">u8" if head[0] == 1 else ">u4"
        return full_table(f, tfra, f"{word},{word},V{rest}", header=16)
    return None


class RunLengths:
    """A run-length table of ``(count, value)`` rows (stts: durations, ctts: offsets), looked
    up by sample index, a block of rows at a time: moving on reads on, moving back within the
    block in hand is free, further back reads again from the start of the block it lies in
    (where each block seen starts is kept: a few numbers per :data:`~.mp4.BLOCK` rows)."""

    def __init__(self, f: BinaryIO, table: Table) -> None:
        self._f, self._table = f, table
        self._marks: list[tuple[int, int, int]] = []  # (first sample, row, sum) of each block
        self._restart(0, 0, 0)

    def _restart(self, first: int, row: int, total: int) -> None:
        self._first, self._row, self._sum = first, row, total
        self._load()

    def _load(self) -> None:
        if not self._marks or self._first > self._marks[-1][0]:
            self._marks.append((self._first, self._row, self._sum))
        block = self._table.read(self._f, self._row, BLOCK)
        counts = block["f0"].astype(np.int64)
        self._values = block["f1"].astype(np.int64)
        self._ends = self._first + np.cumsum(counts)  # the sample after each row
        sums = self._sum + np.cumsum(counts * self._values)  # the values up to there
        # each row's first sample and the values before it (:meth:`_totals_at`)
        self._starts = np.r_[self._first, self._ends[:-1]]
        self._befores = np.r_[self._sum, sums[:-1]]
        self._end_sum = int(sums[-1]) if len(sums) else self._sum

    def _row_of(self, n: int) -> int:
        if n < self._first:  # back to the block it lies in
            self._restart(*self._marks[bisect.bisect_right(self._marks, (n, 1 << 62, 0)) - 1])
        while not len(self._ends) or n >= self._ends[-1]:
            if not len(self._ends):
                raise Unsupported(f"sample {n} past the end of a sample table")
            self._row += len(self._ends)
            self._first, self._sum = int(self._ends[-1]), self._end_sum
            self._load()
        return int(np.searchsorted(self._ends, n, side="right"))

    def value(self, n: int) -> int:
        """The value of sample ``n``."""
        i = self._row_of(n)  # first: it may load another block
        return int(self._values[i])

    def total(self, n: int) -> int:
        """The sum of the values of the samples before sample ``n`` (with stts: its decode
        time)."""
        return int(self._totals_at(self._row_of(n), n))

    def values(self, a: int, b: int) -> np.ndarray:
        """:meth:`value` of each sample from ``a`` to ``b`` (not included), as one array."""
        return self._span(a, b, lambda rows, samples: self._values[rows])

    def totals(self, a: int, b: int) -> np.ndarray:
        """:meth:`total` of each sample from ``a`` to ``b`` (not included), as one array."""
        return self._span(a, b, self._totals_at)

    def _totals_at(self, rows: Any, samples: Any) -> Any:
        """The totals of ``samples`` (one or an array) in ``rows`` of the block in hand."""
        return self._befores[rows] + (samples - self._starts[rows]) * self._values[rows]

    def _span(self, a: int, b: int, of: Callable[[np.ndarray, np.ndarray], np.ndarray]
              ) -> np.ndarray:
        """``of(rows, samples)`` for the samples from ``a`` to ``b``, a block of rows at a
        time (``rows``: the row of each sample in the block then in hand), as one array."""
        out = np.empty(max(0, b - a), dtype=np.int64)
        n = a
        while n < b:
            self._row_of(n)  # the block sample n lies in (read on, or again)
            samples = np.arange(n, min(b, int(self._ends[-1])), dtype=np.int64)
            out[n - a:n - a + len(samples)] = of(
                np.searchsorted(self._ends, samples, side="right"), samples)
            n += len(samples)
        return out


class Times:
    """Decode and composition times of a track's samples, by index (:class:`RunLengths`)."""

    def __init__(self, f: BinaryIO, track: VideoTrack) -> None:
        self._dts = RunLengths(f, track.stts)
        self._offsets = RunLengths(f, track.ctts) if track.ctts is not None else None

    def dts(self, n: int) -> int:
        """Sample ``n``'s decode time (track timescale)."""
        return self._dts.total(n)

    def cts(self, n: int) -> int:
        """Sample ``n``'s composition time: when it is shown, before the edit list."""
        return self.dts(n) + (self._offsets.value(n) if self._offsets is not None else 0)


class Keyframes:
    """The track's sync samples (0-based indices) by their rank, a block at a time."""

    def __init__(self, f: BinaryIO, track: VideoTrack) -> None:
        self._f, self._table = f, track.stss
        self.count = track.stss.count if track.stss is not None else track.samples
        self._first, self._block = 0, np.zeros(0, dtype=np.int64)

    def __getitem__(self, rank: int) -> int:
        if self._table is None:
            return rank
        if not self._first <= rank < self._first + len(self._block):
            self._first = rank
            self._block = self._table.read(self._f, rank, BLOCK).astype(np.int64) - 1
        return int(self._block[rank - self._first])


def keyframe_rank(track: VideoTrack, times: Times, keys: Keyframes, at: float,
                  rank: int = 0) -> int:
    """The rank of the last keyframe shown at or before ``at`` s (the first keyframe if none
    is), looked for from keyframe ``rank`` on (from the first if that one comes later): in
    strides that double, then halve (keyframes are shown in their order)."""

    def after(r: int) -> bool:
        return track.shown(times.cts(keys[r])) > at + TIME_SLACK

    if rank and after(rank):
        rank = 0
    low, step = rank, 1  # low: not after ``at`` (or the first keyframe)
    while low + step < keys.count and not after(low + step):
        low, step = low + step, step * 2
    high = min(low + step, keys.count)  # after ``at``, or past the last keyframe
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if after(middle) else (middle, high)
    return low


class Sample(NamedTuple):
    """A sample of the video track, and the address of the one after it in decode order."""

    next: Any
    offset: int
    size: int
    dts: int
    cts: int
    key: bool


class Samples(Protocol):
    """The samples of a video track, by addresses that grow in decode order."""

    def keyframe(self, at: float) -> Any:
        """The address of the last keyframe shown at or before ``at`` s (the first keyframe
        if none is)."""

    def samples(self, first: Any = None) -> Iterator[Sample]:
        """The samples in decode order from address ``first`` on (from the first)."""


def samples_of(f: BinaryIO, track: VideoTrack) -> Samples:
    """The samples of ``track``: from its sample tables or from its movie fragments."""
    return TableSamples(f, track) if track.fragments is None else FragmentSamples(f, track)


class TableSamples:
    """The samples in the sample tables, addressed by their index (:class:`Times`,
    :class:`Keyframes`)."""

    def __init__(self, f: BinaryIO, track: VideoTrack) -> None:
        self._f, self.track = f, track
        self._look = Times(f, track)  # for the keyframes looked at
        self._keys = Keyframes(f, track)
        self._rank = 0  # of the keyframe looked at last

    def keyframe(self, at: float) -> int:
        """See :meth:`Samples.keyframe`."""
        self._rank = keyframe_rank(self.track, self._look, self._keys, at, self._rank)
        return self._keys[self._rank]

    def samples(self, first: Any = None) -> Iterator[Sample]:
        """See :meth:`Samples.samples`."""
        n = first or 0
        keys, times = Keyframes(self._f, self.track), Times(self._f, self.track)
        rank = self._rank if keys.count and keys[self._rank] <= n else 0
        while rank < keys.count and keys[rank] < n:
            rank += 1
        next_key = keys[rank] if rank < keys.count else -1
        for offsets, sizes in table_runs(self._f, self.track, n):
            for offset, size in zip(offsets.tolist(), sizes.tolist(), strict=True):
                key = n == next_key
                if key:
                    rank += 1
                    next_key = keys[rank] if rank < keys.count else -1
                yield Sample(n + 1, offset, size, times.dts(n), times.cts(n), key)
                n += 1


#: Video samples one movie fragment may hold (an hour at 18 frames a second), so that the
#: fragment in hand stays small.
MAX_FRAGMENT = 1 << 16


@dataclass
class Fragment:
    """The video samples of one movie fragment (or of the sample tables of a fragmented
    movie's moov), in decode order."""

    start: int  # the moof's file offset (0: the moov's tables): the samples' addresses
    offsets: np.ndarray
    sizes: np.ndarray
    dts: np.ndarray
    cts: np.ndarray
    keys: np.ndarray
    span: int  # the samples' total duration


class FragmentSamples:
    """The samples of a fragmented movie (the moov's tables, then each moof's truns),
    addressed as ``(fragment start, index in it)``, one fragment in hand at a time. A time is
    looked for from the fragment the random-access index (tfra) names before it, else from
    the keyframe found last, else from the first fragment on."""

    def __init__(self, f: BinaryIO, track: VideoTrack) -> None:
        self._f, self.track = f, track
        self._last: tuple[float, int] | None = None  # a time looked for, its fragment's start

    def fragments(self, start: int = 0) -> Iterator[Fragment]:
        """The fragments holding video samples, from the one at file offset ``start`` on."""
        track = self.track
        if start < track.moov_end:
            if track.samples:
                yield self._tables()
            start = track.moov_end
        for box in boxes(self._f, start, track.file_end):
            if box.kind == b"moof":
                fragment = self._fragment(box)
                if len(fragment.sizes):
                    yield fragment

    def _fragment(self, moof: Box) -> Fragment:
        parts: list = []
        count, dts = 0, None
        for rows in moof_rows(self._f, moof, self.track.track_id, self.track.fragments):
            if rows.tfdt is not None:
                dts = rows.tfdt
            if not len(rows.sizes):
                continue
            if dts is None:
                raise Unsupported("a movie fragment without its decode time (tfdt)")
            count += len(rows.sizes)
            if count > MAX_FRAGMENT:
                raise Unsupported(f"a movie fragment of over {MAX_FRAGMENT} video samples")
            ends = dts + np.cumsum(rows.durations)
            starts = ends - rows.durations
            # FFmpeg's keyframes: neither a non-sync sample nor one that depends on others
            keys = (rows.flags & 0x01010000) == 0
            parts.append((rows.offsets, rows.sizes, starts, starts + rows.ctos, keys))
            dts = int(ends[-1])
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Fragment(moof.start, empty, empty, empty, empty, empty.astype(bool), 0)
        columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
        span = dts - int(columns[2][0])
        return Fragment(moof.start, *columns, span)

    def _tables(self) -> Fragment:
        """The samples in the moov's tables (ffmpeg's frag_keyframe puts the first fragment's
        there)."""
        track = self.track
        if track.samples > MAX_FRAGMENT:
            raise Unsupported(f"over {MAX_FRAGMENT} video samples in a fragmented moov")
        rows = [(s.offset, s.size, s.dts, s.cts, s.key)
                for s in TableSamples(self._f, track).samples()]
        offsets, sizes, dts, cts, keys = (np.array(c) for c in zip(*rows, strict=True))
        span = sum(int(c) * int(d) for block in track.stts.blocks(self._f) for c, d in block)
        return Fragment(0, offsets, sizes, dts, cts, keys, span)

    def keyframe(self, at: float) -> tuple[int, int]:
        """See :meth:`Samples.keyframe`."""
        track = self.track
        first = None
        for start in self._starts(at):
            found = None
            for fragment in self.fragments(start):
                for index in np.flatnonzero(fragment.keys).tolist():
                    if first is None and not start:
                        first = (fragment.start, index)
                    if track.shown(int(fragment.cts[index])) > at + TIME_SLACK:
                        break
                    found = (fragment.start, index)
                else:
                    continue
                break
            if found is not None:
                self._last = (at, found[0])
                return found
            if not start:
                break
        if first is None:
            raise Unsupported("no keyframe")
        return first

    def _starts(self, at: float) -> Iterator[int]:
        """Where to look for the keyframe at ``at`` from, in turn: the fragment of the
        keyframe found last (for a later time), fragments the tfra names before ``at``, each
        further back, and the first fragment (0)."""
        if self._last is not None and self._last[0] <= at:
            yield self._last[1]
        tfra = self.track.tfra
        if tfra is not None and tfra.count:
            track = self.track
            target = (at - track.edit.lead) * track.timescale + track.edit.media_time
            low, high = 0, tfra.count  # the first entry later than target: low
            while low < high:
                mid = (low + high) // 2
                if int(tfra.read(self._f, mid, 1)["f0"][0]) <= target:
                    low = mid + 1
                else:
                    high = mid
            # its time may be a presentation or a decode time: one more back, then doubling
            step, index = 2, low - 2
            while index > 0:
                yield int(tfra.read(self._f, index, 1)["f1"][0])
                index -= step
                step *= 2
        yield 0

    def samples(self, first: Any = None) -> Iterator[Sample]:
        """See :meth:`Samples.samples`."""
        start, index = first or (0, 0)
        fragments = self.fragments(start)
        fragment = next(fragments, None)
        while fragment is not None:
            following = next(fragments, None)
            columns = (fragment.offsets[index:].tolist(), fragment.sizes[index:].tolist(),
                       fragment.dts[index:].tolist(), fragment.cts[index:].tolist(),
                       fragment.keys[index:].tolist())
            for n, row in enumerate(zip(*columns, strict=True), start=index + 1):
                at = (fragment.start, n) if n < len(fragment.sizes) or following is None else (
                    following.start, 0)
                yield Sample(at, *row)
            fragment, index = following, 0


def frame_times(path: Path, start: float, end: float) -> list[tuple[float, bool]]:
    """``(time, is_keyframe)`` of the video frames of ``path`` from the keyframe shown at or
    before ``start - 1`` s (the first keyframe if none is) to just past ``end`` s, in display
    order, times from the container's start as ``ffmpeg -ss`` counts them: what FFmpeg's
    demuxer says of those packets. :class:`Unsupported` where this reader does not read the
    file."""
    track = open_video(path)
    if track.sidx:
        # FFmpeg's demuxer, which ffmpeg cuts the clips with, then takes no sample for a
        # keyframe (its seeks go to the start): its frames are the ones to go by
        raise Unsupported("a fragmented movie with a segment index (sidx)")
    frames = []
    with open(path, "rb") as f:
        try:
            source = samples_of(f, track)
            # from a second before start, where FFmpeg's demuxer is sought to: a keyframe
            # that rounding puts a hair after start still has one before it in the list
            for sample in source.samples(source.keyframe(start - 1.0)):
                shown = track.shown(sample.cts)
                frames.append((shown, sample.key))
                if shown > end + 1.0:  # past any frame that B-frame reordering could show
                    break
        except (struct.error, IndexError, ValueError) as exc:
            raise Unsupported(f"a damaged video track ({exc})") from exc
    return sorted(frames)


class Frames:
    """The frames of the first video track of ``path`` shown at given times, decoded by PyAV
    from the packets this reader finds; :class:`Unsupported` from the constructor (and from
    :meth:`at`, for tables found damaged on the way) where FFmpeg's demuxer is needed.

    Times asked for in increasing order are served in one pass: a frame in the GOP being
    decoded is decoded on from where the previous one was found."""

    def __init__(self, path: Path) -> None:
        self.track = open_video(path)
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._samples = samples_of(self._file, self.track)
        self._decoder: Any = None
        self._start: Any = None  # the address of the sample the decoder started from
        self._next: Any = None  # of the next sample to hand it
        self._flushed = False
        self._pending: deque = deque()  # decoded frames not looked at yet
        self._last: tuple[Any, float] | None = None  # the frame returned last, and its time
        edit = self.track.edit
        self._end = edit.lead + edit.length if edit.length else math.inf

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Frames:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def at(self, at: float, deadline: float = math.inf) -> Any:
        """The first frame shown at or after ``at`` s from the container's start, decoded from
        the keyframe at or before it: the frame ``ffmpeg -ss`` grabs. ``None`` when the track
        ends first, decoding fails or ``time.monotonic()`` passes ``deadline``."""
        import av

        try:
            self._seek(self._samples.keyframe(at), at)
            return self._decode(at, deadline)
        except av.FFmpegError:
            self._decoder = None
            return None
        except (struct.error, IndexError, ValueError) as exc:
            raise Unsupported(f"a damaged video track ({exc})") from exc

    def _seek(self, key: Any, at: float) -> None:
        """Decode from sample ``key`` on, unless the decoder already went past it from a
        keyframe before it, to a frame not later than ``at``."""
        if (self._decoder is not None and self._start <= key <= self._next
                and (self._last is None or self._last[1] <= at + TIME_SLACK)):
            return
        import av

        self._decoder = av.CodecContext.create(self.track.codec, "r")
        self._decoder.extradata = self.track.extradata
        # A handful of frames per thumbnail: threads would only add start-up and latency.
        self._decoder.thread_count = 1
        self._start = self._next = key
        self._flushed = False
        self._pending.clear()
        self._last = None

    def _decode(self, at: float, deadline: float) -> Any:
        last = self._last
        if last is not None and last[1] >= at - TIME_SLACK:
            return last[0] if last[1] < self._end else None
        packets = self._packets(self._next)
        while True:
            while self._pending:
                frame = self._pending.popleft()
                if frame.pts is None or frame.pts < self.track.edit.media_time:
                    continue  # before the edit: not shown
                shown = self.track.shown(frame.pts)
                if shown >= at - TIME_SLACK:
                    self._last = (frame, shown)
                    return frame if shown < self._end else None
            if time.monotonic() > deadline:
                return None
            packet = next(packets, None)
            if packet is None:
                if self._flushed:
                    return None
                self._flushed = True
                self._pending.extend(self._decoder.decode(None))
            else:
                self._next, packet = packet
                self._pending.extend(self._decoder.decode(packet))

    def _packets(self, first: Any) -> Iterator[tuple[Any, Any]]:
        """``(address of the next sample, packet)`` of the samples from ``first`` on; a
        sample past the end of a truncated file ends them."""
        import av

        fd = self._file.fileno()
        base = Fraction(1, self.track.timescale)
        for sample in self._samples.samples(first):
            data = os.pread(fd, sample.size, sample.offset)
            if len(data) < sample.size:
                return
            packet = av.Packet(data)
            packet.dts, packet.pts = sample.dts, sample.cts
            packet.time_base = base
            yield sample.next, packet
