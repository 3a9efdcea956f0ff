"""A small MP4 header that shows FFmpeg's mov demuxer only the samples around a clip.

FFmpeg's mov demuxer indexes every sample of every track when it opens an MP4 (163 MB for a
6-hour 720p recording), so each ``ffmpeg -ss START -i rec.mp4 -c copy`` clip grew with the
recording. :func:`window_header` is instead the recording's ``ftyp`` and a ``moov`` whose
tracks hold only the samples of its first :data:`PREFIX` seconds (what FFmpeg reads to set
the streams up and count ``-ss`` from) and of the clip's window (with :data:`MARGIN` seconds
each side and the video from a keyframe before), each sample where it lies in the recording,
with its decode time, composition offset, size, keyframe flag and dependencies as the
recording's tables say. FFmpeg gives a stream the bit rate of all its samples over their
whole duration, which the muxer writes as the clip's maximum bit rate: samples ffmpeg never
reads (16 MB at most each) hold the bytes of those left out, between the first seconds and the
window (which ffmpeg's seek goes past) or after the window (past the end of the clip's
streams), and share with the sample before them the time until the samples after them. Every
other box (edit lists, sample descriptions, handlers, languages, titles, the movie's
metadata) is the recording's own. ffmpeg reads that header followed by the recording (its
``concat`` protocol, the chunk offsets moved by the header's length) with the clip's own
command, so its seek, copy and muxer make the clip they make from the recording, byte for
byte, in constant memory.

What it does not handle (a fragmented movie, a track other than video or sound, a track
reference, an edit list of several edits, several sample descriptions, sample groups other
than the AAC's roll group, constant-size samples (PCM in a MOV), a box it does not know
where FFmpeg might read one, more time to stand for than its samples can hold, a track
without samples just before the window, a path ``concat`` cannot name, a damaged box) raises
:class:`Unsupported`: the clip is cut from the recording.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from m0_plugins.pyav_source.mp4 import (
    Box,
    Edit,
    Sizes,
    Table,
    Unsupported,
    box_payload,
    boxes,
    child_boxes,
    full_table,
    looks_like_mp4,
    open_movie,
    sample_at,
    sample_tables,
    table_runs,
    track_edit,
)
from m0_plugins.pyav_source.mp4video import RunLengths
from m0core.media.ffmpeg import concat_input, input_arg

#: Seconds from the recording's start whose samples the header keeps: what FFmpeg reads to
#: set up its streams (5 s or 5 MB at most) and the start time it counts ``-ss`` from.
PREFIX = 30.0
#: Seconds of samples the header keeps before and after the clip's window (the video's from
#: the keyframe before), more than B-frames reorder or ffmpeg's seek looks back.
MARGIN = 3.0
#: Samples of a track the header may hold (a window of a few minutes at 60 frames a second).
MAX_SAMPLES = 1 << 20
#: Samples of each track the header keeps after the window's margin, so that ffmpeg has
#: ended every stream of the clip before it could read ahead to what follows them.
TAIL = 64
#: Bytes of each sample that stands for those left out (FFmpeg's demuxer takes up to 1 GB):
#: small enough that one read by mistake would cost little.
FAKE_SIZE = 1 << 24
#: The longest duration of a sample the header gives (in its track's timescale), which
#: FFmpeg's demuxer takes as it is: 6.6 hours at 90 kHz, 38 hours at 15360 Hz.
MAX_TICKS = (1 << 31) - 1
#: Top-level boxes that may precede or follow the moov; anything else keeps FFmpeg's demuxer.
_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide"}
_MOOV = {b"mvhd", b"trak", b"udta", b"meta", b"iods"}
_TRAK = {b"tkhd", b"edts", b"mdia", b"udta", b"meta"}
_MINF = {b"vmhd", b"smhd", b"dinf", b"stbl", b"hdlr"}
_TABLES = {b"stts", b"ctts", b"stss", b"stsc", b"stsz", b"stco", b"co64"}


def box(kind: bytes, payload: bytes) -> bytes:
    """A box of ``kind`` around ``payload``."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    """A full box (version, no flags) around ``payload``."""
    return box(kind, struct.pack(">I", version << 24) + payload)


def _raw(f: BinaryIO, b: Box) -> bytes:
    """The whole box ``b``, header included, as the file holds it."""
    f.seek(b.start)
    data = f.read(b.end - b.start)
    if len(data) < b.end - b.start:
        raise Unsupported(f"a truncated {b.kind!r} box")
    return data


def _runs(values: np.ndarray) -> bytes:
    """``(count, value)`` rows of ``values`` (32 bits each), the stts/ctts way."""
    if not len(values):
        return struct.pack(">I", 0)
    change = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [len(values)]]))
    rows = np.empty((len(starts), 2), dtype=">u4")
    rows[:, 0] = counts
    rows[:, 1] = values[starts].astype(np.int64) & 0xFFFFFFFF
    return struct.pack(">I", len(starts)) + rows.tobytes()


class _Track:
    """The sample tables of one track (the :class:`~m0_plugins.pyav_source.mp4.
    SampleTables` protocol)."""

    def __init__(self, f: BinaryIO, tables: dict[bytes, Box]) -> None:
        self.samples = 0
        self.stts: Table | None = None
        self.stsc: Table | None = None
        self.chunks: Table | None = None
        self.sizes = Sizes()
        sample_tables(f, tables, self, "")
        if self.sizes.table is None:
            raise Unsupported("constant-size samples")
        self.ctts = full_table(f, tables[b"ctts"], ">u4,>i4") if b"ctts" in tables else None
        self.ctts_version = 0
        if self.ctts is not None:
            f.seek(tables[b"ctts"].payload)
            self.ctts_version = f.read(1)[0]
        self.stss = full_table(f, tables[b"stss"], ">u4") if b"stss" in tables else None
        # sample dependencies: a byte a sample, as many as the box holds
        sdtp = tables.get(b"sdtp")
        self.sdtp = None if sdtp is None else Table(sdtp.payload + 4, sdtp.end - sdtp.payload - 4,
                                                     np.dtype(">u1"))


def _index_at(f: BinaryIO, track: _Track, time: int) -> int:
    """The index of the first sample of ``track`` whose decode time is at or after ``time``
    (its sample count past the last): the one holding ``time``
    (:func:`~m0_plugins.pyav_source.mp4.sample_at`), or the next when it began before."""
    sample, dts = sample_at(f, track.stts, time)
    return min(sample + 1, track.samples) if dts < time else sample


def _key_before(f: BinaryIO, stss: Table | None, n: int) -> int:
    """The last sync sample at or before sample ``n`` (0-based; 0 if none)."""
    if stss is None:
        return n
    found = 0
    for block in stss.blocks(f):
        keys = block.astype(np.int64) - 1
        i = int(np.searchsorted(keys, n, side="right"))
        if i:
            found = int(keys[i - 1])
        if i < len(keys):
            break
    return found


def _spans(f: BinaryIO, track: _Track, edit: Edit, timescale: int, start: float,
           end: float) -> list[tuple[int, int]]:
    """The ranges of sample indices the header keeps of ``track`` for a window from
    ``start`` s (already moved back to the video's keyframe) to ``end`` s."""

    def index(seconds: float) -> int:
        media = edit.media_time + (seconds - edit.lead) * timescale
        return _index_at(f, track, max(0, int(media)))

    prefix = max(1, index(PREFIX))  # the first sample at least: it starts the decode times
    first = _key_before(f, track.stss, index(start - MARGIN))
    last = min(track.samples, index(end + MARGIN) + TAIL)
    if first <= prefix:
        return [(0, last)]
    spans = [(0, prefix), (first, last)]
    # ffmpeg's seek takes each track from its last sample at or before the video's keyframe:
    # one in the window, not one of the samples that stand for those left out before it
    # (a track that ended, or has a gap there, keeps FFmpeg's demuxer)
    at = edit.media_time + (start - edit.lead) * timescale
    if first >= last or RunLengths(f, track.stts).total(first) > at:
        raise Unsupported("a track without samples just before the window")
    if sum(b - a for a, b in spans) > MAX_SAMPLES:
        raise Unsupported("a window of too many samples")
    return spans


def _tables(f: BinaryIO, track: _Track, spans: list[tuple[int, int]], shift: int) -> bytes:
    """The stbl's sample tables for the samples of ``spans``, their chunk offsets moved by
    ``shift``."""
    dts_of = RunLengths(f, track.stts)
    ctts = RunLengths(f, track.ctts) if track.ctts is not None else None
    keys: list[int] = []
    dts, offsets, sizes, cts, deps = [], [], [], [], []
    for a, b in spans:
        if track.sdtp is not None:
            deps.append(np.zeros(b - a, dtype=np.int64))
            found = track.sdtp.read(f, a, b - a)
            deps[-1][:len(found)] = found
        n = a
        for run_offsets, run_sizes in table_runs(f, track, a):
            take = min(len(run_sizes), b - n)
            offsets.append(run_offsets[:take])
            sizes.append(run_sizes[:take])
            n += take
            if n >= b:
                break
        dts.append(dts_of.totals(a, b))
        if ctts is not None:
            cts.append(ctts.values(a, b))
    dts_all = np.concatenate(dts)
    offsets_all = np.concatenate(offsets) + shift
    sizes_all = np.concatenate(sizes)
    count = len(dts_all)
    if len(offsets_all) != count or len(sizes_all) != count:
        raise Unsupported("sample tables that disagree")
    # FFmpeg gives the stream the bit rate of all its samples over all their durations (the
    # muxer writes it as the clip's maximum): the last sample kept lasts until the track's
    # end, and samples of no duration, never read, hold the bytes of those left out
    end = dts_of.total(track.samples - 1) + _last_duration(f, track)
    durations = np.append(np.diff(dts_all), end - dts_all[-1])
    missing = _total_size(f, track) - int(sizes_all.sum())
    fakes = np.full(-(-missing // FAKE_SIZE), FAKE_SIZE, dtype=np.int64)
    if missing:
        fakes[-1] = missing - FAKE_SIZE * (len(fakes) - 1)
    # between the first seconds and the window, which ffmpeg seeks past; after the window
    # when it follows the first seconds, where ffmpeg has ended the clip's streams first
    between = len(spans) > 1
    place = spans[0][1] if between else count
    durations = np.insert(durations, place, np.zeros(len(fakes), dtype=np.int64))
    # the sample before them and they share the time until the window (or the track's end)
    total = int(durations[place - 1:place + len(fakes)].sum())
    share = total // (len(fakes) + 1)
    durations[place - 1:place + len(fakes)] = share
    durations[place + len(fakes) - 1] += total - share * (len(fakes) + 1)
    sizes_all = np.insert(sizes_all, place, fakes)
    offsets_all = np.insert(offsets_all, place, np.full(len(fakes), shift, dtype=np.int64))
    for column in (cts, deps):
        if column:
            column.insert(1 if between else len(column), np.zeros(len(fakes), dtype=np.int64))
    count += len(fakes)
    if np.any(durations < 0) or np.any(durations > MAX_TICKS):
        raise Unsupported("decode times the header cannot hold")
    out = full_box(b"stts", 0, _runs(durations))
    if ctts is not None:
        out += full_box(b"ctts", track.ctts_version, _runs(np.concatenate(cts)))
    if track.stss is not None:
        for span, (a, b) in enumerate(spans):
            at = (spans[0][1] - spans[0][0] + (len(fakes) if between else 0)) if span else 0
            for block in track.stss.blocks(f):
                k = block.astype(np.int64) - 1
                k = k[(k >= a) & (k < b)]
                keys.extend((k - a + at + 1).tolist())
        out += full_box(b"stss", 0, struct.pack(">I", len(keys))
                        + np.array(keys, dtype=">u4").tobytes())
    if deps:
        out += full_box(b"sdtp", 0, np.concatenate(deps).astype(np.uint8).tobytes())
    out += full_box(b"stsc", 0, struct.pack(">IIII", 1, 1, 1, 1))
    out += full_box(b"stsz", 0, struct.pack(">II", 0, count) + sizes_all.astype(">u4").tobytes())
    out += full_box(b"co64", 0, struct.pack(">I", count) + offsets_all.astype(">u8").tobytes())
    return out


def _total_size(f: BinaryIO, track: _Track) -> int:
    """The bytes of all the track's samples."""
    return sum(int(block.astype(np.int64).sum()) for block in track.sizes.table.blocks(f))


def _last_duration(f: BinaryIO, track: _Track) -> int:
    """The duration of the track's last sample."""
    rows = track.stts.read(f, track.stts.count - 1, 1)
    return int(rows["f1"][0]) if len(rows) else 0


def _container(f: BinaryIO, parent: Box, allowed: set[bytes],
               build: Callable[[Box], bytes | None]) -> bytes:
    """``parent`` rebuilt: its children in ``allowed`` as they are, unless ``build`` gives
    one anew (``build(child)`` returns bytes, or ``None`` for as it is)."""
    out = b""
    for child in boxes(f, parent.payload, parent.end):
        if child.kind not in allowed:
            raise Unsupported(f"a {child.kind.decode('latin-1')!r} box in {parent.kind!r}")
        made = build(child)
        out += _raw(f, child) if made is None else made
    return box(parent.kind, out)


def _parts(f: BinaryIO, trak: Box, movie_scale: int
           ) -> tuple[bytes, int, Edit, dict[bytes, Box]]:
    """A track's handler type, timescale, edit and stbl's boxes."""
    parts = child_boxes(f, trak)
    media = child_boxes(f, parts[b"mdia"])
    handler = box_payload(f, media[b"hdlr"])[8:12]
    if handler not in (b"vide", b"soun"):
        raise Unsupported(f"a {handler.decode('latin-1')!r} track")
    mdhd = box_payload(f, media[b"mdhd"])
    (timescale,) = struct.unpack(">I", mdhd[20:24] if mdhd[0] == 1 else mdhd[12:16])
    if not timescale:
        raise Unsupported("a track without a timescale")
    edit = track_edit(f, parts.get(b"edts"), movie_scale, timescale)
    tables = child_boxes(f, child_boxes(f, child_boxes(f, parts[b"mdia"])[b"minf"])[b"stbl"])
    return handler, timescale, edit, tables


def _keyframe_time(f: BinaryIO, moov: Box, movie_scale: int, start: float) -> float:
    """Seconds (about) of a keyframe of the first video track before ``start`` and before
    the one ffmpeg's seek starts every track from; ``start`` if there is no video."""
    for trak in boxes(f, moov.payload, moov.end):
        if trak.kind == b"trak":
            handler, timescale, edit, tables = _parts(f, trak, movie_scale)
            if handler == b"vide":
                track = _Track(f, tables)
                media = edit.media_time + (start - MARGIN - edit.lead) * timescale
                key = _key_before(f, track.stss, _index_at(f, track, max(0, int(media))))
                dts = RunLengths(f, track.stts).total(key)
                return min(start, edit.lead + (dts - edit.media_time) / timescale)
    return start


def _trak(f: BinaryIO, trak: Box, movie_scale: int, start: float, end: float,
          shift: int) -> bytes:
    """The track's box with the sample tables of the header's samples."""
    timescale, edit = _parts(f, trak, movie_scale)[1:3]

    def stbl(stbl_box: Box) -> bytes:
        for child in boxes(f, stbl_box.payload, stbl_box.end):
            if child.kind in (b"sgpd", b"sbgp"):  # FFmpeg's demuxer does not read roll groups
                f.seek(child.payload + 4)
                if f.read(4) != b"roll":
                    raise Unsupported("sample groups")
            elif child.kind not in _TABLES | {b"stsd", b"sdtp"}:
                raise Unsupported(f"a {child.kind.decode('latin-1')!r} box in stbl")
        tables = child_boxes(f, stbl_box)
        stsd = tables.get(b"stsd")
        if stsd is None or len(list(boxes(f, stsd.payload + 8, stsd.end))) != 1:
            raise Unsupported("not one sample description")
        track = _Track(f, tables)
        spans = _spans(f, track, edit, timescale, start, end)
        return box(b"stbl", _raw(f, stsd) + _tables(f, track, spans, shift))

    def minf(minf_box: Box) -> bytes:
        return _container(f, minf_box, _MINF,
                          lambda c: stbl(c) if c.kind == b"stbl" else None)

    def mdia(mdia_box: Box) -> bytes:
        return _container(f, mdia_box, {b"mdhd", b"hdlr", b"minf"},
                          lambda c: minf(c) if c.kind == b"minf" else None)

    return _container(f, trak, _TRAK, lambda c: mdia(c) if c.kind == b"mdia" else None)


def window_header(path: str | os.PathLike, start: float, end: float) -> bytes:
    """The header that shows FFmpeg the samples of the MP4/MOV/M4A file ``path`` around the
    window ``[start, end]`` s (see the module's text), to be read followed by the file
    (:func:`header_input`). :class:`Unsupported` where the file is not one it handles."""
    path = Path(path)
    if not looks_like_mp4(path):
        raise Unsupported("not an MP4-family file")
    with open(path, "rb") as f:
        try:
            # the window is on the players' timeline, whose 0 is the earliest track's start;
            # the header counts from the movie's 0 (every track late: 10 s of empty edits)
            origin = open_movie(path, 0).origin
            return _header(f, f.seek(0, 2), start + origin, end + origin)
        except (struct.error, IndexError, KeyError, ValueError) as exc:
            raise Unsupported(f"a damaged movie ({exc!r})") from exc


def _header(f: BinaryIO, size: int, start: float, end: float) -> bytes:
    """:func:`window_header` of the open file ``f`` of ``size`` bytes, the window from the
    movie's 0."""
    top = {}
    for each in boxes(f, 0, size):
        if each.kind not in _TOP:
            raise Unsupported(f"a top-level {each.kind!r} box")
        top.setdefault(each.kind, each)
    if b"moov" not in top:
        raise Unsupported("no moov box")
    ftyp = _raw(f, top[b"ftyp"]) if b"ftyp" in top else b""
    moov = top[b"moov"]
    mvhd = box_payload(f, child_boxes(f, moov)[b"mvhd"])
    (movie_scale,) = struct.unpack(">I", mvhd[20:24] if mvhd[0] == 1 else mvhd[12:16])
    start = _keyframe_time(f, moov, movie_scale, start)
    # the chunk offsets move by the header's length, which they do not change: built twice
    shift = 0
    for _ in range(2):
        moov_made = _container(f, moov, _MOOV, lambda c, s=shift: _trak(
            f, c, movie_scale, start, end, s) if c.kind == b"trak" else None)
        # an mdat ends FFmpeg's look at the top-level boxes: the file's own are not read
        data = ftyp + moov_made + box(b"mdat", b"\0")
        shift = len(data)
    return data


def header_input(head: Path, path: str | os.PathLike) -> str:
    """The ffmpeg input that reads the header file ``head`` followed by the file ``path``
    (:func:`m0core.media.ffmpeg.concat_input`); :class:`Unsupported` for a path it cannot
    name."""
    try:
        return concat_input([input_arg(head), input_arg(path)])
    except ValueError as exc:
        raise Unsupported(str(exc)) from exc
